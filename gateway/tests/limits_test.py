"""limits_test.py - the gateway's limits of issue 14, with real gateways and services.

Usage: /usr/bin/python3 limits_test.py BIN_DIR [unittest args]

BIN_DIR holds silk-gateway-test, silk-gateway-sm and wstest-service (edge_test.py's Stack).
Rate limits per client address (429 with Retry-After, a handshake too, new connections
counted), --trust-proxy and X-Forwarded-For, the cap per address, --session-rate's
backpressure (a flooding session slowed, not closed, while another is served), and
slowloris: 2,000 connections sending a header byte now and then, closed with 408 at
--header-timeout while new clients are served.
"""
import asyncio
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time
import unittest

import websockets

import edge_test as edge
from edge_test import Conn, Stack
from procs import wait_for


def request(port, path="/healthz", headers=None, method="GET"):
    """One request on its own connection: (status, head text, body bytes)."""
    h = {"Host": "127.0.0.1", "Connection": "close"}
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((head + "\r\n").encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode(), body


def metric(port, name):
    """A counter or gauge of the gateway's /metrics (its first sample whose line starts so)."""
    status, _, body = request(port, "/metrics")
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics:\n{body.decode()}")


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return soft, hard


class RateLimit(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()

    def tearDown(self):
        self.assertEqual(self.stack.close(), [0] * len(self.stack.procs))

    def test_burst_past_the_bucket_gets_429_with_retry_after(self):
        # 1 a second, a burst of 5. The gateway's readiness probe (a connection without a
        # request) and the metrics request take tokens too: past the bucket, it is 429.
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "5")
        statuses = [request(gw.port)[0] for _ in range(8)]
        self.assertIn(429, statuses)
        self.assertEqual(statuses[0], 200)
        first = statuses.index(429)
        self.assertTrue(all(s == 429 for s in statuses[first:]), statuses)
        status, head, body = request(gw.port)
        self.assertEqual(status, 429)
        retry = int(re.search(r"Retry-After: (\d+)", head).group(1))
        self.assertGreaterEqual(retry, 1)
        self.assertIn(b'"code":8', body)
        self.assertIn(b"rate limit exceeded", body)
        time.sleep(retry + 0.1)
        self.assertEqual(request(gw.port)[0], 200)  # the bucket filled again, as promised

    def test_handshake_is_rate_limited_too(self):
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "2")
        conns = [Conn(gw.port) for _ in range(5)]
        statuses = [c.status for c in conns]
        for c in conns:
            c.close()
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertIn(101, statuses)

    def test_connections_on_one_keep_alive_connection_count(self):
        # Requests on one connection each take a token; the connection's first was paid for
        # when it was accepted.
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "3")
        time.sleep(1.1)  # the readiness probe's token comes back
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
            out = b""
            while out.count(b"HTTP/1.1 ") < 5:
                out += s.recv(65536)
        self.assertEqual(re.findall(rb"HTTP/1.1 (\d+)", out),
                         [b"200", b"200", b"200", b"429", b"429"])

    def test_new_connections_alone_take_tokens(self):
        # Connections that never send a request still cost a token each: past the burst, the
        # next connection's first request is 429.
        # One loop: with several, each accepts from its own queue (SO_REUSEPORT), so the
        # connections need not be accepted in the order they were made.
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "4", "--workers", "1")
        idle = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(4)]
        try:
            self.assertEqual(request(gw.port)[0], 429)
        finally:
            for s in idle:
                s.close()

    def test_limits_per_address_from_trusted_proxies_only(self):
        # 127.0.0.0/8 is the proxy: its requests count for the X-Forwarded-For client, each
        # client its own bucket; what a client wrote to the left of the proxy's entry is not
        # believed.
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "2",
                                "--trust-proxy", "127.0.0.0/8")
        a = {"X-Forwarded-For": "198.51.100.1"}
        self.assertEqual([request(gw.port, headers=a)[0] for _ in range(3)], [200, 200, 429])
        b = {"X-Forwarded-For": "198.51.100.2"}
        self.assertEqual(request(gw.port, headers=b)[0], 200)
        spoofed = {"X-Forwarded-For": "203.0.113.50, 198.51.100.1"}
        self.assertEqual(request(gw.port, headers=spoofed)[0], 429)
        two_headers = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n" \
                      "X-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(two_headers.encode())
            self.assertIn(b" 429 ", s.recv(4096))
        v6 = {"X-Forwarded-For": "2001:db8:1:2::1"}
        same64 = {"X-Forwarded-For": "2001:db8:1:2::ffff"}
        self.assertEqual([request(gw.port, headers=v6)[0], request(gw.port, headers=same64)[0],
                          request(gw.port, headers=v6)[0]], [200, 200, 429])

    def test_forwarded_for_ignored_from_untrusted_peers(self):
        gw = self.stack.gateway("--rate-limit", "1", "--rate-burst", "3",
                                "--trust-proxy", "10.0.0.0/8")
        statuses = [request(gw.port, headers={"X-Forwarded-For": f"198.51.100.{i}"})[0]
                    for i in range(5)]
        self.assertIn(429, statuses)  # one bucket: the peer's, whatever the header says

    def test_cap_per_address_is_503_and_frees_on_close(self):
        gw = self.stack.gateway("--max-connections-per-ip", "3", "--workers", "1")  # in order
        held = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(3)]
        try:
            status, _, body = request(gw.port)
            self.assertEqual(status, 503)
            self.assertIn(b"too many connections from this address", body)
            held.pop().close()
            wait_for(lambda: request(gw.port)[0] == 200, what="a connection freed")
        finally:
            for s in held:
                s.close()
        self.assertGreaterEqual(
            metric(gw.port, 'silk_gateway_connections_refused_total{reason="per_address"}'), 1)

    def test_bad_options_are_refused(self):
        for args in (["--rate-limit", "0"], ["--rate-limit", "x"], ["--rate-burst", "5"],
                     ["--trust-proxy", "10.0.0.0/33"], ["--trust-proxy", "nonsense"],
                     ["--header-timeout", "0"], ["--session-rate", "-1"],
                     ["--max-connections-per-ip", "0"]):
            done = subprocess.run([os.path.join(edge.BIN, "silk-gateway-test"), *args],
                                       capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 2, (args, done.stderr))
            self.assertIn("--", done.stderr)


