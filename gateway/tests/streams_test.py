"""streams_test.py - per-business streams (issue 16): silk.v1 envelopes, recovery with since,
idempotent pushes, on the file registry (each gateway's memory) and on Redis (shared).

Usage: /usr/bin/python3 streams_test.py BIN_DIR [unittest args]

BIN_DIR holds silk-gateway-test (whose gwtest.Streams on api/streams keeps 5,000 pushes for
300 s, and gwtest.StreamsShort on api/streams-short 10 for 2 s) and silk-gateway-sm, which
pushes with SessionManager.SendToBusiness (the gateway appends each push to its store).
Clients are python3-websockets offering the subprotocol silk.v1, or not (raw bytes, as before
streams). The Redis cases need redis-server and are skipped without it.
"""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

from procs import free_port, wait_for  # noqa: E402

BIN = None
V1 = ["silk.v1"]


class Rig:
    """Gateways on one registry (a file one, or a Redis one), and silk-gateway-sm to push."""

    def __init__(self, redis=False):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-streams-")
        self.redis = None
        url = f"file:{self.dir.name}/registry"
        if redis:
            from registry_support import Redis
            self.redis = Redis(self.dir.name)
            url = self.redis.url()
        self.env = dict(os.environ, SILK_REGISTRY=url, SILK_LOG="debug",
                        SILK_REGISTRY_TTL_MS="1500")
        self.gateways = []

    def gateway(self, gw_id):
        port = free_port()
        log = open(os.path.join(self.dir.name, f"{gw_id}.log"), "a")
        proc = subprocess.Popen([os.path.join(BIN, "silk-gateway-test"), "--listen",
                                 f"127.0.0.1:{port}", "--id", gw_id], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.port, proc.log_path, proc.log = port, log.name, log
        self.gateways.append(proc)
        wait_for(lambda: "serving silk.ws.SessionManager" in self.text(proc), what=f"{gw_id} up")
        return proc

    @staticmethod
    def text(proc):
        with open(proc.log_path, errors="replace") as f:
            return f.read()

    def sm(self, *args):
        done = subprocess.run([os.path.join(BIN, "silk-gateway-sm"), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"silk-gateway-sm {args[0]} failed: {done.stderr}")
        return done.stdout.strip()

    def service(self, name, registers="wstest.WsTest"):
        """Starts a service of BIN_DIR and waits until it is registered (the file registry)."""
        log = open(os.path.join(self.dir.name, f"{name}.log"), "a")
        proc = subprocess.Popen([os.path.join(BIN, name)], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.port, proc.log_path, proc.log = None, log.name, log
        self.gateways.append(proc)
        folder = os.path.join(self.dir.name, "registry", registers)
        wait_for(lambda: os.path.isdir(folder) and os.listdir(folder), what=f"{name} registered")
        return proc

    def post_echo(self, gw, business, msg, key=None):
        headers = ["-H", "Content-Type: application/json"]
        if key is not None:
            headers += ["-H", f"Idempotency-Key: {key}"]
        done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "--max-time", "10", *headers, "-d",
                               json.dumps({"businessId": business, "msg": msg}),
                               f"http://127.0.0.1:{gw.port}/api/wstest/echo"],
                              capture_output=True, text=True, timeout=20)
        return int(done.stdout or 0)

    def metrics(self, proc):
        done = subprocess.run(["curl", "-s", "--max-time", "5",
                               f"http://127.0.0.1:{proc.port}/metrics"],
                              capture_output=True, text=True, timeout=10)
        return done.stdout

    def close(self):
        for p in self.gateways:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for p in self.gateways:
            try:
                codes.append(p.wait(10))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
            p.log.close()
        if self.redis is not None:
            self.redis.stop()
        self.dir.cleanup()
        return codes


def url(gw, route, business, since=None):
    u = f"ws://127.0.0.1:{gw.port}/{route}?businessId={business}"
    return u + (f"&since={since}" if since else "")


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def pushes(ws, n, timeout=20):
    """The next n envelopes of type push."""
    out = []
    while len(out) < n:
        m = await recv_json(ws, timeout)
        if m["type"] == "push":
            out.append(m)
    return out


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


class FileRegistry(unittest.TestCase):
    def setUp(self):
        self.rig = Rig()
        self.gw = self.rig.gateway("gws")

    def tearDown(self):
        self.assertEqual(self.rig.close(), [0] * len([g for g in self.rig.gateways]))

    def push(self, business, prefix, first, count, route="api/streams"):
        return self.rig.sm("seq", business, route, prefix, str(first), str(count))

    def test_welcome_envelopes_and_offsets(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "b1"),
                                          subprotocols=V1) as ws:
                self.assertEqual(ws.subprotocol, "silk.v1")
                w = await recv_json(ws)
                self.assertEqual((w["type"], w["offset"], w["recovered"]), ("welcome", 0, False))
                self.assertTrue(w["sessionId"].startswith("gws."))
                self.assertTrue(w["epoch"])
                await asyncio.to_thread(self.push, "b1", "m", 0, 3)
                got = await pushes(ws, 3)
                self.assertEqual([(m["epoch"], m["offset"], m["data"]) for m in got],
                                 [(w["epoch"], i + 1, f"m{i}") for i in range(3)])
        run(go())

    def test_binary_pushes_are_base64_with_binary_true(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "bb"),
                                          subprotocols=V1) as ws, \
                    websockets.connect(url(self.gw, "api/streams", "bb")) as raw:
                await recv_json(ws)
                await asyncio.to_thread(self.rig.sm, "binary", "bb", "api/streams", "\x01bin")
                m = (await pushes(ws, 1))[0]
                self.assertEqual((m["binary"], m["data"], m["offset"]), (True, "AWJpbg==", 1))
                self.assertEqual(await asyncio.wait_for(raw.recv(), 10), b"\x01bin")
        run(go())

    def test_a_client_without_silk_v1_gets_raw_bytes(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "b2")) as ws:
                self.assertIsNone(ws.subprotocol)
                await asyncio.to_thread(self.push, "b2", "raw", 0, 2)
                self.assertEqual([await asyncio.wait_for(ws.recv(), 10) for _ in range(2)],
                                 ["raw0", "raw1"])
        run(go())

    def test_recovery_of_1000_missed_with_1000_live_during_the_replay(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "b3"),
                                          subprotocols=V1) as ws:
                w = await recv_json(ws)
                await asyncio.to_thread(self.push, "b3", "m", 0, 5)
                last = (await pushes(ws, 5))[-1]
            # away: 1,000 pushes
            await asyncio.to_thread(self.push, "b3", "m", 5, 1000)
            live = threading.Thread(target=self.push, args=("b3", "m", 1005, 1000))
            async with websockets.connect(
                    url(self.gw, "api/streams", "b3", f"{w['epoch']}:{last['offset']}"),
                    subprotocols=V1) as ws:
                live.start()  # while the replay runs
                w2 = await recv_json(ws)
                self.assertEqual((w2["type"], w2["epoch"], w2["recovered"]),
                                 ("welcome", w["epoch"], True))
                got = await pushes(ws, 2000, timeout=30)
                await asyncio.to_thread(live.join, 60)
                self.assertEqual([m["offset"] for m in got], list(range(6, 2006)))
                self.assertEqual([m["data"] for m in got], [f"m{i}" for i in range(5, 2005)])
                with self.assertRaises(asyncio.TimeoutError):  # nothing doubled after them
                    await recv_json(ws, timeout=0.5)
        run(go())
        self.assertIn('silk_gateway_recoveries_total{result="recovered"} 1',
                      self.rig.metrics(self.gw))

    def test_gap_beyond_size_or_ttl_is_not_recovered_but_what_is_kept_comes(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams-short", "b4"),
                                          subprotocols=V1) as ws:
                w = await recv_json(ws)
            await asyncio.to_thread(self.push, "b4", "s", 0, 25, "api/streams-short")
            async with websockets.connect(
                    url(self.gw, "api/streams-short", "b4", f"{w['epoch']}:0"),
                    subprotocols=V1) as ws:
                w2 = await recv_json(ws)
                self.assertEqual((w2["epoch"], w2["recovered"], w2["offset"]),
                                 (w["epoch"], False, 25))
                got = await pushes(ws, 10)
                self.assertEqual([m["offset"] for m in got], list(range(16, 26)))
            await asyncio.sleep(3.5)  # older than ttl_s (2): the history is gone
            async with websockets.connect(
                    url(self.gw, "api/streams-short", "b4", f"{w['epoch']}:25"),
                    subprotocols=V1) as ws:
                w3 = await recv_json(ws)
                self.assertNotEqual(w3["epoch"], w["epoch"])
                self.assertFalse(w3["recovered"])
        run(go())
        self.assertIn('silk_gateway_recoveries_total{result="not_recovered"} 2',
                      self.rig.metrics(self.gw))

    def test_the_same_key_three_times_is_delivered_once(self):
        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "b5"),
                                          subprotocols=V1) as ws, \
                    websockets.connect(url(self.gw, "api/streams", "b5")) as raw:
                await recv_json(ws)
                replies = [await asyncio.to_thread(self.rig.sm, "keyed", "b5", "api/streams",
                                                   "order-7", "paid") for _ in range(3)]
                self.assertEqual([r.split()[1:] for r in replies],
                                 [["1", "0"], ["1", "1"], ["1", "1"]])
                await asyncio.to_thread(self.push, "b5", "after", 0, 1)
                got = await pushes(ws, 2)
                self.assertEqual([(m["offset"], m["data"]) for m in got],
                                 [(1, "paid"), (2, "after0")])
                self.assertEqual([await asyncio.wait_for(raw.recv(), 10) for _ in range(2)],
                                 ["paid", "after0"])
        run(go())
        m = self.rig.metrics(self.gw)
        self.assertIn('silk_gateway_history_appends_total{result="duplicate"} 2', m)

    def test_a_retried_echo_with_an_idempotency_key_pushes_once(self):
        # The seed's Echo sends each session its own message in a batch; a caller that retries
        # it with the same Idempotency-Key (the gateway passes it on as "idempotency-key", the
        # batch to SendMany) does not push twice. Without a key, it does.
        self.rig.service("wstest-service")

        async def go():
            async with websockets.connect(url(self.gw, "api/wstest", "e1")) as a, \
                    websockets.connect(url(self.gw, "api/wstest", "e1")) as b:
                for _ in range(3):
                    status = await asyncio.to_thread(self.rig.post_echo, self.gw, "e1", "hi", "k1")
                    self.assertEqual(status, 200)
                await asyncio.to_thread(self.rig.post_echo, self.gw, "e1", "next")
                for ws in (a, b):
                    got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(2)]
                    self.assertEqual([g.split(",")[0] for g in got], ["message:hi", "message:next"])
                    with self.assertRaises(asyncio.TimeoutError):
                        await asyncio.wait_for(ws.recv(), 0.5)
        run(go())

    def test_on_open_learns_of_the_recovery(self):
        # silk-gateway-hooks serves gwtest.Streams' hooks: its OnOpen prints the metadata
        # ws-since and ws-recovered, read before it is called.
        hooks = self.rig.service("silk-gateway-hooks", "gwtest.Streams")

        async def go():
            async with websockets.connect(url(self.gw, "api/streams", "h1"),
                                          subprotocols=V1) as ws:
                w = await recv_json(ws)
            await asyncio.to_thread(self.push, "h1", "m", 0, 2)
            for since, recovered in [(f"{w['epoch']}:0", "true"), ("otherepoch:0", "false")]:
                async with websockets.connect(url(self.gw, "api/streams", "h1", since),
                                              subprotocols=V1) as ws:
                    self.assertEqual((await recv_json(ws))["recovered"], recovered == "true")
                wait_for(lambda: f"ws_since={since} ws_recovered={recovered}" in
                         self.rig.text(hooks), what="OnOpen's metadata")
        run(go())

    def test_since_is_checked(self):
        async def go():
            for since, why in [("nocolon", "since is"), ("e:12x", "since is"), (":5", "since is")]:
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                    async with websockets.connect(url(self.gw, "api/streams", "b6", since),
                                                  subprotocols=V1):
                        pass
                self.assertEqual(cm.exception.status_code, 400, since)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with websockets.connect(url(self.gw, "api/streams", "b6", "e:1")):
                    pass
            self.assertEqual(cm.exception.status_code, 400)
        run(go())

    def test_a_restart_changes_the_epoch(self):
        async def go(gw):
            async with websockets.connect(url(gw, "api/streams", "b7"), subprotocols=V1) as ws:
                w = await recv_json(ws)
                await asyncio.to_thread(self.push, "b7", "m", 0, 3)
                await pushes(ws, 3)
                return w["epoch"]
        epoch = run(go(self.gw))
        self.gw.send_signal(signal.SIGTERM)
        self.assertEqual(self.gw.wait(10), 0)
        self.gw = self.rig.gateway("gws2")

        async def again():
            async with websockets.connect(url(self.gw, "api/streams", "b7", f"{epoch}:3"),
                                          subprotocols=V1) as ws:
                w = await recv_json(ws)
                self.assertNotEqual(w["epoch"], epoch)
                self.assertFalse(w["recovered"])
        run(again())


