// unit.test.mjs - silk.js without a gateway: the backoff's bounds with an injected random, and
// a session's reconnects, offsets, tokens and refusals driven through a fake WebSocket and a
// fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';

import { backoffDelay, connect, SilkError, STATUS } from '../silk.js';

const almostOne = () => 1 - Number.EPSILON;
const flush = () => new Promise((r) => setImmediate(r));

test('backoff: full jitter between 0 and min(max, min * 2^attempt)', () => {
  const caps = [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000];
  caps.forEach((cap, attempt) => {
    assert.equal(backoffDelay(attempt, undefined, () => 0), 0);
    assert.equal(backoffDelay(attempt, undefined, almostOne), cap - 1);
    assert.equal(backoffDelay(attempt, {}, () => 0.5), cap / 2);
  });
  for (const attempt of [10, 100, 5000]) { // 2^5000 is Infinity: still the cap
    assert.equal(backoffDelay(attempt, undefined, almostOne), 19999);
  }
  assert.equal(backoffDelay(3, { min: 100, max: 1000 }, almostOne), 799);
  assert.equal(backoffDelay(9, { min: 100, max: 1000 }, almostOne), 999);
  assert.equal(backoffDelay(-1, undefined, almostOne), 499);
  for (let i = 0; i < 1000; i++) { // Math.random by default: whole milliseconds in bounds
    const d = backoffDelay(i % 8);
    assert.ok(Number.isInteger(d) && d >= 0 && d < caps[i % 8], `${d}`);
  }
});

test('SilkError carries status, code, its name and validErrors', () => {
  const e = new SilkError('nope', { status: 404, code: 5 });
  assert.ok(e instanceof Error);
  assert.deepEqual([e.name, e.status, e.code, e.codeName, e.validErrors], ['SilkError', 404, 5, 'NOT_FOUND', null]);
  assert.equal(STATUS[16], 'UNAUTHENTICATED');
});

/** A clock whose timers run when a test says. */
function fakeClock() {
  const timers = new Map();
  let next = 1;
  return {
    timers,
    setTimeout: (fn, ms) => { timers.set(next, { fn, ms }); return next++; },
    clearTimeout: (id) => { timers.delete(id); },
    /** Runs the pending timer of ms milliseconds (the backoff's; the welcome's is 60000). */
    async fire(ms) {
      const entry = [...timers].find(([, t]) => t.ms === ms);
      assert.ok(entry, `a timer of ${ms} ms among ${[...timers.values()].map((t) => t.ms)}`);
      timers.delete(entry[0]);
      entry[1].fn();
      await flush();
    },
    delays: () => [...timers.values()].map((t) => t.ms).filter((ms) => ms !== 60000),
  };
}

/** A WebSocket class whose instances the test opens, feeds and drops. */
function fakeWebSocket({ nodeLike = false } = {}) {
  const sockets = [];
  class Fake {
    constructor(url, protocols) {
      this.url = new URL(url);
      this.protocols = protocols;
      this.protocol = '';
      this.sent = [];
      this.closed = null;
      this.handlers = new Map();
      sockets.push(this);
    }

    open(protocol = 'silk.v1') { this.protocol = protocol; this.onopen?.({}); }
    welcome(epoch, offset, recovered = false, sessionId = `gw.${sockets.length}`) {
      this.msg({ type: 'welcome', sessionId, epoch, offset, recovered });
    }

    msg(m) { this.onmessage?.({ data: typeof m === 'string' ? m : JSON.stringify(m) }); }
    push(epoch, offset, data) { this.msg({ type: 'push', epoch, offset, data }); }
    drop(code, reason = '') { this.onclose?.({ code, reason }); }
    send(d) { this.sent.push(d); }
    close(code) { this.closed = code ?? 1005; this.drop(1006); }
    /** Node's ws: 'unexpected-response' with an answer of status and body. */
    refuse(status, body) {
      const res = new EventEmitter();
      res.statusCode = status;
      this.handlers.get('unexpected-response')({}, res);
      res.emit('data', body);
      res.emit('end');
    }
  }
  if (nodeLike) {
    Fake.prototype.on = function on(event, fn) { this.handlers.set(event, fn); };
    Fake.prototype.terminate = function terminate() { this.drop(1006); };
  }
  Fake.sockets = sockets;
  return Fake;
}

async function session(options = {}) {
  const clock = fakeClock();
  const WebSocket = options.WebSocket ?? fakeWebSocket();
  const s = connect('http://gw.test/api/streams', {
    businessId: 'b1', WebSocket, random: () => 0.5, setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout, openTimeout: 60000, ...options,
  });
  const events = [];
  for (const type of ['open', 'push', 'reconnecting', 'recovered', 'error', 'close']) {
    s.on(type, (e) => events.push({ type, ...e }));
  }
  await flush();
  return { s, clock, sockets: WebSocket.sockets, events, of: (t) => events.filter((e) => e.type === t) };
}

