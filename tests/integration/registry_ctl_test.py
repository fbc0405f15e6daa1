"""registry_ctl_test.py - silk-ctl list and silk-ctl health against real instances: two
rpc-probe-service processes and a silk-gateway (whose SessionManager records its gateway id),
on the file registry and on a real redis-server; then one instance killed with SIGKILL."""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

from registry_support import (Process, Redis, check_sanitizers, free_port, port_open,
                              start_probe_service, wait_until)

ARGS = None


class CtlTestBase:
    """The tests; a subclass makes the registry they run on (make_registry)."""

    def make_registry(self):
        raise NotImplementedError

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-registry-ctl-")
        self.redis = None
        self.processes = []
        self.url = self.make_registry()
        self.env = dict(os.environ, SILK_REGISTRY=self.url)
        self.env.pop("SILK_TOKEN", None)
        self.env.pop("SILK_LISTEN", None)

    def tearDown(self):
        try:
            for p in reversed(self.processes):
                p.stop()
            if self.redis is not None:
                self.redis.stop()
            check_sanitizers(self.processes)
        finally:
            self.dir.cleanup()

    def ctl(self, *args, env=None):
        exe = os.path.join(ARGS.build_dir, "bin", "silk-ctl")
        done = subprocess_run([exe, *args], env or self.env)
        self.assertNotIn("Sanitizer", done.stderr)
        return done

    def start_gateway(self, gateway_id):
        port = free_port()
        exe = os.path.join(ARGS.build_dir, "bin", "silk-gateway")
        gw = Process([exe, "--listen", f"127.0.0.1:{port}", "--id", gateway_id], self.env,
                     os.path.join(self.dir.name, "gateway.log"))
        self.processes.append(gw)
        wait_until(lambda: port_open(port) or gw.proc.poll() is not None, 10, "the gateway")
        self.assertIsNone(gw.proc.poll(), gw.read_log())
        return gw

    def rows(self, service):
        """silk-ctl list's rows of service, as lists of columns."""
        done = self.ctl("list")
        self.assertEqual(done.returncode, 0, done.stderr)
        return [line.split() for line in done.stdout.splitlines() if line.startswith(service + " ")]

    def test_list_and_health(self):
        a = start_probe_service(ARGS.build_dir, self.env, self.dir.name, "svc-a")
        self.processes.append(a)
        b = start_probe_service(ARGS.build_dir, self.env, self.dir.name, "svc-b")
        self.processes.append(b)
        self.start_gateway("gw-ctl-test")
        wait_until(lambda: len(self.rows("probe.Probe")) == 2, 10, "two instances listed")
        wait_until(lambda: len(self.rows("silk.ws.SessionManager")) == 1, 10, "the gateway")

        done = self.ctl("list")
        self.assertIn(f"registry {self.url}: 3 instances", done.stdout)
        self.assertRegex(done.stdout, r"SERVICE +ID +ADDRESS +WEIGHT +VERSION +AGE +GATEWAY")
        probes = self.rows("probe.Probe")
        self.assertEqual(sorted(r[2] for r in probes), sorted([a.address, b.address]))
        for row in probes:
            self.assertEqual(row[3], "1", row)  # weight
            self.assertRegex(row[5], r"^\d+s$")  # age
            self.assertEqual(row[6], "-")  # not a gateway
        gw = self.rows("silk.ws.SessionManager")[0]
        self.assertEqual((gw[1], gw[6]), ("gw-ctl-test", "gw-ctl-test"))

        done = self.ctl("health", "probe.Probe")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), 2, done.stdout)
        self.assertTrue(all(line.endswith(" SERVING") for line in lines), done.stdout)

        # SIGKILL: b's record stays until its TTL; health tells it is not serving.
        b.kill()
        done = self.ctl("health", "probe.Probe", "--timeout", "2000")
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        by_address = {line.split()[2]: line for line in done.stdout.splitlines()}
        self.assertTrue(by_address[a.address].endswith(" SERVING"), done.stdout)
        self.assertIn("NOT_SERVING (UNAVAILABLE", by_address[b.address])

        done = self.ctl("health", "nobody.Here")
        self.assertEqual(done.returncode, 1)
        self.assertIn("no instance of nobody.Here", done.stderr)
        self.assertEqual(self.ctl("health").returncode, 2)


def subprocess_run(argv, env):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


class FileRegistryCtlTest(CtlTestBase, unittest.TestCase):
    def make_registry(self):
        return f"file:{self.dir.name}/registry"

    def test_list_without_a_registry_directory(self):
        missing = os.path.join(self.dir.name, "never-made")
        done = self.ctl("list", "--registry", f"file:{missing}")
        self.assertEqual(done.returncode, 1)
        self.assertIn(f"no registry at file:{missing}: the directory {missing} does not exist",
                      done.stderr)
        self.assertFalse(os.path.exists(missing), "silk-ctl list does not make it")


class RedisRegistryCtlTest(CtlTestBase, unittest.TestCase):
    def make_registry(self):
        self.redis = Redis(self.dir.name)
        return self.redis.url(2)

    def test_list_with_redis_down(self):
        self.redis.kill()
        done = self.ctl("list")
        self.assertEqual(done.returncode, 1)
        self.assertIn(f"cannot read the registry {self.url}: UNAVAILABLE", done.stderr)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
