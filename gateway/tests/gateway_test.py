"""gateway_test.py - silk-gateway-test driven by python3-websockets and raw sockets.

Usage: /usr/bin/python3 gateway_test.py silk-gateway-test [silk-gateway-sm] [unittest args]

Runs the gateway on a free loopback port with a private file registry, and checks the edge
on its own: sessions and their business id, handshake refusals, HTTP errors and limits,
WebSocket close codes, calls to a service that is not running, shutdown on SIGTERM, and,
with silk-gateway-sm, SessionManager over nng: Sessions, Send, SendToBusiness and Close.
"""
import asyncio
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

GATEWAY = None
SM_CLIENT = None
SESSION_ID = re.compile(r"^gwtest\.[0-9a-f]{32}$")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """One silk-gateway-test process, stopped with SIGTERM."""

    def __init__(self, *extra):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-gw-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir.name, "gateway.log"), "w+")
        env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry", SILK_LOG="debug")
        self.proc = subprocess.Popen(
            [GATEWAY, "--listen", f"127.0.0.1:{self.port}", "--id", "gwtest", *extra],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("the gateway did not come up:\n" + self.logs())

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self):
        self.stop()
        self.log.close()
        self.dir.cleanup()


def raw(port, data, read=True):
    """Sends bytes on a new connection and returns everything the gateway sends back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while read:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


def upgrade_request(path, headers=None):
    h = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": KEY}
    h.update(headers or {})
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in h.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client_frame(opcode, payload, fin=True, masked=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = b"\x01\x02\x03\x04"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_close_code(sock):
    """Reads server frames after a 101 until a close frame; returns its code."""
    buf = b""
    sock.settimeout(5)
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    while True:
        while len(buf) < 2:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            buf += chunk
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        off = 2
        if n == 126:
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        while len(buf) < off + n:
            buf += sock.recv(4096)
        payload, buf = buf[off:off + n], buf[off + n:]
        if opcode == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


class GatewayEdge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()
        cls.port = cls.gw.port

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        if code != 0:
            print(cls.gw.logs(), file=sys.stderr)
        cls.gw.close()
        assert code == 0, f"the gateway exited {code}"

    def http(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode(), dict(resp.getheaders())
        finally:
            conn.close()

    def url(self, query=""):
        return f"ws://127.0.0.1:{self.port}/api/wstest{query}"

    def test_healthz(self):
        status, body, _ = self.http("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "SERVING"})

    def test_sessions_open_with_business_id(self):
        async def scenario():
            for query, headers in [("?businessId=100", {}), ("?bussinessId=100", {}),
                                   ("?businessid=100", {}), ("?BUSINESSID=200", {}),
                                   ("?x=1", {"BusinessId": "300"}),
                                   ("", {"business-id": "301"}),
                                   ("", {"bussinessId": "302"})]:
                async with websockets.connect(self.url(query), extra_headers=headers) as ws:
                    await ws.send("hello")
                    pong = await ws.ping(b"p")
                    await asyncio.wait_for(pong, 5)
                    await ws.send(b"\x00binary")
                self.assertEqual(ws.close_code, 1000, query)
        asyncio.run(scenario())
        logs = self.gw.logs()
        ids = re.findall(r"session opened session_id=(\S+) business_id=(\S+)", logs)
        self.assertTrue(any(b == "302" for _, b in ids), logs)
        for sid, _ in ids:
            self.assertRegex(sid, SESSION_ID)
        self.assertEqual(len({sid for sid, _ in ids}), len(ids), "session ids are unique")

    def test_no_business_id_is_400_with_json(self):
        for path in ["/api/wstest", "/api/wstest?businessId=", "/api/wstest?business=1"]:
            status, body, _ = self.http("GET", path, headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": KEY})
            self.assertEqual(status, 400, path)
            self.assertEqual(json.loads(body), {"code": 3, "message": "businessId is required"})

        async def scenario():
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                await websockets.connect(self.url())
            self.assertEqual(cm.exception.status_code, 400)
        asyncio.run(scenario())

    def test_handshake_refusals(self):
        out = raw(self.port, upgrade_request("/api/wstest?businessId=1",
                                             {"Sec-WebSocket-Version": "8"}))
        self.assertTrue(out.startswith(b"HTTP/1.1 426 "), out)
        self.assertIn(b"\r\nSec-WebSocket-Version: 13\r\n", out)
        for headers in [{"Sec-WebSocket-Key": None}, {"Sec-WebSocket-Key": "short=="},
                        {"Upgrade": "h2c"}, {"Connection": "keep-alive"}]:
            out = raw(self.port, upgrade_request("/api/wstest?businessId=1", headers))
            self.assertTrue(out.startswith(b"HTTP/1.1 400 "), (headers, out))
            body = json.loads(out.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(body["code"], 3)
        # A good handshake answers with the RFC's accept key for the RFC's sample key.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(upgrade_request("/api/wstest?businessId=1"))
            head = s.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
            self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", head)

    def test_routes_that_are_not_websocket(self):
        for path in ["/api/plain", "/no/such/route", "/api/wstestx"]:
            out = raw(self.port, upgrade_request(path + "?businessId=1"))
            self.assertTrue(out.startswith(b"HTTP/1.1 404 "), (path, out))
            self.assertEqual(json.loads(out.split(b"\r\n\r\n", 1)[1])["code"], 5)
        status, body, _ = self.http("GET", "/no/such/route")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["code"], 5)
        status, _, _ = self.http("GET", "/api/wstest/echo")
        self.assertEqual(status, 405)

    def test_bad_http(self):
        out = raw(self.port, b"THIS IS NOT HTTP\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        self.assertIn(b"Connection: close", out)
        big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        out = raw(self.port, big)
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out)
        out = raw(self.port, b"POST /api/wstest/echo HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        # Still serving.
        self.test_healthz()

    def test_keep_alive_and_pipelining(self):
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(req * 3 + b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 4, out)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for _ in range(3):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
        conn.close()

    def test_head_and_expect_continue(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        head, rest = out.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), out)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), out)  # no body after the HEAD
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            body = json.dumps({"nope": 1}).encode()
            s.sendall(b"POST /api/wstest/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            self.assertEqual(s.recv(4096), b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(body)
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 400 "))

    def test_frames_after_handshake_in_one_write(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(upgrade_request("/api/wstest?businessId=7") +
                      client_frame(9, b"early") + client_frame(8, struct.pack("!H", 1000)))
            self.assertEqual(read_close_code(s), 1000)

    def test_close_codes(self):
        cases = [
            (client_frame(1, b"plain", masked=False), 1002),
            (client_frame(3, b"x"), 1002),
            (client_frame(1, b"\xc3\x28"), 1007),
            (client_frame(2, b"x" * (1024 * 1024 + 1)), 1009),
            (client_frame(1, b"a" * 1024 * 1024, fin=False) + client_frame(0, b"b"), 1009),
        ]
        for frames, code in cases:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(upgrade_request("/api/wstest?businessId=8"))
                try:
                    s.sendall(frames)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.assertEqual(read_close_code(s), code, frames[:8])
        # A message of exactly the limit is fine.
        async def scenario():
            async with websockets.connect(self.url("?businessId=9"), max_size=None) as ws:
                await ws.send("y" * (1024 * 1024))
                await asyncio.wait_for(await ws.ping(), 5)
            self.assertEqual(ws.close_code, 1000)
        asyncio.run(scenario())

    def test_post_echo_bad_input(self):
        h = {"Content-Type": "application/json"}
        status, body, _ = self.http("POST", "/api/wstest/echo", "{not json", h)
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["code"], 3)
        self.assertIn("malformed JSON", json.loads(body)["message"])
        status, body, _ = self.http("POST", "/api/wstest/echo", json.dumps({"nope": 1}), h)
        self.assertEqual(status, 400)
        self.assertIn("nope", json.loads(body)["message"])
        status, body, _ = self.http("POST", "/api/wstest/echo", json.dumps({"msg": 1}), h)
        self.assertEqual(status, 400)

    def test_post_echo_reaches_the_runtime(self):
        # No WsTest service runs here: whatever the runtime answers comes back as JSON with
        # the status mapped to HTTP, and the gateway keeps serving.
        status, body, _ = self.http("POST", "/api/wstest/echo",
                                    json.dumps({"businessId": "999", "msg": "x"}),
                                    {"Content-Type": "application/json"})
        reply = json.loads(body)
        if status == 200:
            self.assertEqual(reply, {})
        else:
            self.assertIn(status, (404, 503, 504), body)
            self.assertIn("code", reply)
            self.assertIn("message", reply)
        # The client may leave before the call completes.
        raw(self.port, b"POST /api/wstest/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            read=False)
        self.test_healthz()


class SessionManagerCalls(unittest.TestCase):
    """Pushes through SessionManager, called over nng the way services call it."""

    @classmethod
    def setUpClass(cls):
        if SM_CLIENT is None:
            raise unittest.SkipTest("no silk-gateway-sm given")
        cls.gw = Gateway()

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        if code != 0:
            print(cls.gw.logs(), file=sys.stderr)
        cls.gw.close()
        assert code == 0, f"the gateway exited {code}"

    def sm(self, *args, ok=True):
        env = dict(os.environ, SILK_REGISTRY=f"file:{self.gw.dir.name}/registry")
        done = subprocess.run([SM_CLIENT, *args], env=env, capture_output=True, text=True,
                              timeout=20)
        if ok:
            self.assertEqual(done.returncode, 0, done.stderr + self.gw.logs())
        return done

    def test_sessions_send_business_close(self):
        async def scenario():
            url = f"ws://127.0.0.1:{self.gw.port}/api/wstest?businessId="
            a = await websockets.connect(url + "100")
            b = await websockets.connect(url + "100")
            c = await websockets.connect(url + "200")
            loop = asyncio.get_running_loop()

            async def sm(*args, ok=True):
                return await loop.run_in_executor(None, lambda: self.sm(*args, ok=ok))

            ids = (await sm("sessions", "100", "api/wstest")).stdout.split()
            self.assertEqual(len(ids), 2)
            for sid in ids:
                self.assertRegex(sid, SESSION_ID)
            self.assertEqual(set((await sm("sessions", "100")).stdout.split()), set(ids))
            self.assertEqual((await sm("sessions", "100", "api/other")).stdout, "")

            for sid in ids:
                self.assertEqual((await sm("send", sid, f"to:{sid}")).stdout.strip(), "1")
            got = {await asyncio.wait_for(a.recv(), 5), await asyncio.wait_for(b.recv(), 5)}
            self.assertEqual(got, {f"to:{sid}" for sid in ids})

            done = await sm("send", "gwtest.0000", "x", ok=False)
            self.assertNotEqual(done.returncode, 0)
            self.assertIn("NOT_FOUND", done.stderr)

            self.assertEqual((await sm("business", "100", "api/wstest", "all")).stdout.strip(),
                             "2")
            self.assertEqual(await asyncio.wait_for(a.recv(), 5), "all")
            self.assertEqual(await asyncio.wait_for(b.recv(), 5), "all")
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv(), 0.3)

            (cid,) = (await sm("sessions", "200", "api/wstest")).stdout.split()
            await sm("send", cid, "last")
            await sm("close", cid, "4001")
            self.assertEqual(await asyncio.wait_for(c.recv(), 5), "last")
            with self.assertRaises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(c.recv(), 5)
            self.assertEqual(c.close_code, 4001)
            done = await sm("close", ids[0], "1005", ok=False)
            self.assertIn("INVALID_ARGUMENT", done.stderr)
            await a.close()
            await b.close()
        asyncio.run(scenario())


class Shutdown(unittest.TestCase):
    def test_sigterm_closes_sessions_with_1001(self):
        gw = Gateway()
        try:
            async def scenario():
                a = await websockets.connect(f"ws://127.0.0.1:{gw.port}/api/wstest?businessId=1")
                b = await websockets.connect(f"ws://127.0.0.1:{gw.port}/api/wstest?businessId=2")
                gw.proc.send_signal(signal.SIGTERM)
                for ws in (a, b):
                    with self.assertRaises(websockets.exceptions.ConnectionClosed):
                        await asyncio.wait_for(ws.recv(), 5)
                    self.assertEqual(ws.close_code, 1001)
            asyncio.run(scenario())
            self.assertEqual(gw.proc.wait(10), 0, gw.logs())
        finally:
            gw.close()


def main():
    global GATEWAY, SM_CLIENT
    GATEWAY = os.path.abspath(sys.argv[1])
    rest = sys.argv[2:]
    if rest and not rest[0].startswith("-"):
        SM_CLIENT = os.path.abspath(rest.pop(0))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
