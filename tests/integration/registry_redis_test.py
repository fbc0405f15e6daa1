"""registry_redis_test.py - the Redis registry with real processes: two rpc-probe-service
instances and registry-load-client calling probe.Probe by name in a loop, while the test
kills Redis (persistence off: it comes back empty) and starts it again on the same port.
Calls must go on throughout, the client must warn once, and the registry must fill again by
the instances' heartbeats."""
import argparse
import os
import re
import sys
import tempfile
import threading
import time
import unittest

from registry_support import (Process, Redis, check_sanitizers, start_probe_service,
                              wait_until)

ARGS = None


class LoadClient(Process):
    """registry-load-client, whose progress lines are read on a thread."""

    def __init__(self, env, log_dir):
        exe = os.path.join(ARGS.build_dir, "tests", "registry-load-client")
        super().__init__([exe, "probe.Probe"], env, os.path.join(log_dir, "client.log"),
                         stdout=-1)  # subprocess.PIPE
        self.ok = self.failed = 0
        self.final = None
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.proc.stdout:
            m = re.search(r"ok=(\d+) failed=(\d+)", line)
            if m:
                self.ok, self.failed = int(m.group(1)), int(m.group(2))
            if line.startswith("final"):
                self.final = line.strip()

    def finish(self):
        rc = self.stop()
        self.reader.join(timeout=10)
        return rc


class RedisRestartTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-registry-redis-")
        self.processes = []
        self.redis = Redis(self.dir.name)
        self.env = dict(os.environ, SILK_REGISTRY=self.redis.url(1))
        self.env.pop("SILK_TOKEN", None)
        self.env.pop("SILK_LISTEN", None)

    def tearDown(self):
        try:
            for p in reversed(self.processes):
                p.stop()
            self.redis.stop()
            check_sanitizers(self.processes)
        finally:
            self.dir.cleanup()

    def members(self):
        return sorted(self.redis.cli("SMEMBERS", "silk/svc/probe.Probe", db=1).split())

    def test_calls_go_on_while_redis_restarts(self):
        a = start_probe_service(ARGS.build_dir, self.env, self.dir.name, "svc-a")
        self.processes.append(a)
        b = start_probe_service(ARGS.build_dir, self.env, self.dir.name, "svc-b")
        self.processes.append(b)
        wait_until(lambda: len(self.members()) == 2, 10, "both instances in Redis")
        ids = self.members()

        client = LoadClient(self.env, self.dir.name)
        self.processes.append(client)
        wait_until(lambda: client.ok >= 50, 20, "the first calls")

        self.redis.kill()
        # The client's channel reads the registry every second: it finds Redis gone, warns
        # and keeps its last view; calls go on.
        wait_until(lambda: "unreachable" in client.read_log(), 10, "the client to warn")
        during = client.ok
        wait_until(lambda: client.ok >= during + 50, 20, "calls while Redis is down")
        wait_until(lambda: "heartbeat failed" in a.read_log(), 10, "a heartbeat to fail")
        self.redis.start()  # empty: --save "" --appendonly no
        after = client.ok
        # The heartbeats (every TTL/3) write the whole records again.
        wait_until(lambda: self.members() == ids, 15, "the instances to register again")
        record = self.redis.cli("GET", f"silk/inst/probe.Probe/{ids[0]}", db=1)
        self.assertIn("address=tcp://127.0.0.1:", record)
        self.assertIn("started_ms=", record)
        wait_until(lambda: client.ok >= after + 50, 20, "calls after Redis is back")

        self.assertEqual(client.finish(), 0)
        self.assertIsNotNone(client.final, client.read_log())
        final = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', client.final))
        self.assertEqual(final["failed"], "0", client.final)
        log = client.read_log()
        self.assertEqual(log.count("unreachable"), 1, "one warning per outage:\n" + log)
        self.assertIn("reachable again", log)
        for svc in (a, b):
            self.assertEqual(svc.stop(), 0, svc.read_log())
        self.assertEqual(self.members(), [], "both deregistered on shutdown")

    def test_a_service_started_while_redis_is_down_registers_when_it_returns(self):
        self.redis.kill()
        a = start_probe_service(ARGS.build_dir, self.env, self.dir.name, "svc-early")
        self.processes.append(a)
        wait_until(lambda: "registry unreachable: serving" in a.read_log(), 10,
                   "the service to say it waits for the registry")
        self.assertIsNone(a.proc.poll(), "the service exited:\n" + a.read_log())
        self.redis.start()
        wait_until(lambda: len(self.members()) == 1, 15, "the instance to register")
        record = self.redis.cli("GET", f"silk/inst/probe.Probe/{self.members()[0]}", db=1)
        self.assertIn(f"address={a.address}", record)
        self.assertEqual(a.stop(), 0, a.read_log())
        self.assertEqual(self.members(), [], "deregistered on shutdown")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
