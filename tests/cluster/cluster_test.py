"""cluster_test.py - sessions across machines: three hosts, their gateways, one Redis (issue 15).

    /usr/bin/python3 tests/cluster/cluster_test.py --build-dir build --source-dir .

netns.py makes the hosts: network namespaces on a bridge of their own, addresses from
198.18.0.0/15, no route out. Each host runs silk-gateway and wstest-service; a fourth runs
redis-server, the registry of all of them. The test sets SILK_REGISTRY_TTL_MS=3000, measures
the TTL the records get, and bounds its waits by that. WebSocket sessions are python3-websockets clients
(wsclient.py) inside the hosts, opened on their own host's gateway; pushes are wstest-caller
(WsTest.Echo by name through the registry) and curl POSTs to /api/wstest/echo, run inside
the hosts with `ip netns exec`.

Everything made is removed at the end, on failure, on Ctrl-C or SIGTERM, and - by a guard
process - when this process is killed outright; a run also removes what dead runs left. The
whole run is bounded (WHOLE_RUN_S). Exits 77, which ctest counts as skipped, where network
namespaces cannot be made (not root, no CAP_SYS_ADMIN).

SILK_CLUSTER_KEEP_LOGS=1 keeps the logs' directory (its path is printed).
"""
import argparse
import collections
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402

ARGS = None
CLUSTER = None
TTL_MS = 3000  # asked for through SILK_REGISTRY_TTL_MS (see main)
REGISTRY_TTL_MS = 10000  # the TTL in effect, measured by main
WHOLE_RUN_S = 170  # under the ctest TIMEOUT, so that a stuck run still cleans up
WSCLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsclient.py")
HOSTS = netns.HOSTS
CALLER_ERROR = re.compile(r"^wstest-caller: ([A-Z_]+): (.*)$", re.M)
_names = itertools.count()


class OutOfTime(KeyboardInterrupt):
    """Raised by the whole run's alarm; a KeyboardInterrupt so that unittest stops."""


class Sessions:
    """wsclient.py on a host: one session per business id, and what each receives."""

    def __init__(self, host, business_ids):
        self.host = host
        self.proc = CLUSTER.start(
            host, f"ws-{next(_names)}",
            [netns.PYTHON, WSCLIENT, CLUSTER.ws_url(host), *business_ids],
            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        self.cv = threading.Condition()
        self.events = []
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()
        self.wait(lambda: any(e["ev"] == "ready" for e in self.events), 20,
                  f"the sessions on {host} to open")
        errors = [e for e in self.events if e["ev"] == "error"]
        if errors:
            raise AssertionError(f"sessions on {host} did not open: {errors}")
        self.ids = [e["session"] for e in sorted((e for e in self.events if e["ev"] == "open"),
                                                 key=lambda e: e["i"])]

    def _read(self):
        for line in self.proc.popen.stdout:
            with self.cv:
                self.events.append(json.loads(line))
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait(self, predicate, timeout, what):
        with self.cv:
            if not self.cv.wait_for(lambda: predicate() or self.eof, timeout) or not predicate():
                raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                     f"(client log: {self.proc.read_log()[-1000:]!r})")

    def received(self, session):
        with self.cv:
            return [e["data"] for e in self.events if e["ev"] == "msg" and e["session"] == session]

    def closed(self):
        with self.cv:
            return [e for e in self.events if e["ev"] == "closed"]

    def close(self):
        if self.proc.running():
            try:
                self.proc.popen.stdin.close()
                self.proc.popen.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class SessionsView:
    """Some of a Sessions' sessions (ids), to use where a Sessions goes."""

    def __init__(self, sessions, ids):
        self.s = sessions
        self.host = sessions.host
        self.ids = ids

    def wait(self, *a):
        return self.s.wait(*a)

    def received(self, sid):
        return self.s.received(sid)


def push_text(msg, sid):
    return f"message:{msg},sessionId:{sid}"


def wait_received(sessions, msg, timeout=15):
    """Waits until every session of sessions (Sessions or SessionsViews) has received msg."""
    for s in sessions:
        for sid in s.ids:
            s.wait(lambda: push_text(msg, sid) in s.received(sid), timeout,
                   f"{msg!r} at {sid} on {s.host}")


