// silk.js - a client of silk-gateway for browsers and Node 20+: sessions over WebSocket with
// the silk.v1 subprotocol (each push once and in order across reconnects), and calls of the
// JSON web API. No dependencies, no build step. README.md says how to use it.

/** The subprotocol the client offers: JSON envelopes with offsets (docs/gateway.md, Streams). */
export const SUBPROTOCOL = 'silk.v1';

/** silk's status names by number: the `code` of the gateway's error bodies. */
export const STATUS = Object.freeze([
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED',
  'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
]);

// The silk status an HTTP status stands for, when a body carries none (a proxy's answer).
const FROM_HTTP = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 499: 1, 501: 12, 503: 14, 504: 4 };

/**
 * A failed call, or a session refused for good. `status` is the HTTP status (0: no answer),
 * `code` silk's status number and `codeName` its name, `validErrors` the gateway's list under
 * --wrap-response (else null), `body` the parsed answer.
 */
export class SilkError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: number, validErrors?: any[] | null, body?: any, cause?: any}} [fields]
   */
  constructor(message, { status = 0, code = 2, validErrors = null, body = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SilkError';
    this.status = status;
    this.code = code;
    this.codeName = STATUS[code] ?? String(code);
    this.validErrors = validErrors;
    this.body = body;
  }
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first), with full jitter:
 * random(0, min(max, min * 2^attempt)) milliseconds.
 * @param {number} attempt
 * @param {{min?: number, max?: number}} [backoff] milliseconds; 500 and 20000 by default
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} milliseconds, an integer
 */
export function backoffDelay(attempt, { min = 500, max = 20000 } = {}, random = Math.random) {
  const cap = Math.min(max, min * 2 ** Math.max(0, attempt));
  return Math.floor(random() * cap);
}

/**
 * Calls a method of the gateway's web API: POSTs body as JSON to baseUrl + path and resolves to
 * the parsed answer. A failure rejects with a SilkError (network errors: status 0, UNAVAILABLE).
 * @param {string} baseUrl e.g. "https://gw.example.com"
 * @param {string} path e.g. "/api/wstest/echo"
 * @param {any} body the request message as a JSON value (undefined: {})
 * @param {{token?: string, fetch?: typeof fetch, headers?: Record<string, string>,
 *          idempotencyKey?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export async function call(baseUrl, path, body, options = {}) {
  const doFetch = options.fetch ?? globalThis.fetch;
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json', ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  const url = baseUrl.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
  let res;
  try {
    res = await doFetch(url, {
      method: 'POST', headers, body: JSON.stringify(body ?? {}), signal: options.signal,
    });
  } catch (e) {
    throw new SilkError(`cannot reach ${url}: ${e?.message ?? e}`, { code: 14, cause: e });
  }
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: a proxy's page; kept as text
  }
  if (res.ok) return parsed;
  const b = parsed !== null && typeof parsed === 'object' ? parsed : {};
  const code = Number.isInteger(b.code) ? b.code : (FROM_HTTP[res.status] ?? 2);
  const message = b.message ?? b.errorMessage ?? `HTTP ${res.status}`;
  throw new SilkError(message, {
    status: res.status, code, validErrors: b.validErrors ?? null, body: parsed,
  });
}

function fromBase64(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function offline() {
  return globalThis.navigator?.onLine === false && typeof globalThis.addEventListener === 'function';
}

/**
 * Opens a session and keeps it open until session.close() or a refusal for good.
 * @param {string} url the route, e.g. "wss://gw.example.com/api/wstest" (http(s) is taken as ws(s))
 * @param {object} options see silk.d.ts (ConnectOptions)
 * @returns {Session}
 */
export function connect(url, options = {}) {
  return new Session(url, options);
}

/**
 * A session that reconnects. Events (session.on(type, fn)): open, push, reply, reconnecting,
 * recovered, error, close. Properties: sessionId, epoch, offset (the last seen), state.
 */
