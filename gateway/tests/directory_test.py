"""directory_test.py - the session directory of issue 15, with real gateways and a real Redis.

Usage: /usr/bin/python3 directory_test.py BIN_DIR [unittest args]

BIN_DIR holds silk-gateway-test and silk-gateway-sm. A redis-server on a free loopback port
(no persistence) is the registry; two gateways write their entries in it as sessions open and
close; silk-gateway-sm pushes through libsilk's silk_ws_* helpers, which read the directory and
ask only the gateways it names (their SessionManager counters in /metrics say which were
asked). Also: a gateway killed with -9 (its entries ignored once its record expires, and
removed), started again under the same id (its last run's entries forgotten), and Redis
flushed (the gateways write everything again).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

from edge_test import Conn  # noqa: E402
from procs import free_port, wait_for  # noqa: E402
from registry_support import Redis  # noqa: E402

BIN = None
TTL_MS = 1500


class Cluster:
    """A Redis registry with gateways on it."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-dir-")
        self.redis = Redis(self.dir.name)
        self.env = dict(os.environ, SILK_REGISTRY=self.redis.url(), SILK_LOG="debug",
                        SILK_REGISTRY_TTL_MS=str(TTL_MS))
        self.gateways = {}

    def gateway(self, gw_id):
        port = free_port()
        log = open(os.path.join(self.dir.name, f"{gw_id}.log"), "a")
        proc = subprocess.Popen([os.path.join(BIN, "silk-gateway-test"), "--listen",
                                 f"127.0.0.1:{port}", "--id", gw_id], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.port, proc.log = port, log
        self.gateways[gw_id] = proc
        wait_for(lambda: "serving silk.ws.SessionManager" in self.log(gw_id) and
                 "session directory on" in self.log(gw_id), what=f"{gw_id} up")
        return proc

    def log(self, gw_id):
        with open(os.path.join(self.dir.name, f"{gw_id}.log"), errors="replace") as f:
            return f.read()

    def members(self, key):
        return set(self.redis.cli("SMEMBERS", key).split())

    def sm(self, *args):
        done = subprocess.run([os.path.join(BIN, "silk-gateway-sm"), *args], env=self.env,
                              capture_output=True, text=True, timeout=30)
        return done.returncode, done.stdout.strip(), done.stderr.strip()

    def calls(self, gw_id, method="SendToBusiness"):
        port = self.gateways[gw_id].port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        m = re.search(rf'session_manager_calls_total{{method="{method}"}} (\d+)'.encode(), out)
        return int(m.group(1))

    def stop_gateway(self, gw_id, sig=signal.SIGTERM):
        proc = self.gateways.pop(gw_id)
        proc.send_signal(sig)
        code = proc.wait(15)
        proc.log.close()
        return code

    def close(self):
        codes = [self.stop_gateway(g) for g in list(self.gateways)]
        self.redis.stop()
        self.dir.cleanup()
        return codes


def session(gw, business):
    c = Conn(gw.port, f"/api/wstest?businessId={business}")
    assert c.status == 101, c.status
    return c


class Directory(unittest.TestCase):
    def setUp(self):
        self.c = Cluster()

    def tearDown(self):
        codes = self.c.close()
        self.assertTrue(all(code == 0 for code in codes), codes)

    def test_entries_follow_sessions_and_pushes_ask_only_their_gateways(self):
        c = self.c
        a, b = c.gateway("gwa"), c.gateway("gwb")
        s1 = session(a, "b1")
        wait_for(lambda: c.members("silk/dir/b1") == {"gwa"}, what="b1's entry")
        s2, s3 = session(a, "both"), session(b, "both")
        wait_for(lambda: c.members("silk/dir/both") == {"gwa", "gwb"}, what="both's entries")
        self.assertEqual(c.members("silk/dir-gw/gwa"), {"b1", "both"})

        code, out, err = c.sm("ws-business", "b1", "hello")
        self.assertEqual((code, out), (0, "1"), err)
        self.assertEqual(s1.text(), "hello")
        self.assertEqual((c.calls("gwa"), c.calls("gwb")), (1, 0))  # gwb was not asked

        code, out, err = c.sm("ws-business", "both", "to both")
        self.assertEqual((code, out), (0, "2"), err)
        self.assertEqual((s2.text(), s3.text()), ("to both", "to both"))
        self.assertEqual((c.calls("gwa"), c.calls("gwb")), (2, 1))

        code, out, err = c.sm("ws-business", "nobody", "lost")
        self.assertEqual((code, out), (0, "0"), err)
        self.assertEqual((c.calls("gwa"), c.calls("gwb")), (2, 1))  # nobody was asked

        code, out, err = c.sm("ws-sessions", "both")
        self.assertEqual(code, 0, err)
        self.assertEqual(len(out.split()), 2)
        self.assertEqual((c.calls("gwa", "Sessions"), c.calls("gwb", "Sessions")), (1, 1))

        s1.close()  # the last session of b1 on gwa: its entry goes
        wait_for(lambda: c.members("silk/dir/b1") == set(), what="b1's entry removed")
        s3.close()
        wait_for(lambda: c.members("silk/dir/both") == {"gwa"}, what="gwb's entry removed")
        s2.close()

    def test_presence_and_closing_a_business_everywhere(self):
        c = self.c
        a, b = c.gateway("gwa"), c.gateway("gwb")
        before = time.time() * 1000
        s1, s2, s3 = session(a, "who"), session(b, "who"), session(b, "other")
        wait_for(lambda: c.members("silk/dir/who") == {"gwa", "gwb"}, what="who's entries")
        code, out, err = c.sm("ws-presence", "who")
        self.assertEqual(code, 0, err)
        rows = sorted(line.split() for line in out.splitlines())
        self.assertEqual([(r[0], r[1], r[2], r[4]) for r in rows],
                         sorted([(s1.session_id, "gwa", "api/wstest", "-"),
                                 (s2.session_id, "gwb", "api/wstest", "-")]))
        for r in rows:
            self.assertTrue(before - 1000 <= int(r[3]) <= time.time() * 1000 + 1000, r)
        self.assertEqual((c.calls("gwa", "Presence"), c.calls("gwb", "Presence")), (1, 1))
        # silk-ctl says the same
        done = subprocess.run([os.path.join(BIN, "silk-ctl-test"), "sessions", "who"],
                              env=c.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(line.split()[0] for line in done.stdout.splitlines()),
                         sorted([s1.session_id, s2.session_id]))

        code, _, err = c.sm("ws-close-business", "who", "4003", "revoked")
        self.assertEqual(code, 0, err)
        self.assertEqual((s1.close_code(), s2.close_code()), (4003, 4003))
        self.assertEqual((c.calls("gwa", "CloseBusiness"), c.calls("gwb", "CloseBusiness")),
                         (1, 1))
        wait_for(lambda: c.members("silk/dir/who") == set(), what="who's entries removed")
        s3.send(b"")  # the other business's session is still open
        self.assertEqual(c.sm("ws-business", "other", "still")[1], "1")
        self.assertEqual(s3.text(), "still")
        code, _, err = c.sm("ws-close-business", "other", "1005", "no")
        self.assertNotEqual(code, 0)
        self.assertIn("INVALID_ARGUMENT", err)
        for s in (s1, s2, s3):
            s.close()

    def test_two_sessions_of_a_business_one_entry_until_the_last_closes(self):
        c = self.c
        a = c.gateway("gwa")
        s1, s2 = session(a, "pair"), session(a, "pair")
        wait_for(lambda: c.members("silk/dir/pair") == {"gwa"}, what="pair's entry")
        s1.close()
        time.sleep(0.3)
        self.assertEqual(c.members("silk/dir/pair"), {"gwa"})  # s2 is still there
        s2.close()
        wait_for(lambda: c.members("silk/dir/pair") == set(), what="pair's entry removed")

    def test_a_dead_gateway_is_ignored_once_its_record_expires(self):
        c = self.c
        a, b = c.gateway("gwa"), c.gateway("gwb")
        s1 = session(a, "x")
        s2 = session(b, "x")
        wait_for(lambda: c.members("silk/dir/x") == {"gwa", "gwb"}, what="x's entries")
        self.assertEqual(c.stop_gateway("gwb", signal.SIGKILL), -signal.SIGKILL)
        s2.close()
        # Until gwb's record expires a push to x fails clearly: its sessions may be there.
        code, _, err = c.sm("ws-business", "x", "early")
        if code != 0:
            self.assertIn("UNAVAILABLE", err)
        wait_for(lambda: c.redis.cli("EXISTS", "silk/inst/silk.ws.SessionManager/gwb").strip()
                 == "0", timeout=10, what="gwb's record to expire")
        code, out, err = c.sm("ws-business", "x", "after")
        self.assertEqual((code, out), (0, "1"), err)
        while (t := s1.text()) != "after":
            self.assertEqual(t, "early")
        self.assertEqual(c.members("silk/dir/x"), {"gwa"})  # the lookup removed gwb's entry
        self.assertNotIn("x", c.members("silk/dir-gw/gwb"))
        s1.close()

    def test_a_gateway_started_again_forgets_its_last_run(self):
        c = self.c
        a = c.gateway("gwa")
        s = session(a, "old")
        wait_for(lambda: c.members("silk/dir/old") == {"gwa"}, what="old's entry")
        c.stop_gateway("gwa", signal.SIGKILL)
        s.close()
        self.assertEqual(c.members("silk/dir/old"), {"gwa"})
        c.gateway("gwa")
        wait_for(lambda: c.members("silk/dir/old") == set(), what="the last run's entries gone")
        self.assertEqual(c.members("silk/dir-gw/gwa"), set())

    def test_a_clean_stop_removes_the_gateways_entries(self):
        c = self.c
        a = c.gateway("gwa")
        s = session(a, "bye")
        wait_for(lambda: c.members("silk/dir/bye") == {"gwa"}, what="bye's entry")
        self.assertEqual(c.stop_gateway("gwa"), 0)
        self.assertEqual(s.close_code(), 1001)
        s.close()
        self.assertEqual(c.members("silk/dir/bye"), set())
        self.assertEqual(c.redis.cli("EXISTS", "silk/dir-mark/gwa").strip(), "0")

    def test_entries_written_again_after_the_store_lost_them(self):
        c = self.c
        a = c.gateway("gwa")
        s1, s2 = session(a, "k1"), session(a, "k2")
        wait_for(lambda: c.members("silk/dir-gw/gwa") == {"k1", "k2"}, what="the entries")
        c.redis.cli("FLUSHALL")
        wait_for(lambda: c.members("silk/dir-gw/gwa") == {"k1", "k2"}, timeout=10,
                 what="the entries written again")
        self.assertEqual(c.members("silk/dir/k1"), {"gwa"})
        wait_for(lambda: c.sm("ws-business", "k2", "back")[1] == "1", timeout=10,
                 what="a push after the flush")
        self.assertEqual(s2.text(), "back")
        s1.close()
        s2.close()

    def test_redis_restarted_during_pushes(self):
        c = self.c
        a = c.gateway("gwa")
        s = session(a, "r")
        wait_for(lambda: c.members("silk/dir/r") == {"gwa"}, what="r's entry")
        c.redis.restart()  # empty: no persistence
        wait_for(lambda: c.members("silk/dir/r") == {"gwa"}, timeout=10,
                 what="r's entry written again")
        wait_for(lambda: c.sm("ws-business", "r", "again")[1] == "1", timeout=10,
                 what="a push after the restart")
        self.assertEqual(s.text(), "again")
        s.close()


def main():
    global BIN
    BIN = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


if __name__ == "__main__":
    main()