test('session: reconnect delays double up to the cap and start again after a welcome', async () => {
  const { s, clock, sockets, of } = await session();
  assert.equal(sockets[0].url.href, 'ws://gw.test/api/streams?businessId=b1');
  assert.deepEqual(sockets[0].protocols, ['silk.v1']);
  const seen = [];
  for (let i = 0; i < 8; i++) {
    sockets.at(-1).drop(1006);
    [seen[i]] = clock.delays();
    await clock.fire(seen[i]);
  }
  assert.deepEqual(seen, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]); // random 0.5
  assert.deepEqual(of('reconnecting').map((e) => [e.attempt, e.delay, e.code]),
    seen.map((d, i) => [i + 1, d, 1006]));
  assert.equal(sockets.length, 9);
  sockets[8].open();
  sockets[8].welcome('e1', 0);
  sockets[8].drop(1001, 'going away');
  assert.deepEqual(clock.delays(), [250]);
  s.close();
  assert.deepEqual(clock.delays(), []);
});

test('session: since on reconnect, pushes seen already dropped, a new epoch counted afresh', async () => {
  const { s, clock, sockets, events, of } = await session();
  sockets[0].open();
  sockets[0].welcome('E', 3);
  sockets[0].push('E', 4, 'a');
  sockets[0].push('E', 5, 'b');
  sockets[0].drop(1006);
  await clock.fire(250);
  assert.equal(sockets[1].url.searchParams.get('since'), 'E:5');
  sockets[1].open();
  sockets[1].welcome('E', 6, true);
  for (const [o, d] of [[4, 'a'], [5, 'b'], [6, 'c'], [5, 'b'], [7, 'd']]) sockets[1].push('E', o, d);
  assert.deepEqual(of('push').map((p) => [p.epoch, p.offset, p.data, p.binary]),
    [['E', 4, 'a', false], ['E', 5, 'b', false], ['E', 6, 'c', false], ['E', 7, 'd', false]]);
  assert.deepEqual(of('recovered').map((e) => [e.recovered, e.offset]), [[true, 5]]);
  assert.deepEqual(of('open').map((e) => [e.sessionId, e.reconnect]), [['gw.1', false], ['gw.2', true]]);
  assert.equal(s.sessionId, 'gw.2');
  sockets[1].drop(1006);
  await clock.fire(250);
  sockets[2].open();
  sockets[2].welcome('F', 2, false); // the history was lost: offsets mean nothing now
  sockets[2].push('F', 3, 'x');
  assert.deepEqual([s.epoch, s.offset], ['F', 3]);
  assert.deepEqual(of('recovered').at(-1).recovered, false);
  assert.deepEqual(of('push').at(-1).data, 'x');
  // a push kept nowhere (to this session only) always comes
  sockets[2].msg({ type: 'push', data: 'direct' });
  assert.deepEqual(of('push').at(-1), { type: 'push', data: 'direct', offset: null, epoch: null, binary: false });
  sockets[2].msg({ type: 'push', epoch: 'F', offset: 4, data: 'AWJpbg==', binary: true });
  assert.deepEqual(of('push').at(-1).data, new Uint8Array([1, 98, 105, 110]));
  assert.equal(s.send('hello'), true);
  assert.deepEqual(sockets[2].sent, ['hello']);
  s.close();
  assert.equal(s.send('late'), false);
  assert.deepEqual(events.at(-1), { type: 'close', code: 1000, reason: 'closed by the client', fatal: false });
  assert.equal(sockets[2].closed, 1000);
});

test('session: a saved place is asked for at the first connect', async () => {
  const { s, sockets, of } = await session({ since: { epoch: 'E', offset: 41 } });
  assert.equal(sockets[0].url.searchParams.get('since'), 'E:41');
  sockets[0].open();
  sockets[0].welcome('E', 42, true);
  assert.deepEqual(of('recovered').map((e) => e.recovered), [true]);
  s.close();
});

test('session: 4001 asks getToken for a fresh token; without getToken it stops', async () => {
  let n = 0;
  const { s, clock, sockets, of } = await session({ getToken: async () => `t${++n}` });
  assert.equal(sockets[0].url.searchParams.get('access_token'), 't1');
  sockets[0].open();
  sockets[0].welcome('E', 0);
  sockets[0].drop(4001, 'token expired');
  await clock.fire(250);
  assert.equal(sockets[1].url.searchParams.get('access_token'), 't2');
  assert.equal(n, 2);
  sockets[1].drop(1006); // a lost connection keeps the token
  await clock.fire(500);
  assert.equal(sockets[2].url.searchParams.get('access_token'), 't2');
  assert.equal(of('reconnecting')[0].code, 4001);
  s.close();

  const fixed = await session({ token: 'static' });
  assert.equal(fixed.sockets[0].url.searchParams.get('access_token'), 'static');
  fixed.sockets[0].open();
  fixed.sockets[0].welcome('E', 0);
  fixed.sockets[0].drop(4001, 'token expired');
  assert.deepEqual(fixed.clock.delays(), []);
  assert.deepEqual(fixed.of('close'), [{ type: 'close', code: 4001, reason: 'token expired', fatal: true }]);
  assert.equal(fixed.s.state, 'closed');
});

