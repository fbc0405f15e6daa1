// rig.mjs - what silk.js's live tests share: gateways, services and redis-server started in a
// temp dir with a registry of their own, on free loopback ports, every wait bounded, every
// process stopped at the end (rig.close(), and on exit whatever is left). Not a test itself.
//
// Environment: SILK_BIN_DIR (build/bin: silk-gateway-test, wstest-service, silk-gateway-sm);
// NODE_PATH names the folder holding ws (build/clients-js/node_modules).
import { spawn, execFile, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** The ws package's WebSocket (through NODE_PATH), or null when it is not installed. */
export const WS = (() => {
  try {
    return require('ws');
  } catch {
    return null;
  }
})();

export const BIN = process.env.SILK_BIN_DIR ?? path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../build/bin');

const live = new Set(); // every child not yet exited, killed on exit
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls pred every 25 ms until it is true; throws after timeout ms. */
export async function waitFor(pred, { timeout = 10000, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A loopback TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

export function hasProgram(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** An HS256 JWT signed with secret (node:crypto's HMAC). */
export function hs256(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** A WebSocket class of ws that records its instances in .sockets (and may add ws options). */
export function trackedWebSocket(wsOptions) {
  const sockets = [];
  class Tracked extends WS {
    constructor(url, protocols) {
      super(url, protocols, wsOptions);
      sockets.push(this);
    }
  }
  Tracked.sockets = sockets;
  return Tracked;
}

/** A WebSocket as a browser's: on* handlers only, no way to see a refused handshake's status. */
export function browserLikeWebSocket() {
  const sockets = [];
  class BrowserLike {
    constructor(url, protocols) {
      const ws = new WS(url, protocols);
      this._ws = ws;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      ws.onopen = (e) => this.onopen?.(e);
      ws.onmessage = (e) => this.onmessage?.({ data: e.data });
      ws.onerror = (e) => this.onerror?.(e);
      ws.onclose = (e) => this.onclose?.({ code: e.code, reason: e.reason });
      sockets.push(this);
    }

    get protocol() { return this._ws.protocol; }
    get readyState() { return this._ws.readyState; }
    set binaryType(v) { this._ws.binaryType = v; }
    send(d) { this._ws.send(d); }
    close(code, reason) { this._ws.close(code, reason); }
  }
  BrowserLike.sockets = sockets;
  return BrowserLike;
}

/** Every event of a session, in order; wait() for a condition on them. */
export class Recorder {
  constructor(session) {
    this.events = [];
    this.pushes = [];
    for (const type of ['open', 'push', 'reply', 'reconnecting', 'recovered', 'error', 'close']) {
      session.on(type, (e) => {
        this.events.push({ type, ...e });
        if (type === 'push') this.pushes.push(e);
      });
    }
  }

  of(type) {
    return this.events.filter((e) => e.type === type);
  }

  wait(pred, what, timeout = 15000) {
    return waitFor(() => pred(this), { timeout, what });
  }

  /** Resolves once n pushes have arrived. */
  pushed(n, timeout = 20000) {
    return this.wait(() => this.pushes.length >= n, `${n} pushes (have ${this.pushes.length})`, timeout);
  }
}

/** The processes of one test, in one temp dir. */
export class Rig {
  constructor(name = 'rig') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `silk-js-${name}-`));
    this.registry = `file:${this.dir}/registry`;
    this.procs = [];
  }

  get env() {
    return { ...process.env, SILK_REGISTRY: this.registry, SILK_LOG: 'debug', SILK_REGISTRY_TTL_MS: '1500' };
  }

  file(name, text) {
    const p = path.join(this.dir, name);
    if (text !== undefined) fs.writeFileSync(p, text);
    return p;
  }

  start(argv, name) {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const proc = spawn(argv[0], argv.slice(1), { env: this.env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    proc.logPath = log;
    proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal);
    }));
    live.add(proc);
    this.procs.push(proc);
    return proc;
  }

  text(proc) {
    try {
      return fs.readFileSync(proc.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** redis-server on a free port, no persistence; the rig's registry becomes it. */
  async redis() {
    const port = await freePort();
    const p = this.start(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--daemonize', 'no'], 'redis');
    await waitFor(() => accepts(port), { what: 'redis-server to listen' });
    this.registry = `redis://127.0.0.1:${port}/0`;
    return p;
  }

  /** silk-gateway-test on port (a free one by default), once it serves SessionManager. */
  async gateway(id, extra = [], port = undefined) {
    port ??= await freePort();
    const p = this.start([path.join(BIN, 'silk-gateway-test'), '--listen', `127.0.0.1:${port}`,
      '--id', id, ...extra], `gateway-${id}`);
    p.port = port;
    p.base = `http://127.0.0.1:${port}`;
    let exited = false;
    p.exited.then(() => { exited = true; });
    await waitFor(async () => {
      if (exited) throw new Error(`gateway ${id} exited:\n${this.text(p)}`);
      return this.text(p).includes('serving silk.ws.SessionManager') && accepts(port);
    }, { what: `gateway ${id}` });
    return p;
  }

  /** A service of BIN, once it is registered under service (the file registry). */
  async service(name, service) {
    const p = this.start([path.join(BIN, name)], name);
    const folder = path.join(this.dir, 'registry', service);
    await waitFor(() => fs.existsSync(folder) && fs.readdirSync(folder).some((f) => !f.startsWith('.')),
      { what: `${name} registered` });
    return p;
  }

  /** silk-gateway-sm ARGS: its output, or a rejection with its error. */
  sm(...args) {
    return new Promise((resolve, reject) => {
      execFile(path.join(BIN, 'silk-gateway-sm'), args, { env: this.env, timeout: 30000 },
        (err, stdout, stderr) => (err ? reject(new Error(`silk-gateway-sm ${args[0]}: ${stderr || err.message}`))
          : resolve(stdout.trim())));
    });
  }

  /** SIGTERM, then SIGKILL after 10 s; the exit code (or signal). */
  async stop(proc, signal = 'SIGTERM') {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    const code = await proc.exited;
    clearTimeout(timer);
    return code;
  }

  /** Stops everything (gateways before redis), then removes the dir (SILK_JS_KEEP=1 keeps it). */
  async close({ keep = Boolean(process.env.SILK_JS_KEEP) } = {}) {
    const codes = [];
    for (const p of [...this.procs].reverse()) codes.push(await this.stop(p));
    if (keep) console.error(`silk.js test: logs kept in ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    return codes;
  }
}
