// session.test.mjs - silk.js against a live silk-gateway-test and wstest-service on a file
// registry: pushes through call(), a connection closed by the gateway (1001) and one lost by
// the client (1006) while pushes continue, recovered with nothing missed or doubled; 1008
// stopping for good; call()'s errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { call, connect, SilkError } from '../silk.js';
import { Recorder, Rig, WS, freePort, sleep, trackedWebSocket } from './rig.mjs';

const skip = WS ? false : 'the ws package is not installed (make js-deps)';
let rig;
let gw;
let wraprig; // a registry of its own: SendToBusiness answers for the one gateway called
let wrapped;

before(async () => {
  if (skip) return;
  rig = new Rig('session');
  wraprig = new Rig('wrap');
  wrapped = await wraprig.gateway('gwjswrap', ['--wrap-response']);
  gw = await rig.gateway('gwjs');
  await rig.service('wstest-service', 'wstest.WsTest');
});

after(async () => {
  if (!rig) return;
  const codes = [...await rig.close(), ...await wraprig.close()];
  assert.deepEqual(codes, codes.map(() => 0), 'every process exits 0 on SIGTERM');
});

function open(route, businessId, options = {}) {
  const s = connect(`ws://127.0.0.1:${gw.port}/${route}`, {
    businessId, WebSocket: WS, backoff: { min: 100, max: 1000 }, ...options,
  });
  const rec = new Recorder(s);
  return { s, rec, opened: rec.wait((r) => r.of('open').length > 0, 'the session to open') };
}

test('pushes arrive: Echo through call() reaches the session', { skip, timeout: 30000 }, async (t) => {
  const { s, rec, opened } = open('api/wstest', 'js1');
  t.after(() => s.close());
  await opened;
  assert.match(s.sessionId, /^gwjs\.[0-9a-f]{32}$/);
  const [o] = rec.of('open');
  assert.deepEqual([o.epoch, o.offset, o.recovered, o.reconnect], ['', 0, false, false]);
  assert.deepEqual(await call(gw.base, '/api/wstest/echo', { businessId: 'js1', msg: 'hi' }), {});
  // a retried call with the same Idempotency-Key pushes once
  for (let i = 0; i < 2; i++) {
    await call(gw.base, '/api/wstest/echo', { businessId: 'js1', msg: 'once' }, { idempotencyKey: 'k-js1' });
  }
  await call(gw.base, 'api/wstest/echo', { businessId: 'js1', msg: 'next' });
  await rec.pushed(3);
  await sleep(300);
  assert.deepEqual(rec.pushes.map((p) => [p.data, p.offset, p.epoch, p.binary]),
    ['hi', 'once', 'next'].map((m) => [`message:${m},sessionId:${s.sessionId}`, null, null, false]));
});

test('closed by the gateway (1001) and lost by the client (1006) while pushes continue: each push once, in order',
  { skip, timeout: 60000 }, async (t) => {
    const WebSocket = trackedWebSocket();
    const { s, rec, opened } = open('api/streams', 'js2', { WebSocket });
    t.after(() => s.close());
    await opened;
    const { epoch } = s;
    assert.ok(epoch);
    await rig.sm('seq', 'js2', 'api/streams', 'm', '0', '50');
    await rec.pushed(50);
    const pushing = (async () => {
      for (let first = 50; first < 1050; first += 50) {
        await rig.sm('seq', 'js2', 'api/streams', 'm', String(first), '50');
        await sleep(10);
      }
    })();
    await rig.sm('close', s.sessionId, '1001');
    await rec.wait((r) => r.of('recovered').length >= 1, 'the first recovery');
    await rec.pushed(rec.pushes.length + 20);
    WebSocket.sockets.at(-1).terminate(); // the TCP connection dies: no close frame
    await rec.wait((r) => r.of('recovered').length >= 2, 'the second recovery');
    await pushing;
    await rec.pushed(1050);
    await sleep(300);
    assert.equal(rec.pushes.length, 1050, 'nothing doubled');
    assert.deepEqual(rec.pushes.map((p) => p.data), Array.from({ length: 1050 }, (_, i) => `m${i}`));
    assert.deepEqual(rec.pushes.map((p) => p.offset), Array.from({ length: 1050 }, (_, i) => i + 1));
    assert.ok(rec.pushes.every((p) => p.epoch === epoch));
    assert.deepEqual(rec.of('reconnecting').map((e) => e.code), [1001, 1006]);
    assert.ok(rec.of('reconnecting').every((e) => e.delay >= 0 && e.delay < 100 && e.attempt === 1));
    assert.deepEqual(rec.of('recovered').map((e) => e.recovered), [true, true]);
    assert.equal(WebSocket.sockets.length, 3);
    for (const ws of WebSocket.sockets.slice(1)) {
      assert.match(ws.url, /[?&]since=/, 'a reconnect asks for what follows');
    }
    assert.equal(rec.of('error').length, 0);
    const metrics = await (await fetch(`${gw.base}/metrics`)).text();
    assert.match(metrics, /silk_gateway_recoveries_total\{result="recovered"\} 2/);
  });