class ClusterTest(unittest.TestCase):
    """Every case starts with every host up and every host's sessions reachable from every
    other (setUp waits for that, bounded), and closes the sessions it opened."""

    def setUp(self):
        self.sessions = []
        for host in HOSTS:
            if not CLUSTER.host_running(host):
                CLUSTER.start_host(host)
        CLUSTER.wait_ready(HOSTS)
        self.wait_reachable("setup")

    def tearDown(self):
        for s in self.sessions:
            s.close()

    # --- helpers -----------------------------------------------------------------------------

    def open(self, host, *business_ids):
        s = Sessions(host, business_ids)
        self.sessions.append(s)
        for sid in s.ids:
            self.assertTrue(sid.startswith(CLUSTER.gateway_id(host) + "."),
                            f"{sid} is not a session of {CLUSTER.gateway_id(host)}")
        return s

    def call(self, host, business_id, msg):
        """wstest-caller on host; returns (status name, message): ("OK", "") on success."""
        done = CLUSTER.caller(host, business_id, msg)
        if done.returncode == 0:
            self.assertEqual(done.stdout.strip(), "ok")
            return "OK", ""
        m = CALLER_ERROR.search(done.stderr)
        self.assertIsNotNone(m, f"wstest-caller on {host} exited {done.returncode} without a "
                                f"status line: {done.stderr!r}")
        return m.group(1), m.group(2)

    def call_ok(self, host, business_id, msg):
        st = self.call(host, business_id, msg)
        self.assertEqual(st, ("OK", ""), f"wstest-caller {business_id} {msg} on {host}")

    def post_ok(self, via, gateway_host, business_id, msg):
        code, body = CLUSTER.post_echo(via, gateway_host, business_id, msg)
        self.assertEqual((code, body), (200, "{}"),
                         f"POST /api/wstest/echo {business_id} {msg} from {via} to {gateway_host}")

    def wait_reachable(self, tag, timeout=30):
        """Opens a session on every host and pushes to them through each host's WsTest
        instance in turn (silk-ctl call --target) until a push from each reaches all three
        (bounded): a case starts from a cluster where every instance reaches every gateway.
        (A WsTest instance that failed to dial a gateway backs off, up to 5 s, and skips that
        gateway meanwhile; see docs/cluster.md.)"""
        business = f"probe-{tag}-{next(_names)}"
        probes = [Sessions(host, [business]) for host in HOSTS]
        try:
            deadline = time.monotonic() + timeout
            for target in HOSTS:
                for n in itertools.count():
                    msg = f"{business}-via-{target}-{n}"
                    done = CLUSTER.ctl_call(target, "wstest.WsTest/Echo",
                                            {"businessId": business, "msg": msg})
                    try:
                        if done.returncode == 0:
                            wait_received(probes, msg, timeout=2)
                            break
                    except AssertionError:
                        pass
                    if time.monotonic() > deadline:
                        self.fail(f"{tag}: pushes through {target}'s WsTest did not reach every "
                                  f"host within {timeout} s (last: {done.stderr.strip()})")
                    time.sleep(0.1)
        finally:
            for s in probes:
                s.close()

    def sm_counters(self, host):
        """host's gateway's SessionManager calls by method, and its pushes sent."""
        m = CLUSTER.metrics(host)
        return {k: v for k, v in m.items()
                if k.startswith("silk_gateway_session_manager_calls_total")
                or k == "silk_gateway_pushes_sent_total"}

    def barrier(self, sessions, business_id, tag):
        """Pushes a last message to business_id from h1 and waits until each session of it has
        it: pushes to one session arrive in order, so after it the lists are final."""
        msg = f"barrier-{tag}"
        self.call_ok("h1", business_id, msg)
        wait_received(sessions, msg)
        return msg

    def assert_received_exactly(self, sessions, msgs):
        for s in sessions:
            for sid in s.ids:
                self.assertEqual(s.received(sid), [push_text(m, sid) for m in msgs],
                                 f"what {sid} on {s.host} received")

    # --- cases ---------------------------------------------------------------------------------


    def test_1_push_from_any_host_reaches_every_host(self):
        """Sessions of one business on every host: a push from any host's caller, and a POST
        to any host's gateway from another host, reaches each of them once; a session of
        another business on the same gateways gets nothing."""
        sessions = [self.open(host, "1001", "1001", "1002") for host in HOSTS]
        before = {host: CLUSTER.metrics(host)["silk_gateway_pushes_sent_total"] for host in HOSTS}
        echoes_before = sum(echo_calls(host) for host in HOSTS)
        targets = [SessionsView(s, s.ids[:2]) for s in sessions]
        controls = [SessionsView(s, s.ids[2:]) for s in sessions]
        sent = []
        for host in HOSTS:
            msg = f"call-from-{host}"
            self.call_ok(host, "1001", msg)
            sent.append(msg)
            wait_received(targets, msg)
        for via, gw in zip(HOSTS, HOSTS[1:] + HOSTS[:1]):
            msg = f"post-from-{via}-to-{gw}"
            self.post_ok(via, gw, "1001", msg)
            sent.append(msg)
            wait_received(targets, msg)
        sent.append(self.barrier(targets, "1001", "1001"))
        self.assert_received_exactly(targets, sent)
        control = self.barrier(controls, "1002", "1002")
        self.assert_received_exactly(controls, [control])
        for host in HOSTS:  # two sessions per push of 1001, one for 1002's barrier
            after = CLUSTER.metrics(host)["silk_gateway_pushes_sent_total"]
            self.assertEqual(after - before[host], 2 * len(sent) + 1, f"pushes sent by {host}")
        # The services' own metrics (SILK_METRICS_LISTEN, scraped from another host): every
        # push was one Echo, answered OK, on one of the three instances.
        self.assertEqual(sum(echo_calls(host) for host in HOSTS) - echoes_before, len(sent) + 1)

    def test_2_business_on_one_host_costs_the_others_nothing(self):
        """A business whose sessions are all on h1 is pushed to - from every host's caller
        and through h2's gateway - without any call to h2's or h3's SessionManager: their
        counters stay still while h1's move."""
        sessions = [self.open("h1", "2001", "2001")]
        others = ("h2", "h3")
        before = {host: self.sm_counters(host) for host in HOSTS}
        sent = []
        for host in HOSTS:
            msg = f"call-from-{host}"
            self.call_ok(host, "2001", msg)
            sent.append(msg)
        self.post_ok("h3", "h2", "2001", "post-to-h2")
        sent.append("post-to-h2")
        sent.append(self.barrier(sessions, "2001", "2001"))
        self.assert_received_exactly(sessions, sent)
        for host in others:
            self.assertEqual(self.sm_counters(host), before[host],
                             f"{host}'s gateway was called for a business it has no session of")
        h1 = self.sm_counters("h1")
        self.assertEqual(h1["silk_gateway_pushes_sent_total"]
                         - before["h1"]["silk_gateway_pushes_sent_total"], 2 * len(sent))

    def test_3_kill_9_of_a_host(self):
        """kill -9 of every process of h3: pushes to a business on every host go on reaching
        h1's and h2's sessions, with no failed call once the registry's TTL has dropped h3;
        pushes to a business whose sessions were all on h3 fail with a status that says why -
        UNAVAILABLE naming gw-h3 while its record lives, NOT_FOUND naming the business after
        - and every call returns (bounded)."""
        sessions = {host: self.open(host, "3001") for host in HOSTS}
        self.open("h3", "3002")
        self.call_ok("h1", "3001", "before")
        wait_received(sessions.values(), "before")
        gw3, ws3 = CLUSTER.instance_ids("h3")
        CLUSTER.kill_host("h3")
        # Until the TTL drops h3's records: every call returns, whatever it answers (counted
        # for the record), and a push to h3's only business fails saying why.
        window = collections.Counter()
        deadline = time.monotonic() + REGISTRY_TTL_MS / 1000 + 5
        while any(i in CLUSTER.registered().get(s, ()) for s, i in
                  ((netns.SESSION_MANAGER, gw3), (netns.WSTEST, ws3))):
            for host in ("h1", "h2"):
                st = self.call(host, "3001", f"window-{sum(window.values())}")
                window[(host, "3001", st[0])] += 1
                st = self.call(host, "3002", "window")
                window[(host, "3002", st[0])] += 1
                unreachable = f"gateway {gw3} at tcp://{CLUSTER.addr('h3')}:{netns.RPC_PORT} " \
                              "cannot be reached: "
                self.assertTrue(st[0] == "UNAVAILABLE" and st[1].startswith(unreachable)
                                or st == ("NOT_FOUND", "no session for businessId 3002"),
                                f"a push to h3's only business from {host}: {st}")
            self.assertLess(time.monotonic(), deadline,
                            f"h3's instances stayed in the registry: {CLUSTER.registered()}")
            time.sleep(0.2)
        print(f"\n  until the TTL dropped h3: {dict(window)}", file=sys.stderr)
        # After it: no failed call.
        alive = [sessions["h1"], sessions["h2"]]
        sent = []
        for n in range(3):
            for host in ("h1", "h2"):
                msg = f"after-{host}-{n}"
                self.call_ok(host, "3001", msg)
                sent.append(msg)
        self.post_ok("h1", "h2", "3001", "post-h1-to-h2")
        self.post_ok("h2", "h1", "3001", "post-h2-to-h1")
        sent += ["post-h1-to-h2", "post-h2-to-h1"]
        sent.append(self.barrier(alive, "3001", "3001"))
        for s in alive:
            sid = s.ids[0]
            got = s.received(sid)
            for msg in sent:
                self.assertEqual(got.count(push_text(msg, sid)), 1, f"{msg} at {sid}: {got}")
        for host in ("h1", "h2"):
            st, message = self.call(host, "3002", "to-the-dead")
            self.assertEqual(st, "NOT_FOUND")
            self.assertIn("3002", message)
            code, body = CLUSTER.post_echo(host, host, "3002", "to-the-dead")
            self.assertEqual(code, 404, body)
            self.assertEqual(json.loads(body)["code"], 5)
            self.assertIn("3002", json.loads(body)["message"])

    def test_4_partition_and_heal(self):
        """h2's link down for 10 s, then up: every call made meanwhile returns (bounded);
        afterwards pushes from h1 and h3 reach h2's sessions again - the same sessions,
        never closed - and h2's caller and gateway reach the others."""
        sessions = {host: self.open(host, "4001") for host in HOSTS}
        self.call_ok("h1", "4001", "before")
        wait_received(sessions.values(), "before")
        healed = threading.Event()

        def heal():
            CLUSTER.link_up("h2")
            healed.set()

        CLUSTER.link_down("h2")
        timer = threading.Timer(10, heal)
        timer.start()
        during = collections.Counter()
        try:
            while timer.is_alive():
                for host in ("h1", "h3"):
                    st = self.call(host, "4001", f"during-{sum(during.values())}")
                    during[(host, st[0])] += 1
        finally:
            timer.cancel()
            timer.join()
            if not healed.is_set():
                CLUSTER.link_up("h2")
        print(f"\n  during the partition of h2: {dict(during)}", file=sys.stderr)
        deadline = time.monotonic() + 30
        for n in itertools.count():
            msg = f"healed-{n}"
            st = self.call("h1", "4001", msg)
            try:
                if st[0] == "OK":
                    wait_received([sessions["h2"]], msg, timeout=2)
                    break
            except AssertionError:
                pass
            self.assertLess(time.monotonic(), deadline,
                            f"h2's session unreachable 30 s after the heal (last: {st})")
        print(f"  pushes reached h2 again after {n + 1} pushes", file=sys.stderr)
        for via in ("h2", "h3"):
            msg = f"after-heal-from-{via}"
            self.call_ok(via, "4001", msg)
            wait_received(sessions.values(), msg)
        self.post_ok("h3", "h2", "4001", "post-to-h2")
        wait_received(sessions.values(), "post-to-h2")
        # h1's gateway may still hold a connection to a service on h2 that died in the
        # partition and whose keepalive has not yet given up on it: a call on it fails 503 (the
        # gateway does not retry a call that is not idempotent). Bounded: 15 s.
        deadline = time.monotonic() + 15
        for n in itertools.count():
            msg = f"post-from-h2-{n}"
            code, body = CLUSTER.post_echo("h2", "h1", "4001", msg)
            if code == 200 or time.monotonic() > deadline or '"code":14' not in body:
                break
            time.sleep(0.5)
        self.assertEqual((code, body), (200, "{}"), f"POST /api/wstest/echo {msg} from h2 to h1")
        wait_received(sessions.values(), msg)
        self.barrier(sessions.values(), "4001", "4001")
        for s in sessions.values():
            self.assertEqual(s.closed(), [], f"sessions of {s.host} were closed")
            got = s.received(s.ids[0])
            self.assertEqual(len(got), len(set(got)), f"a message came twice to {s.host}: {got}")

    def test_5_redis_killed_and_restarted_during_pushes(self):
        """kill -9 of redis-server while POSTs to every gateway push to sessions on every
        host, then a restart with an empty Redis: no push fails and every session receives
        every push once, in order; a fresh caller, which has never read the registry, gets
        UNAVAILABLE while Redis is down; once the heartbeats have filled Redis again fresh
        callers on every host succeed."""
        sessions = [self.open(host, "5001") for host in HOSTS]
        sent = []

        def push(n):
            host = HOSTS[n % len(HOSTS)]
            msg = f"push-{n}"
            self.post_ok(host, host, "5001", msg)
            sent.append(msg)
            wait_received(sessions, msg)

        counter = itertools.count()
        for _ in range(3):
            push(next(counter))
        full = CLUSTER.registered()
        CLUSTER.procs[(netns.REDIS_HOST, "redis-server")].kill()
        for _ in range(6):
            push(next(counter))
        st, message = self.call("h1", "5001", "fresh-caller-without-redis")
        self.assertEqual(st, "UNAVAILABLE", message)
        CLUSTER.start_redis()
        refilled = time.monotonic() + 15
        while CLUSTER.registered() != full:
            push(next(counter))
            self.assertLess(time.monotonic(), refilled,
                            f"Redis not refilled: {CLUSTER.registered()} != {full}")
        for _ in range(3):
            push(next(counter))
        for host in HOSTS:
            msg = f"fresh-caller-{host}"
            self.call_ok(host, "5001", msg)
            sent.append(msg)
        sent.append(self.barrier(sessions, "5001", "5001"))
        self.assert_received_exactly(sessions, sent)