class SessionRate(unittest.TestCase):
    def test_flooding_session_is_slowed_not_closed(self):
        # 20 messages a second: 200 sent at once come back over several seconds, in order,
        # the session still open; another session is answered meanwhile.
        stack = Stack()
        try:
            stack.service("wstest-service")
            gw = stack.gateway("--session-rate", "20")
            payload = "x" * 1000  # a few of them fill wslay's read: the pause is prompt

            async def scenario():
                base = f"ws://127.0.0.1:{gw.port}/api/wstest?businessId="
                async with websockets.connect(base + "flood", max_queue=None) as flood, \
                        websockets.connect(base + "calm") as calm:
                    for i in range(200):
                        await flood.send(f"{i} {payload}")
                    got = []

                    async def drain():
                        while len(got) < 200:
                            got.append(await flood.recv())
                    reader = asyncio.ensure_future(drain())
                    await asyncio.sleep(1.0)
                    early = len(got)
                    await calm.send("still here")
                    self.assertEqual(await asyncio.wait_for(calm.recv(), 5), "still here")
                    await asyncio.wait_for(reader, 30)
                    return early, got
            early, got = asyncio.run(scenario())
            # Not all 200 in the first second: 20 of burst, 20 a second, a few already read.
            self.assertLess(early, 120, early)
            self.assertEqual([int(m.split()[0]) for m in got], list(range(200)))
            self.assertGreaterEqual(
                metric(gw.port, 'silk_gateway_rate_limited_total{what="session"}'), 1)
        finally:
            codes = stack.close()
        self.assertEqual(codes, [0, 0])


class Slowloris(unittest.TestCase):
    N = 2000

    def test_2000_slow_heads_closed_at_the_deadline_while_others_are_served(self):
        soft, hard = raise_fd_limit(self.N + 512)
        stack = Stack()
        conns = []
        try:
            gw = stack.gateway("--header-timeout", "3", "--idle-timeout", "30")
            sel = selectors.DefaultSelector()
            for _ in range(self.N):
                s = socket.create_connection(("127.0.0.1", gw.port))
                s.setblocking(False)
                s.send(b"G")
                conns.append(s)
                sel.register(s, selectors.EVENT_READ)
            opened = time.time()
            # One more header byte per connection each second, as slowloris does; meanwhile a
            # new client is served.
            served = False
            closed, answers = set(), 0
            head = b"ET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
            sent = 0
            while len(closed) < self.N and time.time() - opened < 20:
                for s in conns:
                    if s.fileno() not in closed:
                        try:
                            s.send(head[sent % len(head):sent % len(head) + 1])
                        except OSError:
                            pass
                sent += 1
                if not served:
                    served = request(gw.port)[0] == 200
                end = time.time() + 1
                while time.time() < end and len(closed) < self.N:
                    for key, _ in sel.select(timeout=0.2):
                        s = key.fileobj
                        try:
                            data = s.recv(4096)
                        except OSError:
                            data = b""
                        if data.startswith(b"HTTP/1.1 408"):
                            answers += 1
                        if not data or b"\r\n\r\n" in data:
                            closed.add(s.fileno())
                            sel.unregister(s)
            self.assertTrue(served, "a new client was not served while the heads trickled in")
            self.assertEqual(len(closed), self.N, "slow heads still open")
            self.assertGreaterEqual(answers, self.N * 9 // 10)  # most read the 408 before EOF
            self.assertGreaterEqual(metric(gw.port, "silk_gateway_request_head_timeouts_total"),
                                    self.N)
            self.assertEqual(request(gw.port)[0], 200)
        finally:
            for s in conns:
                s.close()
            codes = stack.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.assertEqual(codes, [0])


def main():
    edge.BIN = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


if __name__ == "__main__":
    main()
