"""strict_http_test.py - strict HTTP/1.1 (RFC 9112) and CORS at silk-gateway (issue 14, item 3).

Usage: /usr/bin/python3 strict_http_test.py silk-gateway-test silk-gateway-items [unittest args]

Each form of request that two readers could split differently (whitespace before a colon,
obs-fold, bare LF or CR, a field name that is not a token, Content-Length with
Transfer-Encoding, Content-Lengths that differ, codings other than a final chunked) has its
own case: the gateway answers 400 (501 for a coding it does not decode) with its JSON error
and Connection: close, logs why at debug, and serves the next connection. Then --cors-origin:
preflights answered only for the origins given, '*', the headers of actual responses, none on
a WebSocket handshake, and none at all without the flag.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import procs

GATEWAY = None
ITEMS = None


def raw(port, data):
    """Sends bytes on a new connection; returns all the gateway sends back before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def parse(out):
    """Splits one response into (status, {lower-case name: value}, body)."""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def request(port, method, path, headers=None, body=b""):
    """One request on its own connection (closed after it): (status, headers, body)."""
    h = {"Host": "127.0.0.1", "Connection": "close"}
    h.update(headers or {})
    if body:
        h["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return parse(raw(port, head.encode() + b"\r\n" + body))


class Served:
    """A gateway (and, with items, gwtest.Items beside it) in a private registry."""

    def __init__(self, *flags, items=False):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-strict-")
        self.gw = procs.start_gateway(GATEWAY, self.dir.name, "strict", *flags)
        self.port = self.gw.port
        self.svc = None
        if items:
            self.svc = procs.Proc([ITEMS], self.dir.name, "items")
            procs.wait_for(lambda: request(self.port, "GET", "/api/items/ready")[0] == 200,
                           timeout=15, what="gwtest.Items")

    def logs(self):
        return self.gw.text()

    def close(self):
        codes = []
        if self.svc is not None:
            codes.append(("silk-gateway-items", self.svc.close(), self.svc))
        codes.append(("the gateway", self.gw.close(), self.gw))
        for name, code, proc in codes:
            text = open(proc.out.name).read()
            assert code == 0, f"{name} exited {code}:\n{text}"
            assert "runtime error:" not in text and "Sanitizer" not in text, text
        self.dir.cleanup()


class StrictHttp(unittest.TestCase):
    """Each refused form has its own case; every one leaves the gateway serving."""

    @classmethod
    def setUpClass(cls):
        cls.served = Served()
        cls.port = cls.served.port

    @classmethod
    def tearDownClass(cls):
        cls.served.close()

    def refused(self, req, status=400, why=None):
        out = raw(self.port, req)
        self.assertTrue(out.startswith(f"HTTP/1.1 {status} ".encode()), (req, out[:200]))
        code, headers, body = parse(out)
        self.assertEqual(headers.get("connection"), "close", out)
        self.assertEqual(headers.get("content-type"), "application/json", out)
        err = json.loads(body)
        self.assertEqual(err["code"], 12 if status == 501 else 3, err)
        if why is not None:
            self.assertIn(why, err["message"])
        # The gateway serves the next connection.
        served, _, body = request(self.port, "GET", "/healthz")
        self.assertEqual(served, 200, body)
        return err

    def test_whitespace_before_the_colon(self):
        # RFC 9112 5.1: a proxy may take "Transfer-Encoding " for another field and frame
        # the body by Content-Length; silk would have framed it by nothing at all.
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", why="not a token")
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Length\t: 2\r\n\r\n{}")
        self.assertRegex(self.served.logs(),
                         r'bad request status=400 reason="[^"]*not a token[^"]*" '
                         r'detail="Transfer-Encoding "')

    def test_obs_fold(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", why="obs-fold")
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", why="obs-fold")
        # Whitespace before the first field (RFC 9112 2.2).
        self.refused(b"GET /healthz HTTP/1.1\r\n Host: h\r\n\r\n", why="whitespace")

    def test_bare_lf_in_the_request_line(self):
        self.refused(b"GET /healthz HTTP/1.1\nHost: h\r\n\r\n", why="bare LF")

    def test_bare_lf_in_a_header_line(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", why="bare LF")

    def test_bare_lf_ending_the_head(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\n", why="bare LF")
        self.refused(b"GET /healthz HTTP/1.1\nHost: h\n\n", why="bare LF")

    def test_bare_cr(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\rX: y\r\n\r\n")
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\r\n")
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\n{}XY0\r\n\r\n", why="CRLF")

    def test_space_in_a_header_name(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\nX Forwarded: 1\r\n\r\n",
                     why="not a token")

    def test_other_non_token_bytes_in_a_header_name(self):
        for name in (b"X(Y", b"X/Y", b"X@Y", b"X\x01Y", b""):
            self.refused(b"GET /healthz HTTP/1.1\r\nHost: h\r\n" + name + b": 1\r\n\r\n")

    def test_content_length_and_transfer_encoding(self):
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")

    def test_content_lengths_that_differ(self):
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Content-Length: 3\r\n\r\n{}x")
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2, 3\r\n\r\n{}x")

    def test_transfer_encoding_not_ending_in_chunked(self):
        for te in (b"gzip", b"chunked, gzip", b"chunked, chunked", b"identity"):
            self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: " + te +
                         b"\r\n\r\n0\r\n\r\n")
        # Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1).
        self.refused(b"POST /api/wstest/echo HTTP/1.0\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")

    def test_a_coding_before_chunked_is_501(self):
        self.refused(b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     b"0\r\n\r\n", status=501, why="not implemented")

    def test_http11_without_host(self):
        self.refused(b"GET /healthz HTTP/1.1\r\n\r\n", why="Host")

    def test_a_smuggled_request_is_never_served(self):
        # What a lenient proxy would pass as one request, with a second one in its body.
        out = raw(self.port, b"POST /api/wstest/echo HTTP/1.1\r\nHost: h\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 47\r\n"
                             b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
                             b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        self.assertNotIn("/smuggled", self.served.logs())

    def test_lawful_requests_still_pass(self):
        # Chunked with an extension and a trailer, pipelined with a plain request.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"2;x=y\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"
                      b"\r\nGET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        self.assertTrue(out.startswith(b"HTTP/1.1 405 "), out)  # /healthz takes GET only
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 1, out)


class NoCors(unittest.TestCase):
    """Without --cors-origin, OPTIONS and Origin are answered as they always were."""

    @classmethod
    def setUpClass(cls):
        cls.served = Served()
        cls.port = cls.served.port

    @classmethod
    def tearDownClass(cls):
        cls.served.close()

    def test_a_preflight_gets_405_and_no_cors(self):
        status, headers, _ = request(self.port, "OPTIONS", "/api/wstest/echo", {
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "POST")
        self.assertFalse([h for h in headers if h.startswith("access-control-")], headers)
        status, _, _ = request(self.port, "OPTIONS", "/no/such/path", {
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(status, 404)

    def test_responses_carry_no_cors(self):
        status, headers, _ = request(self.port, "GET", "/healthz",
                                     {"Origin": "https://app.example"})
        self.assertEqual(status, 200)
        self.assertFalse([h for h in headers if h.startswith("access-control-")], headers)
        self.assertNotIn("vary", headers)


def cors_headers(headers):
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


class Cors(unittest.TestCase):
    """--cors-origin for two origins, with gwtest.Items answering the web API."""

    ORIGIN = "https://app.example"
    FLAGS = ("--cors-origin", "https://app.example", "--cors-origin", "http://localhost:3000",
             "--forward-header", "X-Trace", "--allow-origin", "https://app.example")

    @classmethod
    def setUpClass(cls):
        if ITEMS is None:
            raise unittest.SkipTest("no silk-gateway-items given")
        cls.served = Served(*cls.FLAGS, items=True)
        cls.port = cls.served.port

    @classmethod
    def tearDownClass(cls):
        cls.served.close()

    def preflight(self, path, method, origin=None, req_headers=None):
        h = {"Origin": origin or self.ORIGIN, "Access-Control-Request-Method": method}
        if req_headers:
            h["Access-Control-Request-Headers"] = req_headers
        return request(self.port, "OPTIONS", path, h)

    def test_preflight_from_a_listed_origin(self):
        status, headers, body = self.preflight("/api/items/7", "PUT", req_headers="content-type,x-trace")
        self.assertEqual(status, 204, body)
        self.assertEqual(body, b"")
        self.assertNotIn("content-length", headers)  # RFC 9110 8.6
        self.assertEqual(headers["access-control-allow-origin"], self.ORIGIN)
        self.assertIn("Origin", headers["vary"])
        self.assertEqual(headers["access-control-allow-methods"], "GET, HEAD, PUT, DELETE")
        allowed = [h.strip().lower() for h in headers["access-control-allow-headers"].split(",")]
        for h in ("content-type", "authorization", "x-trace"):
            self.assertIn(h, allowed)
        self.assertEqual(headers["access-control-max-age"], "600")
        self.assertNotIn("access-control-allow-credentials", headers)
        # The other origin, and an Origin in other case (scheme and host are not case
        # sensitive): the Origin as sent comes back.
        status, headers, _ = self.preflight("/api/items", "POST", origin="http://localhost:3000")
        self.assertEqual(status, 204)
        self.assertEqual(headers["access-control-allow-origin"], "http://localhost:3000")
        self.assertEqual(headers["access-control-allow-methods"], "GET, HEAD, POST")
        status, headers, _ = self.preflight("/api/items", "POST", origin="HTTPS://App.Example")
        self.assertEqual(status, 204)
        self.assertEqual(headers["access-control-allow-origin"], "HTTPS://App.Example")

    def test_preflight_for_a_method_the_path_does_not_take(self):
        # Answered with the methods it does take: the browser then refuses the request.
        status, headers, _ = self.preflight("/api/items/7", "PATCH")
        self.assertEqual(status, 204)
        self.assertNotIn("PATCH", headers["access-control-allow-methods"])

    def test_preflight_from_an_unlisted_origin_is_403(self):
        for origin in ("https://evil.example", "https://app.example.evil", "null",
                       "https://app.example:8443", "http://app.example"):
            status, headers, body = self.preflight("/api/items/7", "GET", origin=origin)
            self.assertEqual(status, 403, origin)
            self.assertEqual(json.loads(body)["code"], 7, body)
            self.assertEqual(cors_headers(headers), {}, (origin, headers))

    def test_options_elsewhere_is_as_without_the_flag(self):
        # Not a web API route: the WebSocket route, the gateway's own paths, no path at all.
        for path, want in (("/api/wstest", 405), ("/healthz", 405), ("/no/such/path", 404)):
            status, headers, _ = self.preflight(path, "GET")
            self.assertEqual(status, want, path)
            self.assertNotIn("access-control-allow-methods", headers)
        # An OPTIONS that is no preflight (no Access-Control-Request-Method).
        status, headers, _ = request(self.port, "OPTIONS", "/api/items/7",
                                     {"Origin": self.ORIGIN})
        self.assertEqual(status, 405)
        self.assertNotIn("access-control-allow-methods", headers)

    def test_actual_responses_from_a_listed_origin(self):
        status, headers, body = request(self.port, "GET", "/api/items/7",
                                        {"Origin": self.ORIGIN})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["access-control-allow-origin"], self.ORIGIN)
        self.assertIn("Origin", headers["vary"])
        self.assertIn("Retry-After", headers["access-control-expose-headers"])
        self.assertNotIn("access-control-allow-credentials", headers)
        # Errors too, so that the page can read why.
        status, headers, body = request(self.port, "POST", "/api/items", {"Origin": self.ORIGIN},
                                        body=b"{}")
        self.assertEqual(status, 415, body)
        self.assertEqual(headers["access-control-allow-origin"], self.ORIGIN)

    def test_actual_responses_to_others(self):
        status, headers, body = request(self.port, "GET", "/api/items/7",
                                        {"Origin": "https://evil.example"})
        self.assertEqual(status, 200, body)
        self.assertNotIn("access-control-allow-origin", headers)
        self.assertIn("Origin", headers["vary"])  # a cache must not hand it to app.example
        status, headers, _ = request(self.port, "GET", "/api/items/7")
        self.assertEqual(status, 200)
        self.assertNotIn("access-control-allow-origin", headers)

    def test_no_cors_on_the_websocket_handshake(self):
        req = (b"GET /api/wstest?businessId=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://app.example\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertNotIn(b"Access-Control-", head)
        self.assertNotIn(b"Vary", head)


class CorsAnyOrigin(unittest.TestCase):
    """--cors-origin '*': any origin, answered with '*' and never with credentials."""

    @classmethod
    def setUpClass(cls):
        cls.served = Served("--cors-origin", "*")
        cls.port = cls.served.port

    @classmethod
    def tearDownClass(cls):
        cls.served.close()

    def test_any_origin(self):
        for origin in ("https://a.example", "http://localhost:8080", "null"):
            status, headers, body = request(self.port, "OPTIONS", "/api/wstest/echo", {
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, Authorization"})
            self.assertEqual(status, 204, body)
            self.assertEqual(headers["access-control-allow-origin"], "*")
            self.assertEqual(headers["access-control-allow-methods"], "POST")
            self.assertIn("Authorization", headers["access-control-allow-headers"])
            self.assertNotIn("access-control-allow-credentials", headers)
        status, headers, _ = request(self.port, "POST", "/api/wstest/echo",
                                     {"Origin": "https://a.example",
                                      "Content-Type": "application/json"},
                                     body=b'{"businessId":"1"}')
        self.assertEqual(headers.get("access-control-allow-origin"), "*", (status, headers))
        # With or without an Origin the answer is the same, so no Vary.
        status, headers, _ = request(self.port, "GET", "/healthz")
        self.assertEqual(headers.get("access-control-allow-origin"), "*", (status, headers))
        self.assertNotIn("vary", headers)


class CommandLine(unittest.TestCase):
    def test_bad_cors_origins_are_refused(self):
        for bad in ("", "app.example", "https://app.example/", "https://app.example/path",
                    "ftp://app.example", "https://", "https://a b"):
            p = subprocess.run([GATEWAY, "--cors-origin", bad, "--listen", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertIn("--cors-origin", p.stderr)
        p = subprocess.run([GATEWAY, "--help"], capture_output=True, text=True, timeout=10)
        self.assertIn("--cors-origin ORIGIN", p.stdout)


def main():
    global GATEWAY, ITEMS
    GATEWAY = os.path.abspath(sys.argv[1])
    rest = sys.argv[2:]
    if rest and not rest[0].startswith("-"):
        ITEMS = os.path.abspath(rest.pop(0))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