def echo_calls(host):
    """Echo calls host's wstest-service answered OK, by its own metrics, read from h1."""
    m = CLUSTER.metrics(host, via="h1", service=True)
    return m.get('silk_server_calls_total{method="/wstest.WsTest/Echo",code="OK"}', 0)


def check_logs(work_dir):
    """Fails on what a sanitizer build reports in a process's log (leaks included)."""
    for name in sorted(os.listdir(work_dir)):
        if name.endswith(".log") and not name.startswith(netns.REDIS_HOST):
            with open(os.path.join(work_dir, name), errors="replace") as f:
                text = f.read()
            for mark in ("Sanitizer", "runtime error:"):
                if mark in text:
                    raise AssertionError(f"{name} reports {mark}:\n{text[-4000:]}")


def main():
    global ARGS, CLUSTER, REGISTRY_TTL_MS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    why = netns.can_make_namespaces()
    if why is not None:
        print(f"SKIP: cluster tests need network namespaces: {why}", file=sys.stderr)
        return 77
    bin_dir = os.path.join(ARGS.build_dir, "bin")
    for exe in ("silk-gateway", "wstest-service", "wstest-caller"):
        if not os.access(os.path.join(bin_dir, exe), os.X_OK):
            print(f"no {exe} in {bin_dir}: run make build first", file=sys.stderr)
            return 1
    for what in netns.cleanup_stale():
        print(f"removed, left by a dead run: {what}", file=sys.stderr)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def out_of_time(signum, frame):
        raise OutOfTime(f"the run passed its bound of {WHOLE_RUN_S} s")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(WHOLE_RUN_S)
    prefix = f"{netns.TEST_STEM}{os.getpid()}-"
    keep = os.environ.get("SILK_CLUSTER_KEEP_LOGS") == "1"
    work_dir = tempfile.mkdtemp(prefix=prefix)
    guard = netns.start_guard(prefix, None if keep else work_dir)
    CLUSTER = netns.Cluster(prefix, bin_dir, work_dir, ttl_ms=TTL_MS)
    ok = False
    started = time.monotonic()
    try:
        CLUSTER.create()
        CLUSTER.start_all()
        REGISTRY_TTL_MS = CLUSTER.record_ttl_ms()
        print(f"registry TTL in effect: {REGISTRY_TTL_MS} ms (SILK_REGISTRY_TTL_MS={TTL_MS} "
              "asked)", file=sys.stderr)
        result = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False).result
        ok = result.wasSuccessful()
    finally:
        signal.alarm(0)
        try:
            CLUSTER.destroy()
            check_logs(work_dir)
        finally:
            if not ok or keep:
                for name in sorted(os.listdir(work_dir)):
                    if re.search(r"-(silk-gateway|wstest-service|redis-server)\.log$", name):
                        with open(os.path.join(work_dir, name), errors="replace") as f:
                            tail = f.read()[-1500:]
                        print(f"--- {name} (tail)\n{tail}", file=sys.stderr)
            if keep:
                print(f"logs kept in {work_dir}", file=sys.stderr)
            else:
                shutil.rmtree(work_dir, ignore_errors=True)
            guard.close()
            print(f"cluster run: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