@unittest.skipIf(shutil.which("redis-server") is None, "no redis-server")
class RedisRegistry(unittest.TestCase):
    def test_recovery_on_another_gateway_after_kill_9(self):
        rig = Rig(redis=True)
        try:
            a = rig.gateway("gwa")

            async def first():
                async with websockets.connect(url(a, "api/streams", "r1"),
                                              subprotocols=V1) as ws:
                    w = await recv_json(ws)
                    await asyncio.to_thread(rig.sm, "seq", "r1", "api/streams", "m", "0", "3")
                    return w["epoch"], (await pushes(ws, 3))[-1]["offset"]
            epoch, last = run(first())
            rig.sm("seq", "r1", "api/streams", "m", "3", "500")  # away; a keeps them in Redis
            a.kill()
            a.wait(10)
            b = rig.gateway("gwb")

            async def second():
                async with websockets.connect(url(b, "api/streams", "r1", f"{epoch}:{last}"),
                                              subprotocols=V1) as ws:
                    w = await recv_json(ws)
                    self.assertEqual((w["epoch"], w["recovered"], w["offset"]),
                                     (epoch, True, 503))
                    got = await pushes(ws, 500)
                    self.assertEqual([m["data"] for m in got], [f"m{i}" for i in range(3, 503)])
            run(second())
        finally:
            codes = rig.close()
        self.assertEqual(codes[1:], [0])


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