test('a session closed with 1008 stops for good', { skip, timeout: 30000 }, async (t) => {
  const WebSocket = trackedWebSocket();
  const { s, rec, opened } = open('api/streams', 'js3', { WebSocket });
  t.after(() => s.close());
  await opened;
  await rig.sm('close', s.sessionId, '1008');
  await rec.wait((r) => r.of('close').length === 1, 'close');
  const [e] = rec.of('error');
  assert.deepEqual([e.code, e.reason, e.fatal], [1008, 'closed by test', true]);
  assert.deepEqual(rec.of('close').map((c) => [c.code, c.fatal]), [[1008, true]]);
  await sleep(1200); // longer than the backoff's cap
  assert.equal(WebSocket.sockets.length, 1);
  assert.equal(rec.of('reconnecting').length, 0);
  assert.equal(s.state, 'closed');
});

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof SilkError, `a SilkError: ${e}`);
    return e;
  }
  assert.fail('the call succeeded');
}

test('call maps the gateway\'s errors', { skip, timeout: 30000 }, async () => {
  let e = await failure(call(gw.base, '/api/wstest/echo', { businessId: 'nobody', msg: 'x' }));
  assert.deepEqual([e.status, e.code, e.codeName, e.validErrors], [404, 5, 'NOT_FOUND', null]);
  assert.match(e.message, /no session for businessId nobody/);
  assert.deepEqual(e.body, { code: 5, message: e.message });

  e = await failure(call(gw.base, '/api/no/such/route', {}));
  assert.deepEqual([e.status, e.code], [404, 5]);

  e = await failure(call(gw.base, '/api/wstest/echo', { businessId: 'x', nope: 1 }));
  assert.deepEqual([e.status, e.code, e.codeName], [400, 3, 'INVALID_ARGUMENT']);
  assert.match(e.message, /unknown field "nope"/);

  const badJson = (url, init) => fetch(url, { ...init, body: '{"businessId":' }); // not JSON
  e = await failure(call(gw.base, '/api/wstest/echo', {}, { fetch: badJson }));
  assert.deepEqual([e.status, e.code], [400, 3]);
  assert.match(e.message, /line 1/);

  e = await failure(call(wrapped.base, '/api/wstest/echo', { businessId: 'x', msg: 5 }));
  assert.deepEqual([e.status, e.code], [400, 3]);
  assert.match(e.message, /field "msg"/);
  assert.equal(e.validErrors.length, 1);
  assert.equal(e.validErrors[0].memberName, 'msg');
  assert.match(e.validErrors[0].errorMessages[0], /field "msg"/);

  const closed = await freePort();
  e = await failure(call(`http://127.0.0.1:${closed}`, '/api/wstest/echo', {}));
  assert.deepEqual([e.status, e.code, e.codeName], [0, 14, 'UNAVAILABLE']);
  assert.ok(e.cause);
});
