"""seed_test.py - the seed scenario end to end: run.sh's stack, real WebSocket clients, real calls.

Starts wstest-service and silk-gateway through samples/wstest/run.sh on a free loopback port
with a private file registry, drives them with python3-websockets and wstest-caller, and always
stops what it started. RunShWithRedis runs run.sh start, status and stop with a redis://
registry, against a redis-server it starts on a free loopback port (no persistence).
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

from registry_support import Redis

ARGS = None
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]+\.[0-9a-f]{32}$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SeedScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_dir = tempfile.TemporaryDirectory(prefix="silk-seed-")
        cls.gateway = f"127.0.0.1:{free_port()}"
        cls.env = dict(os.environ, BUILD_DIR=ARGS.build_dir, SILK_RUN_DIR=cls.run_dir.name,
                       SILK_REGISTRY=f"file:{cls.run_dir.name}/registry",
                       SILK_GATEWAY_LISTEN=cls.gateway)
        cls.run_sh = os.path.join(ARGS.source_dir, "samples/wstest/run.sh")
        subprocess.run([cls.run_sh, "start"], env=cls.env, check=True, timeout=30)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([cls.run_sh, "stop"], env=cls.env, timeout=30)
        try:
            cls.check_logs()
        finally:
            cls.run_dir.cleanup()

    @classmethod
    def check_logs(cls):
        """Fails on what a sanitizer build reports in a process's log (leaks included)."""
        for name in ("wstest-service.log", "silk-gateway.log"):
            with open(os.path.join(cls.run_dir.name, name), errors="replace") as log:
                text = log.read()
            for mark in ("Sanitizer", "runtime error:"):
                if mark in text:
                    raise AssertionError(f"{name} reports {mark}:\n{text[-4000:]}")

    def caller(self, business_id, msg):
        exe = os.path.join(ARGS.build_dir, "bin", "wstest-caller")
        return subprocess.run([exe, business_id, msg], env=self.env, capture_output=True,
                              text=True, timeout=20)

    def http(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.gateway, timeout=10)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def ws_url(self, query):
        return f"ws://{self.gateway}/api/wstest?{query}"

    async def expect_pushes(self, sessions, push, msg):
        """Runs push() and checks each session of 100 gets its own message, 200 gets none."""
        a, b, c = sessions
        await asyncio.get_running_loop().run_in_executor(None, push)
        got_a = await asyncio.wait_for(a.recv(), 5)
        got_b = await asyncio.wait_for(b.recv(), 5)
        id_a = a.response_headers["Silk-Session-Id"]
        id_b = b.response_headers["Silk-Session-Id"]
        self.assertEqual(got_a, f"message:{msg},sessionId:{id_a}")
        self.assertEqual(got_b, f"message:{msg},sessionId:{id_b}")
        self.assertRegex(id_a, SESSION_ID)
        self.assertNotEqual(id_a, id_b)
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(c.recv(), 0.5)
        return id_a, id_b

    def test_push_from_service_and_http(self):
        async def scenario():
            a = await websockets.connect(self.ws_url("businessId=100"))
            b = await websockets.connect(self.ws_url("bussinessId=100"))
            c = await websockets.connect(self.ws_url("BUSINESSID=200"))
            try:
                def call_hi():
                    done = self.caller("100", "hi")
                    self.assertEqual(done.returncode, 0, done.stderr)

                ids = await self.expect_pushes((a, b, c), call_hi, "hi")

                def post_echo():
                    status, text = self.http("POST", "/api/wstest/echo",
                                             json.dumps({"businessId": "100", "msg": "web"}),
                                             {"Content-Type": "application/json"})
                    self.assertTrue(200 <= status < 300, f"{status} {text}")
                    self.assertEqual(json.loads(text), {})

                again = await self.expect_pushes((a, b, c), post_echo, "web")
                self.assertEqual(set(ids), set(again), "a session keeps its id")

                def ctl_call():
                    exe = os.path.join(ARGS.build_dir, "bin", "silk-ctl")
                    done = subprocess.run(
                        [exe, "call", "wstest.WsTest/Echo", '{"businessId":"100","msg":"ctl"}'],
                        env=self.env, capture_output=True, text=True, timeout=20)
                    self.assertEqual(done.returncode, 0, done.stderr)
                    self.assertEqual(json.loads(done.stdout), {})

                await self.expect_pushes((a, b, c), ctl_call, "ctl")
            finally:
                for ws in (a, b, c):
                    await ws.close()
        asyncio.run(scenario())

    def test_deep_health_with_every_service_up(self):
        status, text = self.http("GET", "/healthz?deep=1")
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text), {"status": "SERVING",
                                            "services": {"wstest.WsTest": "SERVING"}})

    def test_business_id_from_header(self):
        async def scenario():
            ws = await websockets.connect(self.ws_url("x=1"),
                                          extra_headers={"BusinessId": "300"})
            try:
                done = await asyncio.get_running_loop().run_in_executor(
                    None, self.caller, "300", "hdr")
                self.assertEqual(done.returncode, 0, done.stderr)
                got = await asyncio.wait_for(ws.recv(), 5)
                self.assertTrue(got.startswith("message:hdr,sessionId:"), got)
            finally:
                await ws.close()
        asyncio.run(scenario())

    def test_no_business_id_is_400_with_json(self):
        status, text = self.http("GET", "/api/wstest", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        self.assertEqual(status, 400)
        body = json.loads(text)
        self.assertEqual(body["code"], 3)
        self.assertIn("businessId", body["message"])

    def test_unknown_business_is_not_found(self):
        done = self.caller("999", "x")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("NOT_FOUND", done.stderr)
        self.assertIn("999", done.stderr)
        status, text = self.http("POST", "/api/wstest/echo",
                                 json.dumps({"businessId": "999", "msg": "x"}),
                                 {"Content-Type": "application/json"})
        self.assertEqual(status, 404)
        body = json.loads(text)
        self.assertEqual(body["code"], 5)
        self.assertIn("999", body["message"])

    def test_bad_input_is_refused_and_gateway_keeps_serving(self):
        status, text = self.http("POST", "/api/wstest/echo", "{not json",
                                 {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("message", json.loads(text))
        status, _ = self.http("POST", "/api/wstest/echo", json.dumps({"nope": 1}),
                              {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        host, port = self.gateway.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400"))
        status, _ = self.http("GET", "/no/such/route")
        self.assertEqual(status, 404)
        # Still serving: a session opens and a call reaches it.
        self.test_business_id_from_header()


class GatewayGone(unittest.TestCase):
    """A gateway killed while its registry record stays: Echo answers UNAVAILABLE naming it,
    never NOT_FOUND "no session" (its sessions died with it, but the service cannot know)."""

    def setUp(self):
        self.run_dir = tempfile.TemporaryDirectory(prefix="silk-seed-gone-")
        self.gateway = f"127.0.0.1:{free_port()}"
        # A record outlives its last heartbeat by the TTL: long enough for the whole test.
        self.env = dict(os.environ, BUILD_DIR=ARGS.build_dir, SILK_RUN_DIR=self.run_dir.name,
                        SILK_REGISTRY=f"file:{self.run_dir.name}/registry",
                        SILK_GATEWAY_LISTEN=self.gateway, SILK_REGISTRY_TTL_MS="60000")
        self.run_sh = os.path.join(ARGS.source_dir, "samples/wstest/run.sh")
        subprocess.run([self.run_sh, "start"], env=self.env, check=True, timeout=30)

    def tearDown(self):
        subprocess.run([self.run_sh, "stop"], env=self.env, timeout=30)
        try:
            with open(os.path.join(self.run_dir.name, "wstest-service.log"),
                      errors="replace") as log:
                text = log.read()
            for mark in ("Sanitizer", "runtime error:"):
                self.assertNotIn(mark, text, text[-4000:])
        finally:
            self.run_dir.cleanup()

    def caller(self, business_id, msg):
        exe = os.path.join(ARGS.build_dir, "bin", "wstest-caller")
        return subprocess.run([exe, business_id, msg], env=self.env, capture_output=True,
                              text=True, timeout=20)

    def kill_gateway(self):
        """Kills silk-gateway (SIGKILL: no deregistration) and waits until it is gone."""
        with open(os.path.join(self.run_dir.name, "silk-gateway.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.fail("the gateway outlived SIGKILL")

    def test_killed_gateway_is_unavailable(self):
        async def scenario():
            loop = asyncio.get_running_loop()
            ws = await websockets.connect(f"ws://{self.gateway}/api/wstest?businessId=100")
            try:
                done = await loop.run_in_executor(None, self.caller, "100", "before")
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertTrue((await asyncio.wait_for(ws.recv(), 5)).startswith("message:before"))
                self.kill_gateway()
                return await loop.run_in_executor(None, self.caller, "100", "after")
            finally:
                try:
                    await asyncio.wait_for(ws.close(), 5)
                except Exception:  # the gateway is gone: whatever the socket says
                    pass
        done = asyncio.run(scenario())
        self.assertNotEqual(done.returncode, 0, done.stdout)
        self.assertIn("UNAVAILABLE", done.stderr)
        self.assertIn("cannot be reached", done.stderr)
        self.assertNotIn("no session", done.stderr)


@unittest.skipIf(shutil.which("redis-server") is None, "no redis-server")
class RunShWithRedis(unittest.TestCase):
    """run.sh with SILK_REGISTRY=redis://...: start waits for the stack through the gateway's
    deep health check, not the file registry's folder; status and stop work the same."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-runsh-redis-")
        self.addCleanup(self.dir.cleanup)
        self.redis = Redis(self.dir.name)
        self.addCleanup(self.redis.stop)
        self.run_dir = os.path.join(self.dir.name, "run")
        self.gateway = f"127.0.0.1:{free_port()}"
        self.env = dict(os.environ, BUILD_DIR=ARGS.build_dir, SILK_RUN_DIR=self.run_dir,
                        SILK_REGISTRY=self.redis.url(), SILK_GATEWAY_LISTEN=self.gateway)
        self.run_sh = os.path.join(ARGS.source_dir, "samples/wstest/run.sh")

    def run_sh_cmd(self, cmd):
        return subprocess.run([self.run_sh, cmd], env=self.env, capture_output=True, text=True,
                              timeout=60)

    def test_start_status_stop(self):
        self.addCleanup(self.run_sh_cmd, "stop")
        done = self.run_sh_cmd("start")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(f"registry {self.redis.url()}", done.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "registry")))
        # Both registered in Redis, and the gateway finds the service through it.
        keys = self.redis.cli("KEYS", "*")
        self.assertIn("wstest.WsTest", keys)
        self.assertIn("silk.ws.SessionManager", keys)
        conn = http.client.HTTPConnection(self.gateway, timeout=10)
        try:
            conn.request("GET", "/healthz?deep=1")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(json.loads(resp.read())["services"], {"wstest.WsTest": "SERVING"})
        finally:
            conn.close()

        done = self.run_sh_cmd("status")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"wstest-service: running \(pid \d+\)")
        self.assertRegex(done.stdout, r"silk-gateway: running \(pid \d+\)")
        pids = [int(p) for p in re.findall(r"pid (\d+)", done.stdout)]

        done = self.run_sh_cmd("stop")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        for pid in pids:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"pid {pid} still runs")
        done = self.run_sh_cmd("status")
        self.assertEqual(done.returncode, 3, done.stdout + done.stderr)
        self.assertIn("wstest-service: stopped", done.stdout)
        self.assertIn("silk-gateway: stopped", done.stdout)

    def test_start_fails_when_the_registry_is_unreachable(self):
        self.addCleanup(self.run_sh_cmd, "stop")
        self.redis.stop()
        done = self.run_sh_cmd("start")
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("the stack did not come up", done.stderr)
        done = self.run_sh_cmd("status")
        self.assertEqual(done.returncode, 3, done.stdout + done.stderr)


class HostedInTheGateway(unittest.TestCase):
    """wstest-host: the gateway with WsTest's handlers in its process (silk_gateway_main_hosting).
    OnMessage runs on the gateway's loop ("call here" in its debug log, never over a socket);
    Echo, which is not inline, and the pushes still work, from HTTP and from wstest-caller in
    another process, which finds the host's WsTest in the registry."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-host-")
        self.addCleanup(self.dir.cleanup)
        self.port = free_port()
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry",
                        SILK_LOG="debug")
        self.exe = os.path.join(ARGS.build_dir, "bin", "wstest-host")
        self.log = open(os.path.join(self.dir.name, "host.log"), "w+")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen([self.exe, "--listen", f"127.0.0.1:{self.port}"],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)
        deadline = time.time() + 10
        while "listening on 127.0.0.1" not in self.text():
            self.assertIsNone(self.proc.poll(), self.text())
            self.assertLess(time.time(), deadline, self.text())
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def text(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def test_messages_run_in_the_gateway_and_pushes_reach_sessions(self):
        url = f"ws://127.0.0.1:{self.port}/api/wstest?businessId=100"

        async def scenario():
            async with websockets.connect(url) as a, websockets.connect(url) as b:
                for i in range(20):
                    await a.send(f"text {i}")
                    self.assertEqual(await asyncio.wait_for(a.recv(), 5), f"text {i}")
                await b.send(b"\x00\x01binary")
                self.assertEqual(await asyncio.wait_for(b.recv(), 5), b"\x00\x01binary")
                sid_a = a.response_headers["Silk-Session-Id"]
                sid_b = b.response_headers["Silk-Session-Id"]

                def call(exe_args):
                    return subprocess.run(exe_args, env=self.env, capture_output=True,
                                          text=True, timeout=20)

                done = await asyncio.get_running_loop().run_in_executor(
                    None, call, [os.path.join(ARGS.build_dir, "bin", "wstest-caller"), "100",
                                 "hi"])
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(await asyncio.wait_for(a.recv(), 5),
                                 f"message:hi,sessionId:{sid_a}")
                self.assertEqual(await asyncio.wait_for(b.recv(), 5),
                                 f"message:hi,sessionId:{sid_b}")
                done = await asyncio.get_running_loop().run_in_executor(
                    None, call, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-H", "Content-Type: application/json", "-d",
                                 '{"businessId":"100","msg":"web"}',
                                 f"http://127.0.0.1:{self.port}/api/wstest/echo"])
                self.assertEqual(done.stdout, "200", done.stderr)
                self.assertEqual(await asyncio.wait_for(a.recv(), 5),
                                 f"message:web,sessionId:{sid_a}")
                # A business with no session: the handler's NOT_FOUND, mapped to 404.
                done = await asyncio.get_running_loop().run_in_executor(
                    None, call, ["curl", "-s", "-w", " %{http_code}", "-H",
                                 "Content-Type: application/json", "-d",
                                 '{"businessId":"nobody","msg":"x"}',
                                 f"http://127.0.0.1:{self.port}/api/wstest/echo"])
                self.assertTrue(done.stdout.endswith(" 404"), done.stdout)
                self.assertIn("no session for businessId nobody", done.stdout)

        asyncio.run(scenario())
        text = self.text()
        self.assertEqual(text.count("call here method=/silk.ws.Hooks/OnMessage status=OK"), 21,
                         text[-3000:])
        self.assertNotIn("call method=/silk.ws.Hooks/OnMessage", text)
        self.assertIn("call method=/wstest.WsTest/Echo status=OK", text)
        self.assertEqual(self.stop(), 0, text[-3000:])
        for mark in ("Sanitizer", "runtime error:"):
            self.assertNotIn(mark, self.text())

    def test_help_starts_nothing(self):
        done = subprocess.run([self.exe, "--help"], env=self.env, capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--listen HOST:PORT", done.stdout)
        self.assertNotIn("server listening", done.stderr)
        done = subprocess.run([self.exe, "--no-such-flag"], env=self.env, capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertNotIn("server listening", done.stderr)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