test('session: 1008 stops for good with error and close, fatal', async () => {
  const { s, clock, sockets, of } = await session();
  sockets[0].open();
  sockets[0].welcome('E', 0);
  sockets[0].drop(1008, 'slow consumer');
  await flush();
  assert.deepEqual(clock.delays(), []);
  assert.equal(sockets.length, 1);
  assert.deepEqual(of('error').map((e) => [e.code, e.reason, e.fatal]), [[1008, 'slow consumer', true]]);
  assert.deepEqual(of('close').map((e) => [e.code, e.fatal]), [[1008, true]]);
  assert.equal(s.state, 'closed');
  s.close(); // no second close event
  assert.equal(of('close').length, 1);
});

test('session: a refused handshake, when the WebSocket tells its status', async () => {
  const WebSocket = fakeWebSocket({ nodeLike: true });
  const a = await session({ WebSocket });
  a.sockets[0].refuse(403, '{"code":7,"message":"business id not allowed"}');
  assert.deepEqual(a.clock.delays(), []);
  const [close] = a.of('close');
  assert.deepEqual([close.code, close.status, close.reason, close.body.code, close.fatal],
    [1006, 403, 'business id not allowed', 7, true]);

  const b = await session({ WebSocket: fakeWebSocket({ nodeLike: true }) }); // 503: retried
  b.sockets[0].refuse(503, '{"code":14,"message":"too many connections"}');
  assert.deepEqual(b.clock.delays(), [250]);
  assert.equal(b.of('reconnecting')[0].status, 503);
  b.s.close();

  let n = 0; // 401: a token that served once is refreshed; a fresh one refused stops
  const c = await session({ WebSocket: fakeWebSocket({ nodeLike: true }), getToken: () => `t${++n}` });
  c.sockets[0].refuse(401, '{"code":16,"message":"token expired"}');
  assert.equal(c.of('close')[0].status, 401, 'the first token was fresh');
  const d = await session({ WebSocket: fakeWebSocket({ nodeLike: true }), getToken: () => `t${++n}` });
  d.sockets[0].open();
  d.sockets[0].welcome('E', 0);
  d.sockets[0].drop(1006);
  await d.clock.fire(250);
  d.sockets[1].refuse(401, '{"code":16,"message":"token expired"}');
  assert.equal(d.of('close').length, 0);
  await d.clock.fire(500);
  assert.equal(d.sockets[2].url.searchParams.get('access_token'), `t${n}`);
  d.sockets[2].refuse(401, '{"code":16,"message":"bad signature"}');
  assert.deepEqual(d.of('close').map((e) => [e.status, e.reason, e.fatal]), [[401, 'bad signature', true]]);
});

test('session: a browser cannot see the status: 1006 and backoff', async () => {
  const { s, clock, sockets } = await session(); // no on(): a refusal is a close 1006
  sockets[0].drop(1006);
  assert.deepEqual(clock.delays(), [250]);
  s.close();
});

test('session: no welcome within openTimeout closes the attempt and retries', async () => {
  const { s, clock, sockets } = await session();
  sockets[0].open();
  await clock.fire(60000);
  assert.equal(sockets[0].closed, 1005);
  assert.deepEqual(clock.delays(), [250]);
  s.close();
});

test('session: a gateway without silk.v1 gives raw pushes', async () => {
  const { s, sockets, of } = await session();
  sockets[0].open(''); // the subprotocol was not chosen
  sockets[0].onmessage({ data: 'raw text' });
  sockets[0].onmessage({ data: new Uint8Array([7, 8]).buffer });
  assert.deepEqual(of('push').map((p) => [p.data, p.offset, p.binary]),
    [['raw text', null, false], [new Uint8Array([7, 8]), null, true]]);
  assert.equal(of('open').length, 1);
  s.close();
});

test('session: quiet while the browser is offline, back on the online event', async (t) => {
  const listeners = new Set();
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { onLine: false }, configurable: true, writable: true });
  globalThis.addEventListener = (type, fn) => type === 'online' && listeners.add(fn);
  globalThis.removeEventListener = (type, fn) => listeners.delete(fn);
  t.after(() => {
    if (saved) Object.defineProperty(globalThis, 'navigator', saved);
    else delete globalThis.navigator;
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
  });
  const { s, clock, sockets } = await session();
  assert.equal(sockets.length, 0);
  assert.equal(s.state, 'offline');
  assert.equal(listeners.size, 1);
  globalThis.navigator.onLine = true;
  for (const fn of [...listeners]) fn();
  await flush();
  assert.equal(sockets.length, 1);
  assert.equal(listeners.size, 0);
  sockets[0].open();
  sockets[0].welcome('E', 0);
  globalThis.navigator.onLine = false;
  sockets[0].drop(1006);
  await clock.fire(250);
  assert.equal(sockets.length, 1, 'no attempt while offline');
  assert.equal(s.state, 'offline');
  s.close();
  assert.equal(listeners.size, 0);
});

test('connect needs a WebSocket', () => {
  const saved = globalThis.WebSocket;
  delete globalThis.WebSocket;
  try {
    assert.throws(() => connect('ws://x/'), /no WebSocket/);
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});
