"""gateway_test.py - silk-gateway-test driven by python3-websockets and raw sockets.

Usage: /usr/bin/python3 gateway_test.py silk-gateway-test
       [silk-gateway-sm [silk-gateway-items [silk-ctl-test]]] [unittest args]

Runs the gateway on a free loopback port with a private file registry, and checks the edge
on its own: sessions and their business id, handshake refusals, HTTP errors and limits,
WebSocket close codes, calls to a service that is not running, shutdown on SIGTERM, and,
with silk-gateway-sm, SessionManager over nng: Sessions, Send, SendToBusiness and Close, and,
with silk-gateway-items, the JSON web API: routes from http rules, path and query parameters,
every status, 405/415/413/431, chunked bodies, pipelining, --wrap-response, --forward-header
and /metrics.
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
import threading
import time
import unittest

import websockets

import procs

GATEWAY = None
SM_CLIENT = None
ITEMS = None
CTL = None
# silk status -> HTTP status, as grpc-gateway maps them.
HTTP_OF = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
           11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
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
        return procs.stop(self.proc)

    def close(self):
        self.stop()
        self.log.close()
        self.dir.cleanup()


def raw(port, data, read=True):
    """Sends bytes on a new connection and returns everything the gateway sends back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway refused the request before reading all of it
        out = b""
        while read:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
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

    def test_http11_needs_one_host(self):
        # RFC 9112 3.2: an HTTP/1.1 request without Host, or with two, is 400 (and closed).
        for req in (b"GET /healthz HTTP/1.1\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"):
            out = raw(self.port, req)
            self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:100])
            self.assertIn(b"Host header", out)
        # HTTP/1.0 needs none.
        out = raw(self.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out[:100])

    def test_a_body_without_content_type_is_415(self):
        # Not taken for JSON: a cross-site form POST could send one without a CORS preflight.
        status, body, _ = self.http("POST", "/api/wstest/echo",
                                    json.dumps({"businessId": "1", "msg": "x"}))
        self.assertEqual(status, 415, body)
        self.assertIn("no Content-Type", json.loads(body)["message"])
        # An empty body needs no type.
        status, body, _ = self.http("POST", "/api/wstest/echo", "")
        self.assertNotEqual(status, 415, body)

    def test_unusable_business_ids_are_400(self):
        # CR/LF (log and header injection), other control bytes, and bad UTF-8 are refused,
        # for a session and for a call, and nothing of them reaches the log raw.
        for bid in ("1%0d%0aERROR%20forged", "%1b%5b31m", "%ff%fe", "a" * 257):
            status, body, _ = self.http("GET", f"/api/wstest?businessId={bid}", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": KEY})
            self.assertEqual(status, 400, bid)
            self.assertIn("printable UTF-8", json.loads(body)["message"], bid)
        status, body, _ = self.http("POST", "/api/wstest/echo",
                                    json.dumps({"businessId": "7\r\nERROR forged", "msg": "x"}),
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 400, body)
        self.assertIn("printable UTF-8", json.loads(body)["message"])
        self.assertNotIn("\nERROR forged", self.gw.logs())

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
            s.sendall(req * 3 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
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
                      b"Content-Type: application/json\r\n"
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
            (client_frame(8, b"\x03"), 1002),  # RFC 6455 5.5.1: a 1-byte close body (Autobahn 7.3.2)
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
        raw(self.port, b"POST /api/wstest/echo HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
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


def read_responses(sock, n):
    """Reads n HTTP responses with Content-Length bodies; returns [(status, headers, body)]."""
    buf, out = b"", []
    sock.settimeout(10)
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            buf += sock.recv(65536)
        out.append((int(lines[0].split()[1]), headers, buf[:length]))
        buf = buf[length:]
    return out


class WebApi(unittest.TestCase):
    """The JSON web API against a real service: gwtest.Items answers with its request."""

    FLAGS = ("--forward-header", "X-Trace")

    @classmethod
    def setUpClass(cls):
        if ITEMS is None:
            raise unittest.SkipTest("no silk-gateway-items given")
        cls.gw = Gateway(*cls.FLAGS)
        cls.port = cls.gw.port
        # The service exports its own metrics too (SILK_METRICS_LISTEN): test_upstream_metrics.
        cls.svc_metrics_port = free_port()
        env = dict(os.environ, SILK_REGISTRY=f"file:{cls.gw.dir.name}/registry",
                   SILK_METRICS_LISTEN=f"127.0.0.1:{cls.svc_metrics_port}")
        cls.svc_log = open(os.path.join(cls.gw.dir.name, "items.log"), "w+")
        cls.svc = subprocess.Popen([ITEMS], env=env, stdout=cls.svc_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            status, body, _ = cls.request("GET", "/api/items/ready")
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        if status != 200:
            cls.tearDownClass()
            raise RuntimeError(f"gwtest.Items never answered: {status} {body}")

    @classmethod
    def tearDownClass(cls):
        if cls.svc.poll() is None:
            cls.svc.send_signal(signal.SIGTERM)
            try:
                cls.svc.wait(10)
            except subprocess.TimeoutExpired:
                cls.svc.kill()
                cls.svc.wait()
        cls.svc_log.seek(0)
        svc_logs = cls.svc_log.read()
        cls.svc_log.close()
        code = cls.gw.stop()
        logs = cls.gw.logs()
        if code != 0:
            print(logs, file=sys.stderr)
        cls.gw.close()
        assert code == 0, f"the gateway exited {code}"
        assert cls.svc.returncode == 0, f"silk-gateway-items exited {cls.svc.returncode}:\n{svc_logs}"
        for text in (logs, svc_logs):
            assert "runtime error:" not in text and "Sanitizer" not in text, text

    @classmethod
    def request(cls, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def call(self, method, path, body=None, headers=None, want=200):
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        status, text, hdrs = self.request(method, path, body, h)
        self.assertEqual(status, want, f"{method} {path}: {text}")
        self.assertEqual(hdrs.get("content-type"), "application/json", hdrs)
        return json.loads(text), hdrs

    def test_get_with_path_and_query_parameters(self):
        got, _ = self.call("GET", "/api/items/42?count=3&tags=a&tags=b%20c&flag=true&kind=KIND_PEN"
                           "&big=9007199254740993&page.size=5&at=2020-01-01T00:00:00Z&blob=AQI")
        self.assertEqual(got, {"id": "42", "count": 3, "big": "9007199254740993", "flag": True,
                               "kind": "KIND_PEN", "tags": ["a", "b c"], "page": {"size": 5},
                               "at": "2020-01-01T00:00:00Z", "blob": "AQI="})
        # Both names of a field; the path wins over the query.
        got, _ = self.call("GET", "/api/items/7?fail_code=0&id=8&seen_trace=x")
        self.assertEqual(got, {"id": "7"})
        self.assertEqual(self.call("GET", "/api/items/special")[0], {})
        self.assertEqual(self.call("GET", "/api/pages/10")[0], {"page": {"size": 10}})
        got, _ = self.call("GET", "/api/items/a%2Fb%20c")
        self.assertEqual(got, {"id": "a/b c"})

    def test_wildcard_templates(self):
        # {id=**} takes the rest of the path; escapes are decoded.
        got, _ = self.call("GET", "/api/files/a/b%20c/d.txt")
        self.assertEqual(got, {"id": "a/b c/d.txt"})
        # {shelf=shelves/*} takes its literal too, then {id} one segment.
        got, _ = self.call("GET", "/api/v1/shelves/s1/books/b2?count=1")
        self.assertEqual(got, {"shelf": "shelves/s1", "id": "b2", "count": 1})
        self.assertEqual(self.request("GET", "/api/v1/racks/s1/books/b2")[0], 404)
        self.assertEqual(self.request("GET", "/api/files")[0], 404)
        self.assertEqual(self.request("POST", "/api/files/x/y")[0], 405)

    def test_a_forwarded_header_given_twice_is_400(self):
        # --forward-header X-Trace: a second X-Trace appended by the client after a proxy's
        # must not be forwarded in its place (nor beside it).
        out = raw(self.port, b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Trace: proxy\r\n"
                  b"X-Trace: client\r\nConnection: close\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:100])
        self.assertIn(b"X-Trace is given more than once", out)

    def test_business_id_and_forwarded_headers_travel_as_metadata(self):
        got, _ = self.call("GET", "/api/items?businessId=100", headers={"X-Trace": "t-1"})
        self.assertEqual(got, {"businessId": "100", "seenBusinessId": "100", "seenTrace": "t-1"})
        # Every name of the business id fills the field.
        for name in ("bussinessId", "BUSINESSID", "business_id"):
            got, _ = self.call("GET", f"/api/items?{name}=101")
            self.assertEqual(got, {"businessId": "101", "seenBusinessId": "101"}, name)
        got, _ = self.call("GET", "/api/items", headers={"business-id": "200", "X-Other": "no"})
        self.assertEqual(got, {"seenBusinessId": "200"})

    def test_body_verbs(self):
        body = {"id": "1", "shelf": "s", "count": -2, "big": "-9223372036854775808",
                "kind": 1, "tags": [], "page": {"token": "t"}, "at": "1972-01-01T10:00:20.021Z",
                "blob": "AAEC/w=="}
        got, _ = self.call("POST", "/api/items", body)
        self.assertEqual(got, {"id": "1", "shelf": "s", "count": -2, "big": "-9223372036854775808",
                               "kind": "KIND_BOOK", "page": {"token": "t"},
                               "at": "1972-01-01T10:00:20.021Z", "blob": "AAEC/w=="})
        self.assertEqual(self.call("POST", "/api/items", {"fail_code": 0})[0], {})
        self.assertEqual(self.call("POST", "/api/items", "")[0], {})
        # The path's {id} fills the field over the body's.
        self.assertEqual(self.call("PUT", "/api/items/7", {"id": "9", "count": 2})[0],
                         {"id": "7", "count": 2})
        self.assertEqual(self.call("PATCH", "/api/shelves/s%2F1/items/i2", {})[0],
                         {"id": "i2", "shelf": "s/1"})
        self.assertEqual(self.call("DELETE", "/api/items/9?flag=true")[0], {"id": "9", "flag": True})
        # JSON types other than application/json itself.
        got, _ = self.call("POST", "/api/items", {"id": "v"},
                           {"Content-Type": "application/vnd.x+json; charset=utf-8"})
        self.assertEqual(got, {"id": "v"})

    def test_json_name(self):
        # [json_name = "displayName"] on nickname: written so, read so or by the proto name,
        # in a body and in the query; the default lowerCamelCase name is not one of them.
        self.assertEqual(self.call("POST", "/api/items", {"displayName": "d"})[0],
                         {"displayName": "d"})
        self.assertEqual(self.call("POST", "/api/items", {"nickname": "n"})[0],
                         {"displayName": "n"})
        self.assertEqual(self.call("GET", "/api/items/1?displayName=q")[0],
                         {"id": "1", "displayName": "q"})
        got, _ = self.call("POST", "/api/items", {"nickName": "x"}, want=400)
        self.assertIn("nickName", got["message"])

    def test_head(self):
        status, body, hdrs = self.request("HEAD", "/api/items/1")
        self.assertEqual(status, 200)
        self.assertEqual(body, "")
        self.assertEqual(hdrs["content-length"], str(len('{"id":"1"}')))

    def test_bad_requests_are_400_saying_where(self):
        cases = [
            ("POST", "/api/items", "{not json", "malformed JSON at line 1 column"),
            ("POST", "/api/items", '{"nope":1}', 'unknown field "nope" in gwtest.Item'),
            ("POST", "/api/items", '{"count":"x"}', 'field "count"'),
            ("POST", "/api/items", '{"count":4294967296}', "out of range for int32"),
            ("POST", "/api/items", '{"page":{"size":true}}', 'field "page.size"'),
            ("POST", "/api/items", '{"tags":[1]}', 'field "tags[0]"'),
            ("POST", "/api/items", '{"big":18446744073709551616}', "as strings"),
            ("POST", "/api/items", '{"kind":"KIND_CAR"}', "KIND_CAR"),
            ("GET", "/api/items?nope=1", None, "query parameter nope: no field"),
            ("GET", "/api/items?count=abc", None, "query parameter count"),
            ("GET", "/api/items?page=1", None, "query parameter page"),
            ("GET", "/api/items?count=%zz", None, "malformed query string"),
            ("GET", "/api/pages/x", None, "path parameter page.size"),
        ]
        for method, path, body, says in cases:
            status, text, _ = self.request(method, path, body,
                                           {"Content-Type": "application/json"} if body else {})
            self.assertEqual(status, 400, (path, body, text))
            reply = json.loads(text)
            self.assertEqual(reply["code"], 3)
            self.assertIn(says, reply["message"], (path, body))

    def test_every_status_from_the_service(self):
        for code in range(1, 17):
            status, text, _ = self.request("POST", "/api/items/fail",
                                           json.dumps({"failCode": code}),
                                           {"Content-Type": "application/json"})
            self.assertEqual(status, HTTP_OF[code], (code, text))
            self.assertEqual(json.loads(text),
                             {"code": code, "message": f"failing with {code} as asked"})

    def test_gateway_statuses(self):
        status, text, _ = self.request("GET", "/api/nothing")
        self.assertEqual((status, json.loads(text)["code"]), (404, 5))
        self.assertIn("no route for GET /api/nothing", json.loads(text)["message"])
        status, text, hdrs = self.request("POST", "/api/items/7", "{}")
        self.assertEqual((status, json.loads(text)["code"]), (405, 12))
        self.assertEqual(hdrs["allow"], "GET, HEAD, PUT, DELETE")
        status, _, hdrs = self.request("DELETE", "/api/wstest")
        self.assertEqual((status, hdrs["allow"]), (405, "GET, HEAD"))
        status, text, _ = self.request("POST", "/api/items", "id=1",
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, json.loads(text)["code"]), (415, 3))
        self.assertIn("application/json", json.loads(text)["message"])
        out = raw(self.port, b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"400000\r\n" + b" " * 0x400000 + b"\r\n1\r\n \r\n0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        out = raw(self.port, b"GET /api/items HTTP/1.1\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:100])

    def test_chunked_body(self):
        body = b'{"id":"chunked","tags":["' + b"x" * 3000 + b'"]}'
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            s.sendall(chunks[:500])
            time.sleep(0.05)
            s.sendall(chunks[500:] + b"0\r\n\r\n")
            ((status, _, reply),) = read_responses(s, 1)
        self.assertEqual(status, 200, reply)
        self.assertEqual(json.loads(reply), {"id": "chunked", "tags": ["x" * 3000]})

    def test_keep_alive_and_pipelined_calls_answered_in_order(self):
        reqs = b""
        for i in range(5):
            body = json.dumps({"id": str(i), "failCode": 5 if i == 2 else 0}).encode()
            path = b"/api/items/fail" if i == 2 else b"/api/items"
            reqs += (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (path, len(body), body))
        reqs += b"GET /api/items/last HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(reqs)
            got = read_responses(s, 6)
            # Still open: one more on the same connection.
            s.sendall(b"GET /api/items/again HTTP/1.1\r\nHost: x\r\n\r\n")
            got += read_responses(s, 1)
        self.assertEqual([g[0] for g in got], [200, 200, 404, 200, 200, 200, 200])
        ids = [json.loads(g[2]).get("id") for g in got]
        self.assertEqual(ids, ["0", "1", None, "3", "4", "last", "again"])

    def test_pipelined_answers_to_a_client_that_reads_late(self):
        # A client that pipelines calls and reads nothing for a while: the socket fills, the
        # gateway keeps what it could not write of an answer (each one is first written at
        # once from the loop's buffer) and stops parsing; once the client reads, every answer
        # arrives whole and in order, and the connection still serves.
        n, tags = 800, ["x" * 12000]  # 9.6 MB of answers: more than a socket holds
        reqs = b""
        for i in range(n):
            body = json.dumps({"id": "late%d" % i, "tags": tags}).encode()
            reqs += (b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(20)
            s.connect(("127.0.0.1", self.port))
            sender = threading.Thread(target=s.sendall, args=(reqs,))
            sender.start()
            time.sleep(0.5)  # the answers pile up against a full socket meanwhile
            got = read_responses(s, n)
            sender.join(20)
            s.sendall(b"GET /api/items/after HTTP/1.1\r\nHost: x\r\n\r\n")
            got += read_responses(s, 1)
        self.assertEqual(len(got), n + 1)
        self.assertEqual({g[0] for g in got}, {200})
        replies = [json.loads(g[2]) for g in got[:n]]
        self.assertEqual([r["id"] for r in replies], ["late%d" % i for i in range(n)])
        self.assertTrue(all(r["tags"] == tags for r in replies))
        self.assertEqual(json.loads(got[n][2])["id"], "after")

    def test_requests_sent_while_a_call_is_in_flight(self):
        # Each request in a segment of its own, sent while the one before may still be in its
        # call, then the client's side closed: every one is answered, in order, and the
        # connection closes after the last.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(3):
                s.sendall(b"GET /api/items/seg%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            s.shutdown(socket.SHUT_WR)
            got = read_responses(s, 3)
            self.assertEqual(s.recv(1), b"")
        self.assertEqual([g[0] for g in got], [200, 200, 200])
        self.assertEqual([json.loads(g[2]).get("id") for g in got], ["seg0", "seg1", "seg2"])

    def test_deep_health(self):
        status, text, _ = self.request("GET", "/healthz")
        self.assertEqual((status, json.loads(text)), (200, {"status": "SERVING"}))
        # gwtest.Items runs; WsTest and Plain do not.
        status, text, _ = self.request("GET", "/healthz?deep=1")
        self.assertEqual(status, 503, text)
        reply = json.loads(text)
        self.assertEqual(reply["status"], "NOT_SERVING")
        self.assertEqual(reply["services"]["gwtest.Items"], "SERVING")
        self.assertRegex(reply["services"]["wstest.WsTest"], r"^(UNAVAILABLE|DEADLINE_EXCEEDED)")
        self.assertRegex(reply["services"]["gwtest.Plain"], r"^(UNAVAILABLE|DEADLINE_EXCEEDED)")
        # Pipelined behind a deep check, answered in order.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /healthz?deep=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /api/items/after HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_responses(s, 2)
        self.assertEqual([g[0] for g in got], [503, 200])

    def ctl(self, *args, stdin=None):
        if CTL is None:
            self.skipTest("no silk-ctl-test given")
        env = dict(os.environ, SILK_REGISTRY=f"file:{self.gw.dir.name}/registry")
        return subprocess.run([CTL, *args], env=env, capture_output=True, text=True, timeout=20,
                              input=stdin)

    def test_silk_ctl(self):
        done = self.ctl("call", "gwtest.Items/Create", '{"id":"c1","big":"9007199254740993"}')
        self.assertEqual((done.returncode, done.stderr), (0, ""))
        self.assertEqual(json.loads(done.stdout), {"id": "c1", "big": "9007199254740993"})
        done = self.ctl("call", "/gwtest.Items/Get", "--metadata", "business-id=77", "-d",
                        '{"id":"g"}', "--timeout", "3000")
        self.assertEqual(json.loads(done.stdout), {"id": "g", "seenBusinessId": "77"}, done.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write('{"tags":["from-file"]}')
            f.flush()
            done = self.ctl("call", "gwtest.Items.List", "-d", "@" + f.name)
        self.assertEqual(json.loads(done.stdout), {"tags": ["from-file"]}, done.stderr)
        done = self.ctl("call", "gwtest.Items/List", "-d", "@-", stdin='{"count":4}')
        self.assertEqual(json.loads(done.stdout), {"count": 4}, done.stderr)
        self.assertEqual(json.loads(self.ctl("call", "gwtest.Items/List").stdout), {})
        # Failures: the service's status, bad JSON, no such method, a bad command line.
        done = self.ctl("call", "gwtest.Items/Fail", '{"failCode":5}')
        self.assertEqual(done.returncode, 1)
        self.assertIn("NOT_FOUND: failing with 5 as asked", done.stderr)
        done = self.ctl("call", "gwtest.Items/Create", '{"nope":1}')
        self.assertEqual(done.returncode, 1)
        self.assertIn('INVALID_ARGUMENT: unknown field "nope"', done.stderr)
        self.assertEqual(self.ctl("call", "gwtest.Items/Nope").returncode, 2)
        self.assertEqual(self.ctl("frob").returncode, 2)
        done = self.ctl("methods")
        self.assertEqual(done.returncode, 0)
        self.assertIn("gwtest.Items/Get\tGET /api/items/{id}\tgwtest.Item -> gwtest.Item", done.stdout)

    def test_metrics(self):
        self.call("GET", "/api/items/m")
        self.request("GET", "/api/nothing")
        status, text, hdrs = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs)
        self.assertIn('silk_gateway_http_requests_total{route="/gwtest.Items/Get",status="200"}',
                      text)
        self.assertIn('silk_gateway_http_requests_total{route="other",status="404"}', text)
        self.assertIn('silk_gateway_http_request_duration_seconds_bucket{route="/gwtest.Items/Get",'
                      'le="+Inf"}', text)
        self.assertIn("# TYPE silk_gateway_http_request_duration_seconds histogram", text)
        self.assertRegex(text, r"\nsilk_gateway_open_sessions \d+\n")
        self.assertRegex(text, r"\nsilk_gateway_pushes_sent_total \d+\n")
        self.request("POST", "/api/items/fail", '{"failCode":14}',
                     {"Content-Type": "application/json"})
        _, text, _ = self.request("GET", "/metrics")
        self.assertRegex(text, r'silk_gateway_upstream_failures_total\{code="UNAVAILABLE"\} \d+')
        for line in text.splitlines():
            self.assertRegex(line, r'^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$')

    @staticmethod
    def samples(port):
        """GET /metrics on port, as {'name{labels}': value}."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            text = resp.read().decode()
        finally:
            conn.close()
        return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                         if line and not line.startswith("#"))}

    def test_upstream_metrics(self):
        # The calls the gateway makes, counted by method and status at the gateway, and the
        # same calls counted by the service behind it (its own SILK_METRICS_LISTEN).
        def key(name, method, code=None):
            return f'{name}{{method="/gwtest.Items/{method}"' + (f',code="{code}"}}' if code else "}")
        calls, count = "silk_gateway_upstream_calls_total", \
            "silk_gateway_upstream_call_duration_seconds_count"
        served = "silk_server_calls_total"
        gw0, svc0 = self.samples(self.port), self.samples(self.svc_metrics_port)
        for i in range(3):
            self.call("GET", f"/api/items/u{i}")
        for code in (5, 14):
            self.request("POST", "/api/items/fail", json.dumps({"failCode": code}),
                         {"Content-Type": "application/json"})
        gw, svc = self.samples(self.port), self.samples(self.svc_metrics_port)

        def delta(now, before, k):
            return now.get(k, 0) - before.get(k, 0)
        self.assertEqual(delta(gw, gw0, key(calls, "Get", "OK")), 3)
        self.assertEqual(delta(gw, gw0, key(calls, "Fail", "NOT_FOUND")), 1)
        self.assertEqual(delta(gw, gw0, key(calls, "Fail", "UNAVAILABLE")), 1)
        for method in ("Get", "Fail"):
            total = sum(v for k, v in gw.items() if k.startswith(key(calls, method)[:-1] + ","))
            self.assertEqual(gw[key(count, method)], total, method)
            self.assertEqual(gw[f'silk_gateway_upstream_call_duration_seconds_bucket'
                                f'{{method="/gwtest.Items/{method}",le="+Inf"}}'], total)
        self.assertEqual(delta(svc, svc0, key(served, "Get", "OK")), 3)
        self.assertEqual(delta(svc, svc0, key(served, "Fail", "NOT_FOUND")), 1)
        self.assertEqual(delta(svc, svc0, key(served, "Fail", "UNAVAILABLE")), 1)
        self.assertEqual(svc["silk_server_calls_in_flight"], 0)
        self.assertGreaterEqual(svc["silk_server_connections"], 1, "the gateway's connection")


class WrappedWebApi(WebApi):
    """--wrap-response: Silky's {"result":..,"status":..,"code":..,"errorMessage":..}."""

    FLAGS = ("--wrap-response",)

    def test_wrapped_replies(self):
        status, text, _ = self.request("GET", "/api/items/1")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(text), {"result": {"id": "1"}, "status": 200, "code": 0,
                                            "errorMessage": None, "validErrors": None})
        status, text, _ = self.request("POST", "/api/items/fail", '{"failCode":5}',
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(text), {"result": None, "status": 404, "code": 5,
                                            "errorMessage": "failing with 5 as asked",
                                            "validErrors": None})
        status, text, _ = self.request("GET", "/api/nothing")
        self.assertEqual((status, json.loads(text)["status"], json.loads(text)["code"]),
                         (404, 404, 5))

    def test_wrapped_valid_errors(self):
        # A request the transcoder refuses: validErrors names the field.
        status, text, _ = self.request("POST", "/api/items", '{"page":{"size":"x"}}',
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        reply = json.loads(text)
        self.assertEqual((reply["code"], reply["result"]), (3, None))
        self.assertEqual(reply["validErrors"], [{"memberName": "page.size",
                                                 "errorMessages": [reply["errorMessage"]]}])
        status, text, _ = self.request("GET", "/api/items/1?nope=2")
        self.assertEqual(json.loads(text)["validErrors"][0]["memberName"], "nope")
        # The service's own INVALID_ARGUMENT gets one too, without a field it does not name.
        status, text, _ = self.request("POST", "/api/items/fail", '{"failCode":3}',
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(text)["validErrors"],
                         [{"memberName": None, "errorMessages": ["failing with 3 as asked"]}])

    # The plain checks that read unwrapped bodies do not apply here.
    test_get_with_path_and_query_parameters = None
    test_business_id_and_forwarded_headers_travel_as_metadata = None
    test_body_verbs = None
    test_json_name = None
    test_a_forwarded_header_given_twice_is_400 = None
    test_bad_requests_are_400_saying_where = None
    test_every_status_from_the_service = None
    test_wildcard_templates = None
    test_gateway_statuses = None
    test_chunked_body = None
    test_keep_alive_and_pipelined_calls_answered_in_order = None
    test_pipelined_answers_to_a_client_that_reads_late = None
    test_requests_sent_while_a_call_is_in_flight = None
    test_metrics = None
    test_upstream_metrics = None
    test_head = None
    test_deep_health = None
    test_silk_ctl = None


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
    global GATEWAY, SM_CLIENT, ITEMS, CTL
    GATEWAY = os.path.abspath(sys.argv[1])
    rest = sys.argv[2:]
    if rest and not rest[0].startswith("-"):
        SM_CLIENT = os.path.abspath(rest.pop(0))
    if rest and not rest[0].startswith("-"):
        ITEMS = os.path.abspath(rest.pop(0))
    if rest and not rest[0].startswith("-"):
        CTL = os.path.abspath(rest.pop(0))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
