// auth.test.mjs - silk.js against a gateway with --jwt-key (an HS256 secret) and
// --jwt-business-claim bids, tokens minted here with node:crypto: a token that expires (4001)
// is refreshed through getToken and the session recovers what came meanwhile; refusals for
// good (403 for a business outside the claim or a foreign Origin, 401 for a bad token) stop
// the client, while a browser-like WebSocket, which cannot see the status, backs off; call()
// with and without the bearer token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { call, connect, SilkError } from '../silk.js';
import {
  Recorder, Rig, WS, browserLikeWebSocket, hs256, sleep, trackedWebSocket,
} from './rig.mjs';

const skip = WS ? false : 'the ws package is not installed (make js-deps)';
const secret = randomBytes(32).toString('hex');
let rig;
let gw;

const token = (claims = {}, key = secret) => {
  const now = Math.floor(Date.now() / 1000);
  return hs256(key, { sub: 'js', iat: now, exp: now + 600, bids: ['b1', 'b2'], ...claims });
};

before(async () => {
  if (skip) return;
  rig = new Rig('auth');
  gw = await rig.gateway('gwjsauth', ['--jwt-key', rig.file('hs.secret', `${secret}\n`),
    '--jwt-business-claim', 'bids']);
  await rig.service('wstest-service', 'wstest.WsTest');
});

after(async () => {
  if (!rig) return;
  const text = rig.text(gw);
  const codes = await rig.close();
  assert.deepEqual(codes, codes.map(() => 0));
  assert.ok(!text.includes(secret), 'the secret is never logged');
});

function open(businessId, options) {
  const s = connect(`ws://127.0.0.1:${gw.port}/api/streams`, {
    businessId, WebSocket: WS, backoff: { min: 100, max: 400 }, ...options,
  });
  return { s, rec: new Recorder(s) };
}

test('an expired token (4001) is refreshed with getToken; nothing missed', { skip, timeout: 60000 }, async (t) => {
  const minted = [];
  const WebSocket = trackedWebSocket();
  const { s, rec } = open('b1', {
    WebSocket,
    getToken: async () => {
      const tk = token({ exp: Math.floor(Date.now() / 1000) + 3 });
      minted.push(tk);
      return tk;
    },
  });
  t.after(() => s.close());
  await rec.wait((r) => r.of('open').length === 1, 'the session to open');
  await rig.sm('seq', 'b1', 'api/streams', 'p', '0', '5');
  await rec.pushed(5);
  await rec.wait((r) => r.of('reconnecting').length >= 1, 'the token to expire', 8000);
  await rig.sm('seq', 'b1', 'api/streams', 'p', '5', '5'); // while it reconnects, most likely
  await rec.wait((r) => r.of('recovered').length >= 1, 'the recovery');
  await rig.sm('seq', 'b1', 'api/streams', 'p', '10', '5');
  await rec.pushed(15);
  await sleep(300);
  const [expired] = rec.of('reconnecting');
  assert.deepEqual([expired.code, expired.reason], [4001, 'token expired']);
  assert.ok(minted.length >= 2, 'a fresh token was asked for');
  assert.deepEqual(rec.pushes.map((p) => p.data), Array.from({ length: 15 }, (_, i) => `p${i}`));
  assert.equal(rec.of('recovered')[0].recovered, true);
  const used = WebSocket.sockets.map((ws) => new URL(ws.url).searchParams.get('access_token'));
  assert.deepEqual(used.slice(0, 2), minted.slice(0, 2), 'each attempt with the token just minted');
  assert.equal(rec.of('close').length, 0);
});

test('a business outside the token\'s claim (403) stops retrying', { skip, timeout: 30000 }, async (t) => {
  const WebSocket = trackedWebSocket();
  const { s, rec } = open('b3', { WebSocket, token: token() });
  t.after(() => s.close());
  await rec.wait((r) => r.of('close').length === 1, 'the refusal');
  const [c] = rec.of('close');
  assert.deepEqual([c.status, c.code, c.fatal, c.body.code], [403, 1006, true, 7]);
  assert.equal(rec.of('error')[0].status, 403);
  await sleep(1000); // longer than the backoff's cap
  assert.equal(WebSocket.sockets.length, 1);
  assert.equal(rec.of('reconnecting').length, 0);
});

test('an Origin the gateway does not allow (403) stops retrying', { skip, timeout: 30000 }, async (t) => {
  const WebSocket = trackedWebSocket({ origin: 'https://evil.example' });
  const { s, rec } = open('b1', { WebSocket, token: token() });
  t.after(() => s.close());
  await rec.wait((r) => r.of('close').length === 1, 'the refusal');
  assert.deepEqual(rec.of('close').map((c) => [c.status, c.fatal]), [[403, true]]);
  await sleep(1000);
  assert.equal(WebSocket.sockets.length, 1);
});

test('a token the gateway refuses (401) stops, also a fresh one from getToken', { skip, timeout: 30000 }, async (t) => {
  const bad = token({}, 'not-the-secret-not-the-secret-not-the-secret');
  for (const options of [{ token: bad }, { getToken: () => bad }]) {
    const WebSocket = trackedWebSocket();
    const { s, rec } = open('b1', { WebSocket, ...options });
    t.after(() => s.close());
    await rec.wait((r) => r.of('close').length === 1, 'the refusal');
    const [c] = rec.of('close');
    assert.deepEqual([c.status, c.fatal, c.body.code], [401, true, 16]);
    await sleep(600);
    assert.equal(WebSocket.sockets.length, 1);
  }
});

test('a browser-like WebSocket cannot see the 403: it backs off until close()', { skip, timeout: 30000 }, async () => {
  const WebSocket = browserLikeWebSocket();
  const { s, rec } = open('b3', { WebSocket, token: token() });
  await rec.wait((r) => r.of('reconnecting').length >= 3, 'three retries', 10000);
  s.close();
  const n = WebSocket.sockets.length;
  assert.ok(rec.of('reconnecting').every((e) => e.code === 1006 && e.status === undefined));
  await sleep(600);
  assert.equal(WebSocket.sockets.length, n, 'no attempt after close()');
  assert.deepEqual(rec.of('close').map((c) => c.fatal), [false]);
});

test('call sends the token as a bearer', { skip, timeout: 30000 }, async () => {
  const echo = (businessId, options) => call(gw.base, '/api/wstest/echo', { businessId, msg: 'x' }, options);
  const cases = [[{}, 401, 16], [{ token: token() }, 404, 5], [{ token: token() }, 403, 7, 'b3']];
  for (const [options, status, code, business = 'b1'] of cases) {
    const e = await echo(business, options).then(() => assert.fail('it succeeded'), (err) => err);
    assert.ok(e instanceof SilkError);
    assert.deepEqual([e.status, e.code], [status, code], e.message);
  }
});
