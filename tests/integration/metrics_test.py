"""metrics_test.py - a service's Prometheus metrics (SILK_METRICS_LISTEN), scraped from a real
rpc-probe-service: calls by method and status, the latency histogram, calls in flight,
connections, refusals by reason, registry heartbeats; and a bad or busy address that leaves the
service serving. Nothing asserts on speed: the bounds only tell "finished" from "hung".
"""
import argparse
import os
import re
import socket
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_test  # noqa: E402 - the Service helper, the client runner and the output parser
from rpc_test import ProbeClients, Service, fields, free_port  # noqa: E402

WAIT_S = 10  # how long a count may take to show (a heartbeat comes every 3.3 s)
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Parses Prometheus' text format into {(name, frozenset(labels)): value}."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum over every series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


class MetricsTest(ProbeClients, unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-metrics-")
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry")
        for name in ("SILK_TOKEN", "SILK_LISTEN", "SILK_METRICS_LISTEN"):
            self.env.pop(name, None)
        self.services = []
        self.clients = []

    def tearDown(self):
        for proc in self.clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        try:
            for svc in self.services:
                self.assertEqual(svc.stop(), 0, svc.read_log())
                text = svc.read_log()
                for mark in ("Sanitizer", "runtime error:"):
                    self.assertNotIn(mark, text, svc.log_path)
        finally:
            self.dir.cleanup()

    def service(self, *flags, **env):
        svc = Service(dict(self.env, **env), self.dir.name, f"svc{len(self.services)}", *flags)
        self.services.append(svc)
        return svc

    def scrape(self, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            return parse(r.read().decode())

    def wait_for(self, port, check, what):
        deadline = time.monotonic() + WAIT_S
        while True:
            got = self.scrape(port)
            if check(got) or time.monotonic() > deadline:
                self.assertTrue(check(got), what)
                return got
            time.sleep(0.1)

    def test_calls_refusals_in_flight_and_heartbeats(self):
        port = free_port()
        svc = self.service("--max-message", 65536, SILK_METRICS_LISTEN=f"127.0.0.1:{port}",
                           SILK_FIRST_FRAME_TIMEOUT_MS="500")
        self.assertTrue(svc.wait_log("metrics listening"), svc.read_log())
        echo = "/probe.Probe/Echo"
        start = self.scrape(port)
        self.assertEqual(value(start, "silk_server_calls_total", method=echo, code="OK"), 0)
        self.assertEqual(value(start, "silk_server_calls_in_flight"), 0)

        for _ in range(3):
            self.assertEqual(fields(self.client(svc.address, "echo", "hi").stdout)["status"], "OK")
        # bad: an unknown method, an undecodable request, an oversized one, three good Echoes.
        done = self.client(svc.address, "bad", 200_000)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        # A handler's own failure: Hop to a port where nothing listens answers UNAVAILABLE.
        done = self.client(svc.address, "hop", f"tcp://127.0.0.1:{free_port()}", 3000)
        self.assertEqual(fields(done.stdout)["status"], "UNAVAILABLE", done.stdout)
        # Past max_concurrent (50): refused at once, counted by reason.
        done = self.client(svc.address, "concurrent", 1000)
        got = fields(done.stdout)
        ok, exhausted = int(got["ok"]), int(got["exhausted"])
        self.assertEqual(ok + exhausted, 1000)
        # A silent connection is closed after the first-frame timeout.
        silent = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        self.addCleanup(silent.close)
        self.assertEqual(silent.recv(64), b"", "the silent connection was not closed")

        m = self.wait_for(port, lambda m: value(m, "silk_server_refusals_total",
                                                reason="first_frame_timeout") >= 1,
                          "a connection closed for want of a frame is counted")
        self.assertEqual(value(m, "silk_server_calls_total", method=echo, code="OK"), 3 + 3 + ok)
        self.assertEqual(value(m, "silk_server_calls_total", method=echo,
                               code="INVALID_ARGUMENT"), 1)
        self.assertEqual(value(m, "silk_server_calls_total", method="/probe.Probe/Hop",
                               code="UNAVAILABLE"), 1)
        self.assertEqual(value(m, "silk_server_refusals_total", reason="unimplemented"), 1)
        self.assertEqual(value(m, "silk_server_refusals_total", reason="undecodable"), 1)
        self.assertEqual(value(m, "silk_server_refusals_total", reason="max_message"), 1)
        self.assertEqual(value(m, "silk_server_refusals_total", reason="max_concurrent"), exhausted)
        for method in (echo, "/probe.Probe/Hop", "/silk.health.Health/Check"):
            calls = total(m, "silk_server_calls_total", method=method)
            self.assertEqual(value(m, "silk_server_call_duration_seconds_count", method=method),
                             calls, method)
            self.assertEqual(value(m, "silk_server_call_duration_seconds_bucket", method=method,
                                   le="+Inf"), calls, method)
        self.assertGreater(value(m, "silk_server_call_duration_seconds_sum", method=echo), 0)
        buckets = sorted((float(dict(ls)["le"]), v) for (n, ls), v in m.items()
                         if n == "silk_server_call_duration_seconds_bucket"
                         and dict(ls)["method"] == echo)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), "cumulative")

        # A call in flight shows, and the count returns to 0 when its caller goes away.
        self.env["SILK_KEEPALIVE_MS"] = "-1"
        proc = self.start_client(svc.address, "hang", "wait")
        self.assertTrue(svc.wait_log("wait started"), svc.read_log())
        m = self.scrape(port)
        self.assertEqual(value(m, "silk_server_calls_in_flight"), 1)
        self.assertGreaterEqual(value(m, "silk_server_connections"), 1)
        proc.kill()
        proc.communicate(timeout=10)
        m = self.wait_for(port, lambda m: value(m, "silk_server_calls_in_flight") == 0
                          and value(m, "silk_server_connections") == 0,
                          "calls in flight and connections return to 0")
        self.assertEqual(value(m, "silk_server_calls_total", method="/probe.Probe/Wait",
                               code="CANCELLED"), 1)

        # The heartbeat rewrites the instance's record every 3.3 s.
        m = self.wait_for(port, lambda m: value(m, "silk_registry_heartbeats_total") >= 1,
                          "a heartbeat is counted")
        self.assertEqual(value(m, "silk_registry_heartbeat_failures_total"), 0)

        # Only GET /metrics is served.
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        cm.exception.close()
        self.assertEqual(cm.exception.code, 404)

    def test_token_refusals(self):
        port = free_port()
        svc = self.service(SILK_METRICS_LISTEN=f"127.0.0.1:{port}", SILK_TOKEN="right")
        self.assertTrue(svc.wait_log("metrics listening"), svc.read_log())
        done = self.client(svc.address, "echo", "x", env=dict(self.env, SILK_TOKEN="wrong"))
        self.assertEqual(fields(done.stdout)["status"], "UNAUTHENTICATED", done.stdout)
        m = self.scrape(port)
        self.assertEqual(value(m, "silk_server_refusals_total", reason="unauthenticated"), 1)
        self.assertEqual(total(m, "silk_server_calls_total", method="/probe.Probe/Echo"), 0)

    def test_bad_or_busy_address_still_serves(self):
        # A value that is no address is warned about by name, not value; the service serves.
        svc = self.service(SILK_METRICS_LISTEN="secret-looking-value")
        self.assertEqual(fields(self.client(svc.address, "echo", "x").stdout)["status"], "OK")
        log = svc.read_log()
        self.assertIn("ignoring SILK_METRICS_LISTEN", log)
        self.assertNotIn("secret-looking-value", log)
        # An address in use is logged; the service serves.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            svc = self.service(SILK_METRICS_LISTEN=f"127.0.0.1:{port}")
            self.assertEqual(fields(self.client(svc.address, "echo", "x").stdout)["status"], "OK")
            self.assertTrue(svc.wait_log("cannot listen: serving without metrics"), svc.read_log())
        # Off by default: nothing listens, nothing is said.
        svc = self.service()
        self.assertEqual(fields(self.client(svc.address, "echo", "x").stdout)["status"], "OK")
        for text in ("metrics listening", "SILK_METRICS_LISTEN", "without metrics"):
            self.assertNotIn(text, svc.read_log())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    args, rest = parser.parse_known_args()
    rpc_test.ARGS = args
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
