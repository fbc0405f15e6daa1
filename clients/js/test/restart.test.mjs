// restart.test.mjs - the gateway restarted while pushes continue: on a Redis registry the
// stream outlives the gateway, so the client reconnects with backoff to the new one on the same
// port and misses nothing, each push once and in order. The publisher retries a push that
// failed while no gateway was up, with the same idempotency key (kept once). Skipped without
// redis-server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from '../silk.js';
import { Recorder, Rig, WS, hasProgram, sleep, trackedWebSocket } from './rig.mjs';

const skip = !WS ? 'the ws package is not installed (make js-deps)'
  : !hasProgram('redis-server') ? 'no redis-server' : false;
let rig;

after(async () => {
  if (rig) await rig.close();
});

test('a gateway restarted on Redis while pushes continue: nothing missed, nothing doubled',
  { skip, timeout: 90000 }, async (t) => {
    rig = new Rig('restart');
    await rig.redis();
    const first = await rig.gateway('gwr1');
    const WebSocket = trackedWebSocket();
    const s = connect(`ws://127.0.0.1:${first.port}/api/streams`, {
      businessId: 'jr', WebSocket, backoff: { min: 100, max: 800 },
    });
    t.after(() => s.close());
    const rec = new Recorder(s);
    await rec.wait((r) => r.of('open').length === 1, 'the session to open');
    const { epoch } = s;

    const N = 400;
    let pushed = 0;
    let retried = 0;
    const pushing = (async () => {
      for (; pushed < N; pushed++) { // one idempotent push at a time, retried until taken
        for (;;) {
          try {
            await rig.sm('keyed', 'jr', 'api/streams', `k${pushed}`, `m${pushed}`);
            break;
          } catch {
            retried++;
            await sleep(50);
          }
        }
        if (pushed % 20 === 0) await sleep(5);
      }
    })();
    await rec.pushed(100);
    assert.equal(await rig.stop(first), 0); // 1001 to the session, then the port is closed
    const downAt = pushed;
    await sleep(700); // down: the client's attempts are refused, the publisher's fail
    const second = await rig.gateway('gwr2', [], first.port);
    await pushing;
    await rec.pushed(N, 30000);
    await sleep(300);

    assert.ok(retried > 0, 'pushes failed while no gateway was up');
    assert.ok(downAt < N, 'pushes went on after the restart');
    assert.equal(rec.pushes.length, N, 'nothing doubled');
    assert.deepEqual(rec.pushes.map((p) => p.data), Array.from({ length: N }, (_, i) => `m${i}`));
    assert.deepEqual(rec.pushes.map((p) => p.offset), Array.from({ length: N }, (_, i) => i + 1));
    assert.ok(rec.pushes.every((p) => p.epoch === epoch), 'the stream kept its epoch in Redis');
    const codes = rec.of('reconnecting').map((e) => e.code);
    assert.equal(codes[0], 1001, 'the gateway shut down');
    assert.ok(codes.length >= 2 && codes.slice(1).every((c) => c === 1006), `refused meanwhile: ${codes}`);
    assert.deepEqual(rec.of('reconnecting').map((e) => e.attempt), codes.map((_, i) => i + 1));
    assert.ok(rec.of('reconnecting').every((e, i) => e.delay < Math.min(800, 100 * 2 ** i)), 'backoff bounds');
    assert.deepEqual(rec.of('recovered').map((e) => e.recovered), [true]);
    assert.match(s.sessionId, /^gwr2\./);
    assert.equal(rec.of('error').length, 0);
    s.close();
    assert.equal(await rig.stop(second), 0);
  });