export class Session {
  /**
   * @param {string} url
   * @param {object} options see connect()
   */
  constructor(url, options = {}) {
    this.url = url;
    this.sessionId = null;
    this.epoch = options.since?.epoch || null;
    this.offset = options.since?.offset ?? 0;
    /** connecting, open, reconnecting, offline or closed */
    this.state = 'connecting';
    this._opts = options;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new TypeError('no WebSocket: pass {WebSocket} (in Node 20, the ws package)');
    }
    this._backoff = { min: 500, max: 20000, ...options.backoff };
    this._random = options.random ?? Math.random;
    this._setTimeout = options.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = options.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this._openTimeout = options.openTimeout ?? 10000;
    this._protocols = [SUBPROTOCOL, ...(options.subprotocols ?? []).filter((p) => p !== SUBPROTOCOL)];
    this._token = options.token ?? null;
    this._tokenFresh = false; // fetched for this attempt, not yet used by an open session
    this._listeners = new Map();
    this._attempt = 0;
    this._opened = false;
    this._ws = null;
    this._timer = null;
    this._onOnline = null;
    Promise.resolve().then(() => this._connect(false)); // listeners first
  }

  /**
   * Adds a listener; it gets one argument, the event's details.
   * @param {string} type @param {(e: any) => void} fn @returns {this}
   */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return this;
  }

  /** Removes a listener. @param {string} type @param {(e: any) => void} fn @returns {this} */
  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
    return this;
  }

  /**
   * Sends a message to the service's OnMessage hook; false when no session is open.
   * @param {string | ArrayBufferView | ArrayBuffer} data @returns {boolean}
   */
  send(data) {
    if (this.state !== 'open' || !this._ws) return false;
    this._ws.send(data);
    return true;
  }

  /** Closes the session for good: no reconnect; emits close with fatal false. */
  close() {
    if (this.state === 'closed') return;
    this._stop();
    this._emit('close', { code: 1000, reason: 'closed by the client', fatal: false });
  }

  _emit(type, detail) {
    for (const fn of [...(this._listeners.get(type) ?? [])]) {
      try {
        fn(detail);
      } catch (e) {
        queueMicrotask(() => { throw e; }); // a listener's bug is not the session's
      }
    }
  }

  _stop() {
    this.state = 'closed';
    if (this._timer !== null) this._clearTimeout(this._timer);
    this._timer = null;
    if (this._onOnline) globalThis.removeEventListener('online', this._onOnline);
    this._onOnline = null;
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // closing already
      }
    }
  }

  _fail(detail) {
    this._stop();
    const d = { ...detail, fatal: true };
    this._emit('error', d);
    this._emit('close', d);
  }

  _url() {
    const u = new URL(this.url, globalThis.location?.href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    if (this._opts.businessId != null) u.searchParams.set('businessId', String(this._opts.businessId));
    if (this._token) u.searchParams.set('access_token', this._token);
    if (this.epoch) u.searchParams.set('since', `${this.epoch}:${this.offset}`);
    else u.searchParams.delete('since');
    return u.href;
  }

  async _connect(refresh) {
    this._timer = null;
    if (this.state === 'closed') return;
    if (offline()) { // quiet until the browser is online again
      this.state = 'offline';
      this._onOnline = () => {
        globalThis.removeEventListener('online', this._onOnline);
        this._onOnline = null;
        this._attempt = 0;
        this._connect(refresh);
      };
      globalThis.addEventListener('online', this._onOnline);
      return;
    }
    this.state = this._opened ? 'reconnecting' : 'connecting';
    if (this._opts.getToken && (refresh || !this._token)) {
      try {
        this._token = await this._opts.getToken();
        this._tokenFresh = true;
      } catch (error) {
        if (this.state === 'closed') return;
        this._emit('error', { error, reason: 'getToken failed', fatal: false });
        this._retry({ code: 0, reason: 'getToken failed' }, true);
        return;
      }
      if (this.state === 'closed') return;
    }
    let ws;
    try {
      ws = new this._WebSocket(this._url(), this._protocols);
    } catch (error) {
      this._fail({ code: 0, reason: String(error?.message ?? error), error });
      return;
    }
    this._ws = ws;
    ws.binaryType = 'arraybuffer';
    let refusal = null; // the HTTP answer to a refused handshake, when the WebSocket tells it
    if (typeof ws.on === 'function') { // Node's ws: 'unexpected-response' gives the status
      ws.on('unexpected-response', (req, res) => {
        refusal = { status: res.statusCode, body: '' };
        res.setEncoding?.('utf8');
        res.on('data', (chunk) => { if (refusal.body.length < 4096) refusal.body += chunk; });
        const done = () => (ws.terminate ? ws.terminate() : ws.close());
        res.on('end', done);
        res.on('error', done);
      });
    }
    const timer = this._setTimeout(() => {
      if (ws === this._ws && this.state !== 'open') ws.close();
    }, this._openTimeout);
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._v1 = ws.protocol === SUBPROTOCOL;
      if (!this._v1) { // a gateway without streams: raw messages, no welcome
        this._clearTimeout(timer);
        this._welcome({ sessionId: null, epoch: '', offset: 0, recovered: false });
      }
    };
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      if (!this._v1) {
        const binary = typeof ev.data !== 'string';
        this._emit('push', {
          data: binary ? new Uint8Array(ev.data) : ev.data, offset: null, epoch: null, binary,
        });
        return;
      }
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (error) {
        this._emit('error', { error, reason: 'a message that is not JSON', fatal: false });
        return;
      }
      if (m.type === 'welcome') {
        this._clearTimeout(timer);
        this._welcome(m);
      } else if (m.type === 'push') {
        this._push(m);
      } else if (m.type === 'reply') {
        const binary = m.binary === true;
        this._emit('reply', { data: binary ? fromBase64(m.data) : m.data, binary });
      }
    };
    ws.onerror = () => {}; // a close event follows, which decides
    ws.onclose = (ev) => {
      this._clearTimeout(timer);
      if (ws !== this._ws) return;
      this._ws = null;
      this._closed(ev.code, ev.reason, refusal);
    };
  }

  _welcome(w) {
    const asked = Boolean(this.epoch);
    const same = asked && w.epoch === this.epoch;
    if (!same) { // first time, or the stream's history was lost: count from the welcome
      this.epoch = w.epoch || null;
      this.offset = w.offset;
    }
    const reconnect = this._opened;
    this._opened = true;
    this._attempt = 0;
    this._tokenFresh = false;
    this.sessionId = w.sessionId;
    this.state = 'open';
    this._emit('open', {
      sessionId: w.sessionId, epoch: w.epoch, offset: w.offset, recovered: w.recovered, reconnect,
    });
    if (reconnect || asked) {
      this._emit('recovered', {
        recovered: same && w.recovered === true, sessionId: w.sessionId, epoch: w.epoch,
        offset: this.offset,
      });
    }
  }

  _push(m) {
    const kept = typeof m.offset === 'number' && typeof m.epoch === 'string';
    if (kept) {
      if (m.epoch === this.epoch && m.offset <= this.offset) return; // seen already
      this.epoch = m.epoch; // a new epoch numbers from 1 again
      this.offset = m.offset;
    }
    const binary = m.binary === true;
    this._emit('push', {
      data: binary ? fromBase64(m.data) : m.data,
      offset: kept ? m.offset : null, epoch: kept ? m.epoch : null, binary,
    });
  }

  _closed(code, reason, refusal) {
    if (this.state === 'closed') return;
    if (refusal) {
      const status = refusal.status;
      let body = null;
      try {
        body = JSON.parse(refusal.body);
      } catch {
        // not JSON
      }
      const why = { code: 1006, status, reason: body?.message ?? `HTTP ${status}`, body };
      if (status === 401 && this._opts.getToken && !this._tokenFresh) {
        this._retry(why, true); // the token had served: it expired since; fetch one
        return;
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        this._fail(why);
        return;
      }
      this._retry(why, false);
      return;
    }
    if (code === 1008 || (code === 4001 && !this._opts.getToken)) {
      this._fail({ code, reason });
      return;
    }
    this._retry({ code, reason }, code === 4001);
  }

  _retry(why, refresh) {
    const delay = backoffDelay(this._attempt, this._backoff, this._random);
    this._attempt++;
    this.state = 'reconnecting';
    this._emit('reconnecting', { ...why, attempt: this._attempt, delay });
    this._timer = this._setTimeout(() => this._connect(refresh), delay);
  }
}
