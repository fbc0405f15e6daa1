"""rpc_test.py - the runtime with real processes: rpc-probe-service instances and rpc-probe-client.

Each test starts the services it needs on free loopback ports with a private file registry,
runs the client with a bounded timeout, and always stops what it started. Nothing asserts on
speed: the bounds only tell "finished" from "hung".
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None
HANG_S = 5  # a call whose server died must fail within this long after the kill
PING = (10).to_bytes(4, "big") + bytes([4]) + (7).to_bytes(8, "big") + b"\0"
PONG = (10).to_bytes(4, "big") + bytes([5]) + (7).to_bytes(8, "big") + b"\0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fields(text):
    """Parses the client's key=value output into a dict."""
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', text))


class Service:
    """One rpc-probe-service process on a free port; stop() always reaps it."""

    def __init__(self, env, log_dir, name, *flags):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        exe = os.path.join(ARGS.build_dir, "tests", "rpc-probe-service")
        self.proc = subprocess.Popen([exe, *map(str, flags)], env=dict(env, SILK_LISTEN=self.address),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{name} exited: {self.read_log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{name} did not start listening")

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.read_log():
                return True
            time.sleep(0.02)
        return False

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


class ProbeClients:
    """rpc-probe-client runs for a TestCase with self.env and self.clients (the processes
    start_client starts, which its tearDown stops)."""

    def client(self, target, *args, env=None, timeout=60):
        exe = os.path.join(ARGS.build_dir, "tests", "rpc-probe-client")
        done = subprocess.run([exe, target, *map(str, args)], env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)
        self.assertNotIn("Sanitizer", done.stderr)
        return done

    def start_client(self, target, *args):
        exe = os.path.join(ARGS.build_dir, "tests", "rpc-probe-client")
        proc = subprocess.Popen([exe, target, *map(str, args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.clients.append(proc)
        return proc

    def stats(self, svc):
        done = self.client(svc.address, "stats")
        self.assertEqual(done.returncode, 0, done.stderr)
        return {k: int(v) for k, v in fields(done.stdout).items()}


class RpcTest(ProbeClients, unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-rpc-")
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry")
        self.env.pop("SILK_TOKEN", None)
        self.env.pop("SILK_LISTEN", None)
        self.services = []
        self.clients = []

    def tearDown(self):
        for proc in self.clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for svc in self.services:
            svc.stop()
        try:
            for svc in self.services:
                text = svc.read_log()
                for mark in ("Sanitizer", "runtime error:"):
                    if mark in text:
                        raise AssertionError(f"{svc.log_path} reports {mark}:\n{text[-4000:]}")
        finally:
            self.dir.cleanup()

    def service(self, *flags, env=None):
        svc = Service(env or self.env, self.dir.name, f"svc{len(self.services)}", *flags)
        self.services.append(svc)
        return svc

    def test_echo_and_trace_id(self):
        svc = self.service()
        done = self.client(svc.address, "echo", "hello")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        self.assertEqual(got["text"], "hello")
        self.assertRegex(got["trace_id"], r"^[0-9a-f]{32}$", "a trace id is made at the edge")

    def test_1000_concurrent_calls(self):
        svc = self.service("--max-concurrent", 1000)
        done = self.client(svc.address, "concurrent", 1000)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        self.assertEqual((got["ok"], got["wrong"], got["exhausted"]), ("1000", "0", "0"))

    def test_inline_handlers(self):
        svc = self.service("--inline", "--max-concurrent", 200)
        done = self.client(svc.address, "concurrent", 200)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(fields(done.stdout)["ok"], "200")

    def test_past_max_concurrent_is_refused_at_once(self):
        # The default limit is 50 calls at once: the rest are answered RESOURCE_EXHAUSTED,
        # not queued; every call is still answered exactly once.
        svc = self.service()
        done = self.client(svc.address, "concurrent", 1000)
        got = fields(done.stdout)
        self.assertEqual(got["wrong"], "0", done.stdout + done.stderr)
        self.assertEqual(int(got["ok"]) + int(got["exhausted"]), 1000)
        self.assertGreater(int(got["exhausted"]), 0)
        self.assertEqual(self.client(svc.address, "echo", "after").returncode, 0)

    def test_deadline_shrinks_across_two_hops(self):
        a, b = self.service(), self.service()
        done = self.client(a.address, "hop", b.address, 3000)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        budget_a, budget_b = int(got["budget_a_us"]), int(got["budget_b_us"])
        self.assertLessEqual(budget_a, 3_000_000)
        self.assertLess(budget_b, budget_a, "B gets what is left of A's budget, never more")

    def test_cancel_reaches_the_handler(self):
        svc = self.service()
        done = self.client(svc.address, "cancel")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        self.assertEqual(got["callbacks"], "1")
        self.assertEqual(got["status"], "CANCELLED")
        self.assertEqual(got["server_saw_cancel"], "1")

    def test_cancel_travels_to_nested_calls(self):
        # client -> A.Wait -> B.Wait: cancelling the client's call cancels A's handler, whose
        # nested call to B is cancelled in turn, and B's handler sees it.
        a, b = self.service(), self.service()
        done = self.client(a.address, "cancel", b.address)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        deadline = time.monotonic() + HANG_S
        while self.stats(b)["cancels_seen"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.stats(b)["cancels_seen"], 1, b.read_log())
        self.assertIn("nested wait status=CANCELLED", a.read_log())

    def test_bad_inputs_and_still_serving(self):
        svc = self.service("--max-message", 65536)
        done = self.client(svc.address, "bad", 200_000)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        self.assertEqual(got["unknown_method"], "UNIMPLEMENTED")
        self.assertEqual(got["undecodable"], "INVALID_ARGUMENT")
        self.assertEqual(got["oversized"], "RESOURCE_EXHAUSTED")
        self.assertEqual(got["after"], "OK")
        self.assertEqual(self.client(svc.address, "echo", "again").returncode, 0)

    def test_wrong_token(self):
        svc = self.service(env=dict(self.env, SILK_TOKEN="right"))
        done = self.client(svc.address, "echo", "x", env=dict(self.env, SILK_TOKEN="wrong"))
        self.assertEqual(fields(done.stdout)["status"], "UNAUTHENTICATED", done.stdout)
        done = self.client(svc.address, "echo", "x")
        self.assertEqual(fields(done.stdout)["status"], "UNAUTHENTICATED", done.stdout)
        done = self.client(svc.address, "echo", "x", env=dict(self.env, SILK_TOKEN="right"))
        self.assertEqual(fields(done.stdout)["status"], "OK", done.stdout)

    def test_server_killed_mid_call(self):
        svc = self.service()
        proc = self.start_client(svc.address, "hang", "wait")
        self.assertTrue(svc.wait_log("wait started"), svc.read_log())
        svc.kill()
        killed = time.monotonic()
        out, err = proc.communicate(timeout=60)
        self.assertLess(time.monotonic() - killed, HANG_S, "the caller hung")
        self.assertEqual(fields(out)["status"], "UNAVAILABLE", out + err)

    def test_silent_server_found_by_keepalive(self):
        # A stopped process keeps its sockets open: only keepalive pings tell it is gone.
        svc = self.service()
        self.env["SILK_KEEPALIVE_MS"] = "200"
        proc = self.start_client(svc.address, "hang", "wait")
        self.assertTrue(svc.wait_log("wait started"), svc.read_log())
        svc.proc.send_signal(signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            out, err = proc.communicate(timeout=60)
            self.assertLess(time.monotonic() - stopped, HANG_S, "the caller hung")
            self.assertEqual(fields(out)["status"], "UNAVAILABLE", out + err)
            self.assertIn("keepalive", out)
        finally:
            svc.proc.send_signal(signal.SIGCONT)

    def test_never_executed_twice(self):
        # Two instances of probe.Probe in the registry; a non-idempotent Incr is in flight on
        # one when it is killed: the caller gets UNAVAILABLE, the other never runs it.
        a, b = self.service(), self.service()
        done = self.client("probe.Probe", "incr", 20)
        self.assertEqual(fields(done.stdout)["ok"], "20", done.stdout + done.stderr)
        self.assertEqual(self.stats(a)["counter"] + self.stats(b)["counter"], 20,
                         "each call ran exactly once")
        before = {id(s): self.stats(s)["counter"] for s in (a, b)}

        proc = self.start_client("probe.Probe", "hang", "incr")
        deadline = time.monotonic() + 10
        victim = None
        while victim is None and time.monotonic() < deadline:
            for s in (a, b):
                if self.stats(s)["counter"] > before[id(s)]:
                    victim = s
            time.sleep(0.02)
        self.assertIsNotNone(victim, "the call reached no instance")
        survivor = b if victim is a else a
        victim.kill()
        out, err = proc.communicate(timeout=60)
        self.assertEqual(fields(out)["status"], "UNAVAILABLE", out + err)
        time.sleep(0.5)
        self.assertEqual(self.stats(survivor)["counter"], before[id(survivor)],
                         "a non-idempotent call is never re-sent")

    def test_failover_only_where_the_method_allows_it(self):
        # Two instances registered, one killed (its record stays until its TTL runs out).
        a, b = self.service(), self.service()
        a.kill()
        # Echo is idempotent: a call that meets the dead instance is sent again, to the live one.
        done = self.client("probe.Probe", "concurrent", 10)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(fields(done.stdout)["ok"], "10")
        # Incr is not, but the call that meets the dead instance was never sent - its
        # connection could not be made - so it goes to the live one, and runs once there.
        done = self.client("probe.Probe", "incr", 10)
        self.assertEqual(fields(done.stdout)["ok"], "10", done.stdout + done.stderr)
        self.assertEqual(self.stats(b)["counter"], 10)

    def test_shutdown_with_calls_in_flight(self):
        svc = self.service("--max-concurrent", 200)
        done = self.client(svc.address, "shutdown", 100, timeout=30)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(fields(done.stdout)["completed_once"], "100")
        # The caller is gone, so the server dropped its work: every Wait it ran saw a cancel.
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline:
            got = self.stats(svc)
            if got["cancels_seen"] == got["waits_started"]:
                break
            time.sleep(0.05)
        self.assertEqual(got["cancels_seen"], got["waits_started"], got)

    def raw_connect(self, svc):
        sock = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        self.addCleanup(sock.close)
        return sock

    def assert_closed_by_server(self, sock, within=HANG_S, answered=False):
        """The server closes sock: a read sees the end of the stream (or a reset) - after
        whatever it answered, when answered."""
        sock.settimeout(within)
        try:
            while answered and sock.recv(4096) != b"":
                pass
            self.assertEqual(sock.recv(64), b"", "the server sent something")
        except ConnectionResetError:
            pass

    def assert_open(self, sock, quiet_s=0.5):
        """sock stays open: a read finds nothing for quiet_s seconds, not the stream's end."""
        sock.settimeout(quiet_s)
        with self.assertRaises(socket.timeout):
            sock.recv(64)

    def hold_connection(self, svc):
        """A connection the server keeps (one closed just before, such as Service's probe of
        the port, may still count against max_connections for a moment)."""
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline:
            sock = self.raw_connect(svc)
            sock.settimeout(0.2)
            try:
                if sock.recv(64) == b"":
                    time.sleep(0.05)
                    continue
            except socket.timeout:
                return sock
            except ConnectionResetError:
                continue
        self.fail("the server kept no connection")

    def test_max_connections(self):
        # Past max_connections a connection is closed as soon as it is accepted, with a
        # warning; the ones open are served, and room made by closing one is used again.
        svc = self.service(env=dict(self.env, SILK_MAX_CONNECTIONS="3",
                                    SILK_FIRST_FRAME_TIMEOUT_MS="-1"))
        held = [self.hold_connection(svc) for _ in range(3)]
        extra = self.raw_connect(svc)
        self.assert_closed_by_server(extra)
        self.assertTrue(svc.wait_log("connection refused: at max_connections"), svc.read_log())
        held.pop().close()
        # The closed one is finalized on the server's reaper: a new connection finds room soon.
        deadline = time.monotonic() + HANG_S
        status = None
        while time.monotonic() < deadline:
            status = fields(self.client(svc.address, "echo", "room").stdout).get("status")
            if status == "OK":
                break
            time.sleep(0.05)
        self.assertEqual(status, "OK", svc.read_log())
        for sock in held:
            self.assert_open(sock, 0.1)

    def test_idle_connections_are_closed(self):
        # SILK_IDLE_TIMEOUT_MS: a connection that sends nothing is closed; one that pings, or
        # has a call in flight, is not.
        env = dict(self.env, SILK_IDLE_TIMEOUT_MS="1000", SILK_FIRST_FRAME_TIMEOUT_MS="-1")
        svc = self.service(env=env)
        silent = self.raw_connect(svc)
        pinging = self.raw_connect(svc)
        self.env["SILK_KEEPALIVE_MS"] = "-1"  # off: the waiting client sends nothing while it waits
        proc = self.start_client(svc.address, "hang", "wait")
        self.assertTrue(svc.wait_log("wait started"), svc.read_log())
        pinging.settimeout(HANG_S)
        # A ping every 0.15 s for 3 s, three idle timeouts: six pings per timeout leave room
        # for a loaded machine (at 300 ms, with two, one run under ASan saw it closed).
        for _ in range(20):
            pinging.sendall(PING)
            got = b""
            while len(got) < len(PONG):
                chunk = pinging.recv(len(PONG) - len(got))
                self.assertNotEqual(chunk, b"", "a pinging connection was closed")
                got += chunk
            self.assertEqual(got, PONG)
            time.sleep(0.15)
        self.assert_closed_by_server(silent)
        self.assertIsNone(proc.poll(), "a call in flight kept its connection open")
        proc.kill()
        proc.wait(timeout=10)
        # Idle closing is off with a negative value, as in silk_server_opts.
        off = self.service(env=dict(self.env, SILK_IDLE_TIMEOUT_MS="-1",
                                    SILK_FIRST_FRAME_TIMEOUT_MS="-1"))
        quiet = self.raw_connect(off)
        self.assert_open(quiet, 1.0)

    def ping_until_closed(self, sock, within=HANG_S):
        """Pings on sock every 0.15 s, reading each pong, until the server closes it; False
        when it is still open after within seconds."""
        sock.settimeout(within)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                sock.sendall(PING)
                got = b""
                while len(got) < len(PONG):
                    chunk = sock.recv(len(PONG) - len(got))
                    if chunk == b"":
                        return True
                    got += chunk
            except (BrokenPipeError, ConnectionResetError):
                return True
            self.assertEqual(got, PONG)
            time.sleep(0.15)
        return False

    def test_connections_without_a_valid_frame_are_closed(self):
        # SILK_FIRST_FRAME_TIMEOUT_MS: silent connections and ones sending bytes that never
        # make a valid frame are closed (the idle timeout would keep them five minutes),
        # while a real client is served; one that sent a valid frame stays.
        svc = self.service(env=dict(self.env, SILK_FIRST_FRAME_TIMEOUT_MS="1000"))
        silent = [self.raw_connect(svc) for _ in range(5)]
        partial = self.raw_connect(svc)  # a request frame of 4 KiB that never ends
        partial.sendall((4096).to_bytes(4, "big") + bytes([1]) + (1).to_bytes(8, "big") + b"x" * 20)
        skipped = self.raw_connect(svc)  # a frame over the limit, skipped byte after byte
        skipped.sendall((0x7FFFFFFF).to_bytes(4, "big") + bytes([1]) + (2).to_bytes(8, "big"))
        skipped.sendall(b"\xff" * 4096)
        pinging = self.raw_connect(svc)
        pinging.settimeout(HANG_S)
        pinging.sendall(PING)
        self.assertEqual(pinging.recv(len(PONG)), PONG)
        done = self.client(svc.address, "echo", "while open")
        self.assertEqual(fields(done.stdout)["status"], "OK", done.stdout + done.stderr)
        for sock in silent + [partial]:
            self.assert_closed_by_server(sock)
        self.assert_closed_by_server(skipped, answered=True)  # RESOURCE_EXHAUSTED, then closed
        self.assertTrue(svc.wait_log("connections closed: no valid frame"), svc.read_log())
        self.assertFalse(self.ping_until_closed(pinging, 2.0), "a valid frame did not count")
        done = self.client(svc.address, "echo", "after")
        self.assertEqual(fields(done.stdout)["status"], "OK", done.stdout + done.stderr)

    def test_max_connections_freed_from_silent_connections(self):
        # Silent sockets fill max_connections; once the first-frame timeout closes them, a
        # real call finds room.
        svc = self.service(env=dict(self.env, SILK_MAX_CONNECTIONS="3",
                                    SILK_FIRST_FRAME_TIMEOUT_MS="1000"))
        held = [self.hold_connection(svc) for _ in range(3)]
        extra = self.raw_connect(svc)
        self.assert_closed_by_server(extra, 0.5)  # full: refused at accept, not by the timeout
        for sock in held:
            self.assert_closed_by_server(sock)
        deadline = time.monotonic() + HANG_S
        status = None
        while time.monotonic() < deadline:
            status = fields(self.client(svc.address, "echo", "room").stdout).get("status")
            if status == "OK":
                break
            time.sleep(0.05)
        self.assertEqual(status, "OK", svc.read_log())

    def test_with_a_token_only_a_request_carrying_it_counts(self):
        # With SILK_TOKEN, pings are valid frames but not the token: a connection that only
        # pings is closed; a client whose call carried the token keeps its connection.
        env = dict(self.env, SILK_TOKEN="right", SILK_FIRST_FRAME_TIMEOUT_MS="1000")
        svc = self.service(env=env)
        pinging = self.raw_connect(svc)
        self.assertTrue(self.ping_until_closed(pinging), "pings without the token kept it open")
        self.env.update(SILK_TOKEN="right", SILK_KEEPALIVE_MS="-1")
        proc = self.start_client(svc.address, "hang", "wait")
        self.assertTrue(svc.wait_log("wait started"), svc.read_log())
        quiet = self.raw_connect(svc)
        self.assert_closed_by_server(quiet)  # a full timeout after the client's connection
        with self.assertRaises(subprocess.TimeoutExpired, msg="a connection with the token closed"):
            proc.wait(timeout=1)
        proc.kill()
        proc.wait(timeout=10)

    def test_sigterm_exits_cleanly(self):
        svc = self.service()
        self.assertEqual(self.client(svc.address, "echo", "x").returncode, 0)
        self.assertEqual(svc.stop(), 0)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
