"""balance_test.py - load balancing, failover and the breaker with real processes.

Three rpc-probe-service instances (--id a, b, c) serve probe.Probe behind one name in a
private registry; rpc-probe-client calls them by name. The registry is a parameter
(--registry file|redis): the suite is the same whatever backend finds the instances. For
redis, a real redis-server is started on a free loopback port with persistence off and always
stopped. Nothing asserts on speed; the bounds only tell "finished" from "hung".
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_test  # noqa: E402 - the Service helper and the output parser
from registry_support import Redis  # noqa: E402
from rpc_test import Service, fields  # noqa: E402

ARGS = None
IDS = ("a", "b", "c")


class BalanceTest(rpc_test.ProbeClients, unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-balance-")
        self.redis = None
        if ARGS.registry == "redis":
            if shutil.which("redis-server") is None:
                raise unittest.SkipTest("redis-server is not installed")
            self.redis = Redis(self.dir.name)
            url = self.redis.url()
        else:
            url = f"file:{self.dir.name}/registry"
        self.env = dict(os.environ, SILK_REGISTRY=url)
        for name in ("SILK_TOKEN", "SILK_LISTEN", "SILK_LB", "SILK_BREAKER_FAILURES",
                     "SILK_BREAKER_OPEN_MS"):
            self.env.pop(name, None)
        self.services = {}
        self.clients = []

    def tearDown(self):
        try:
            for proc in self.clients:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            for svc in self.services.values():
                if svc.proc.poll() is None:
                    svc.proc.send_signal(signal.SIGCONT)
                svc.stop()
            for svc in self.services.values():
                text = svc.read_log()
                for mark in ("Sanitizer", "runtime error:"):
                    if mark in text:
                        raise AssertionError(f"{svc.log_path} reports {mark}:\n{text[-4000:]}")
        finally:
            if self.redis is not None:
                self.redis.stop()
            self.dir.cleanup()

    # ---------------------------------------------------------------- helpers

    def start_three(self):
        for i in IDS:
            self.services[i] = Service(self.env, self.dir.name, f"svc-{i}", "--id", i)
        self.wait_registered(set(IDS))

    def wait_registered(self, ids):
        """Waits until the registry lists exactly ids for probe.Probe."""
        deadline = time.monotonic() + 15
        got = None
        while time.monotonic() < deadline:
            got = fields(self.client("probe.Probe", "instances").stdout)
            if got.get("count") == str(len(ids)) and set(got["ids"].split(",")) == ids:
                return
            time.sleep(0.1)
        self.fail(f"the registry lists {got}, not {sorted(ids)}")

    def spread(self, n, *policy, env=None):
        done = self.client("probe.Probe", "spread", n, *policy, env=env)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        return {i: int(got.get(f"at_{i}", 0)) for i in IDS}

    def keys(self, n, kind):
        done = self.client("probe.Probe", "keys", n, kind)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        got.pop("ok")
        self.assertEqual(len(got), n, done.stdout)
        return got

    # ---------------------------------------------------------------- policies

    def test_round_robin_spreads_evenly(self):
        self.start_three()
        counts = self.spread(300)
        for i in IDS:
            self.assertTrue(90 <= counts[i] <= 110, counts)
        counts = self.spread(300, "round-robin")
        self.assertEqual(sum(counts.values()), 300)
        for i in IDS:
            self.assertTrue(90 <= counts[i] <= 110, counts)

    def test_random_uses_every_instance(self):
        self.start_three()
        # By the environment: SILK_LB=random.
        counts = self.spread(300, env=dict(self.env, SILK_LB="random"))
        self.assertEqual(sum(counts.values()), 300)
        for i in IDS:  # 100 expected each; below 30 has a probability under 1e-20
            self.assertGreaterEqual(counts[i], 30, counts)
        # By silk_channel_set_policy.
        counts = self.spread(300, "random")
        for i in IDS:
            self.assertGreaterEqual(counts[i], 30, counts)

    def check_hashing(self, kind, n):
        self.start_three()
        first = self.keys(n, kind)
        self.assertEqual(self.keys(n, kind), first, "a key stays on its instance")
        per = {i: sum(1 for v in first.values() if v == i) for i in IDS}
        for i in IDS:
            self.assertGreater(per[i], n // 6, per)
        # One of the three leaves: only its keys move, about a third of them all.
        self.services["c"].stop()
        self.wait_registered({"a", "b"})
        after = self.keys(n, kind)
        moved = [k for k in first if first[k] != after[k]]
        for k in moved:
            self.assertEqual(first[k], "c", f"{k} moved from {first[k]}, which stayed")
        self.assertEqual(len(moved), per["c"], "every key of the instance that left moved")
        self.assertTrue(0.20 * n <= len(moved) <= 0.47 * n, f"{len(moved)} of {n} moved")
        self.assertEqual(set(after.values()), {"a", "b"})

    def test_hash_key_stays_and_moves_a_third(self):
        self.check_hashing("keyed", 300)

    def test_business_id_hashing_for_a_websocket_service(self):
        self.check_hashing("business", 150)

    # ---------------------------------------------------------------- failover

    def test_kill_9_under_load(self):
        self.start_three()
        proc = self.start_client("probe.Probe", "load", 4000)
        self.assertEqual(proc.stdout.readline().strip(), "loading")
        time.sleep(1.2)
        victim = self.services["b"]
        victim.kill()
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertNotIn("Sanitizer", err)
        got = fields(out)
        # Every idempotent call succeeded: the ones that met the dead instance went elsewhere.
        self.assertEqual(got["echo_failed"], "0", out)
        self.assertGreater(int(got["echo_ok"]), 0, out)
        # Every non-idempotent call succeeded once or failed with UNAVAILABLE.
        incr_failed = int(got["incr_failed"])
        self.assertEqual(incr_failed, int(got.get("incr_UNAVAILABLE", 0)), out)
        for i in ("a", "c"):  # each success ran once, and nothing ran that did not succeed
            self.assertEqual(self.stats(self.services[i])["counter"],
                             int(got.get(f"incr_at_{i}", 0)), out)
        ran_on_victim = victim.read_log().count("probe: incr value=")
        ok_on_victim = int(got.get("incr_at_b", 0))
        self.assertGreater(ok_on_victim, 0, "the victim served before it was killed")
        self.assertTrue(ok_on_victim <= ran_on_victim <= ok_on_victim + incr_failed,
                        f"{ran_on_victim} ran on the victim, {ok_on_victim} succeeded there")

    def test_busy_instance_refusals_go_elsewhere(self):
        # a handles one call at a time and refuses the rest with RESOURCE_EXHAUSTED before
        # running them: idempotent Echo calls it refuses are given to b and c.
        self.services["a"] = Service(self.env, self.dir.name, "svc-a", "--id", "a",
                                     "--max-concurrent", 1)
        for i in ("b", "c"):
            self.services[i] = Service(self.env, self.dir.name, f"svc-{i}", "--id", i)
        self.wait_registered(set(IDS))
        done = self.client("probe.Probe", "concurrent", 60)
        got = fields(done.stdout)
        self.assertEqual((got["ok"], got["exhausted"]), ("60", "0"), done.stdout + done.stderr)
        self.assertLess(self.stats(self.services["a"])["echoes"], 20, "a refused some")

    def test_breaker_opens_probes_and_closes(self):
        self.start_three()
        b = self.services["b"]
        done = self.client("probe.Probe", "breaker", b.address, 30, 1500)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        got = fields(done.stdout)
        for phase in ("failing_", "probe_failed_", "healed_still_open_", "closed_"):
            self.assertEqual(got[f"{phase}ok"], "30", done.stdout)  # failover hid b's failures
        # b failing: it sees three calls, then its breaker opens and no call reaches it.
        self.assertEqual(got["failing_reached"], "3", done.stdout)
        # After the open period exactly one probe reaches it; it fails, the breaker reopens.
        self.assertEqual(got["probe_failed_reached"], "1", done.stdout)
        # Healed, but still open: nothing reaches it until the next open period ends.
        self.assertEqual(got["healed_still_open_reached"], "0", done.stdout)
        # Then one probe succeeds and closes the breaker: b takes its share again.
        self.assertGreaterEqual(int(got.get("closed_at_b", 0)), 7, done.stdout)

    def test_redis_restarted_under_load(self):
        if self.redis is None:
            self.skipTest("the Redis registry only")
        self.start_three()
        proc = self.start_client("probe.Probe", "load", 4000)
        self.assertEqual(proc.stdout.readline().strip(), "loading")
        time.sleep(1)
        self.redis.kill()  # its data is gone with it: persistence is off
        time.sleep(1)
        self.redis.start()  # on the same port
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertNotIn("Sanitizer", err)
        got = fields(out)
        # The channel kept its last view: no call failed while Redis was away.
        self.assertEqual((got["echo_failed"], got["incr_failed"]), ("0", "0"), out)
        # The instances register again into the new Redis.
        self.wait_registered(set(IDS))
        self.assertEqual(self.spread(30), {"a": 10, "b": 10, "c": 10})

    def test_breaker_opens_on_a_stopped_instance(self):
        # b is stopped: its socket accepts, nothing answers. Each call sent to it times out in
        # silence - a failure - and after three the breaker keeps calls away from it.
        self.start_three()
        self.services["b"].proc.send_signal(signal.SIGSTOP)
        done = self.client("probe.Probe", "spread", 30, "-", 300)
        got = fields(done.stdout)
        self.assertEqual((got["ok"], got["failed"]), ("27", "3"), done.stdout + done.stderr)
        self.assertEqual(got["DEADLINE_EXCEEDED"], "3", done.stdout)
        self.assertNotIn("at_b", got, done.stdout)
        self.assertEqual(int(got["at_a"]) + int(got["at_c"]), 27, done.stdout)

    def test_all_breakers_open_fail_fast(self):
        self.start_three()
        for svc in self.services.values():
            self.client(svc.address, "stats")  # up
        # Every instance stopped: the calls fail, the breakers open, then calls fail at once
        # with a message that says so.
        for svc in self.services.values():
            svc.kill()
        done = self.client("probe.Probe", "spread", 12)
        self.assertNotEqual(done.returncode, 0)
        got = fields(done.stdout)
        self.assertEqual(got["ok"], "0", done.stdout)
        self.assertEqual(got["failed"], "12", done.stdout)
        self.assertEqual(got.get("UNAVAILABLE"), "12", done.stdout)
        self.assertIn("circuit breakers open", got["last_message"], done.stdout)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--registry", choices=("file", "redis"), default="file")
    ARGS, rest = parser.parse_known_args()
    rpc_test.ARGS = ARGS
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
