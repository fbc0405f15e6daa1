"""netns.py - a cluster of hosts on one machine: network namespaces on a bridge of their own.

Used by tests/cluster/cluster_test.py and samples/cluster/. A Cluster makes, with names that
all begin with its prefix (`silkc<pid>-` for a test, `silkdemo-` for the sample):

    bridge PREFIXbr, in the root namespace, with no address: the hosts' only link
    namespace PREFIXh1 .. PREFIXh3   eth0 198.18.0.1 .. .3/24, its veth PREFIXh1 .. on the bridge
    namespace PREFIXredis            eth0 198.18.0.4/24, its veth PREFIXr

198.18.0.0/15 is RFC 2544's benchmarking range: never routed. No namespace has a default
route, so nothing leaves the bridge. Each host runs silk-gateway (HTTP and WebSocket on :5000,
SessionManager on :5001) and wstest-service (:5002); the redis host runs redis-server on
:6379 with persistence off. Every process is started through `ip netns exec` with its log in
the cluster's work directory.

destroy() removes everything the prefix names (processes, namespaces, links), whoever made
it; cleanup_stale() does that for the test prefixes whose process is gone. Every wait is
bounded. Run as root (CAP_SYS_ADMIN and CAP_NET_ADMIN): can_make_namespaces() says whether
this machine allows it.
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

IP = shutil.which("ip") or "/usr/sbin/ip"
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
PYTHON = "/usr/bin/python3"  # Debian's: the one python3-websockets is installed for

SUBNET = "198.18.0"
HOSTS = ("h1", "h2", "h3")
REDIS_HOST = "redis"
ADDRESSES = {"h1": f"{SUBNET}.1", "h2": f"{SUBNET}.2", "h3": f"{SUBNET}.3",
             REDIS_HOST: f"{SUBNET}.4"}
HTTP_PORT = 5000
RPC_PORT = 5001  # the gateway's SessionManager
SERVICE_PORT = 5002  # wstest-service
METRICS_PORT = 9464  # wstest-service's Prometheus metrics (SILK_METRICS_LISTEN)
REDIS_PORT = 6379
TEST_STEM = "silkc"  # test prefixes are silkc<pid>-
IFNAMSIZ = 15  # longest interface name Linux takes
VETHS = {"h1": "h1", "h2": "h2", "h3": "h3", REDIS_HOST: "r"}  # a host's veth: PREFIX + this

WSTEST = "wstest.WsTest"
SESSION_MANAGER = "silk.ws.SessionManager"


class ClusterError(Exception):
    pass


def run(argv, check=True, timeout=20, **kw):
    """Runs argv to completion (bounded); raises ClusterError with its output when it fails
    and check is set."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} exited {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()}")
    return done


def wait_until(predicate, timeout, what, interval=0.05):
    """Calls predicate until it returns a true value, which it returns; raises ClusterError
    naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise ClusterError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def can_make_namespaces():
    """Returns None when this process can make a network namespace and a bridge, else why not
    (one line, for a skip message)."""
    if not os.path.exists(IP):
        return "no `ip` command (iproute2)"
    name = f"{TEST_STEM}{os.getpid()}-pb"
    done = subprocess.run([IP, "netns", "add", name], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        return (f"cannot create a network namespace (`ip netns add` says: "
                f"{done.stderr.strip() or done.returncode}); run as root or with CAP_SYS_ADMIN")
    try:
        link = subprocess.run([IP, "link", "add", name, "type", "bridge"], capture_output=True,
                              text=True, timeout=10)
        if link.returncode != 0:
            return f"cannot create a bridge (`ip link add` says: {link.stderr.strip()})"
        subprocess.run([IP, "link", "del", name], capture_output=True, timeout=10)
        return None
    finally:
        subprocess.run([IP, "netns", "del", name], capture_output=True, timeout=10)


def namespaces():
    out = run([IP, "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def links():
    out = run([IP, "-o", "link", "show"], check=False).stdout
    return [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", out, re.M)]


def pids_in(ns):
    """The pids of the processes in network namespace ns."""
    out = run([IP, "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def alive(pid):
    """Whether pid runs (a zombie, which a detached process is until its new parent reaps it,
    does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_namespace_processes(ns, grace=0.0):
    """Sends SIGTERM to every process in ns and, after grace seconds (or at once), SIGKILL to
    those left; waits (bounded) until none is left."""
    if grace > 0:
        for pid in pids_in(ns):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            wait_until(lambda: not pids_in(ns), grace, f"the processes of {ns} to stop", 0.1)
            return
        except ClusterError:
            pass
    for _ in range(50):
        pids = pids_in(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise ClusterError(f"processes {pids_in(ns)} of {ns} did not die")


def destroy_prefix(prefix, grace=0.0):
    """Removes every namespace and link whose name begins with prefix, killing the processes
    in those namespaces first (SIGTERM and grace seconds first when grace > 0). Returns what
    it removed."""
    removed = []
    mine = [ns for ns in namespaces() if ns.startswith(prefix)]
    for ns in mine:
        kill_namespace_processes(ns, grace)
    for ns in mine:
        run([IP, "netns", "del", ns], check=False)
        removed.append(f"netns {ns}")
    for link in links():
        if link.startswith(prefix):
            run([IP, "link", "del", link], check=False)
            removed.append(f"link {link}")
    # A namespace's veth ends are freed by the kernel after the namespace goes.
    wait_until(lambda: not any(link.startswith(prefix) for link in links()), 10,
               f"the links of {prefix} to go")
    return removed


def cleanup_stale(stem=TEST_STEM):
    """Removes what test runs left behind: namespaces, links and temporary directories named
    <stem><pid>- whose pid is no longer running. Returns what it removed."""
    removed = []
    pat = re.compile(rf"^{re.escape(stem)}(\d+)-")
    prefixes = set()
    for name in namespaces() + links():
        m = pat.match(name)
        if m and int(m.group(1)) != os.getpid() and not alive(int(m.group(1))):
            prefixes.add(m.group(0))
    for prefix in sorted(prefixes):
        removed += destroy_prefix(prefix)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        m = pat.match(entry)
        if m and int(m.group(1)) != os.getpid() and not alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)
            removed.append(f"dir {os.path.join(tmp, entry)}")
    return removed


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it dies."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Proc:
    """A process started in a namespace: its Popen, name, host and log."""

    def __init__(self, host, name, popen, log_path):
        self.host, self.name, self.popen, self.log_path = host, name, popen, log_path

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout seconds; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=10)


class Cluster:
    """Three hosts and a Redis host in namespaces (module docstring). bin_dir holds
    silk-gateway, wstest-service and wstest-caller. work_dir takes the logs (made if
    missing). detached: the processes outlive this Python process (the sample); else they
    die with it. ttl_ms, unless None, is SILK_REGISTRY_TTL_MS for every silk process."""

    def __init__(self, prefix, bin_dir, work_dir, ttl_ms=None, token=None, detached=False,
                 log_level="info"):
        if len(prefix) + max(len(v) for v in list(VETHS.values()) + ["br"]) > IFNAMSIZ:
            raise ClusterError(f"prefix {prefix!r} is too long for interface names")
        self.prefix, self.bin_dir, self.work_dir = prefix, bin_dir, work_dir
        self.ttl_ms, self.detached, self.log_level = ttl_ms, detached, log_level
        self.token = token or secrets.token_hex(32)
        self.bridge = prefix + "br"
        self.procs = {}  # (host, name) -> Proc
        os.makedirs(work_dir, exist_ok=True)

    # --- names and addresses -----------------------------------------------------------------

    def ns(self, host):
        return self.prefix + host

    def veth(self, host):
        """The root namespace's end of host's link, on the bridge."""
        return self.prefix + VETHS[host]

    @staticmethod
    def addr(host):
        return ADDRESSES[host]

    @property
    def registry_url(self):
        return f"redis://{ADDRESSES[REDIS_HOST]}:{REDIS_PORT}"

    def gateway_url(self, host):
        return f"http://{ADDRESSES[host]}:{HTTP_PORT}"

    def ws_url(self, host):
        """WsTest's WebSocket route on host's gateway (the business id goes in the query)."""
        return f"ws://{ADDRESSES[host]}:{HTTP_PORT}/api/wstest"

    @staticmethod
    def gateway_id(host):
        return f"gw-{host}"

    # --- topology ------------------------------------------------------------------------------

    def create(self):
        """Makes the bridge, the namespaces and their links; on failure removes what it made."""
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise

    def _create(self):
        # The bridge keeps its frames out of the root namespace's firewall (br_netfilter), so
        # that the host's rules neither drop nor see them; older kernels lack the options.
        if run([IP, "link", "add", self.bridge, "type", "bridge", "nf_call_iptables", "0",
                "nf_call_ip6tables", "0", "nf_call_arptables", "0"], check=False).returncode:
            run([IP, "link", "add", self.bridge, "type", "bridge"])
        self._no_ipv6(None, self.bridge)
        run([IP, "link", "set", self.bridge, "up"])
        for host in HOSTS + (REDIS_HOST,):
            ns = self.ns(host)
            run([IP, "netns", "add", ns])
            veth = self.veth(host)
            run([IP, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self._no_ipv6(None, veth)
            run([IP, "link", "set", veth, "master", self.bridge, "up"])
            self._no_ipv6(ns, "all")
            run([IP, "-n", ns, "addr", "add", f"{ADDRESSES[host]}/24", "dev", "eth0"])
            run([IP, "-n", ns, "link", "set", "lo", "up"])
            run([IP, "-n", ns, "link", "set", "eth0", "up"])

    def _no_ipv6(self, ns, dev):
        """IPv4 only: no link-local IPv6 chatter on the bridge (best effort)."""
        cmd = f"echo 1 > /proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
        argv = ["sh", "-c", cmd] if ns is None else [IP, "netns", "exec", ns, "sh", "-c", cmd]
        run(argv, check=False)

    def destroy(self, grace=0.0):
        """Stops every process of the cluster and removes its namespaces and links (grace: see
        destroy_prefix). Safe to call more than once, and on a half-made cluster."""
        for proc in self.procs.values():
            if not self.detached and proc.running():
                proc.kill()
        self.procs.clear()
        return destroy_prefix(self.prefix, grace)

    def exists(self):
        return self.ns(HOSTS[0]) in namespaces()

    def link_down(self, host):
        """Cuts host off: its veth's bridge end goes down, as a pulled cable."""
        run([IP, "link", "set", self.veth(host), "down"])

    def link_up(self, host):
        run([IP, "link", "set", self.veth(host), "up"])

    # --- processes -----------------------------------------------------------------------------

    def env(self, **extra):
        """The environment of every silk process: the caller's without its SILK_ variables,
        then the cluster's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SILK_")}
        env.update(SILK_REGISTRY=self.registry_url, SILK_TOKEN=self.token, SILK_LOG=self.log_level)
        if self.ttl_ms is not None:
            env["SILK_REGISTRY_TTL_MS"] = str(self.ttl_ms)
        env.update(extra)
        return env

    def start(self, host, name, argv, env=None, stdout=None, stdin=None):
        """Starts argv in host's namespace, logging to WORK/<host>-<name>.log (stdout too
        unless given); records it as (host, name) and its pid in WORK/<host>-<name>.pid."""
        log_path = os.path.join(self.work_dir, f"{host}-{name}.log")
        log = open(log_path, "a")
        kw = {"start_new_session": True} if self.detached else {"preexec_fn": _die_with_parent}
        try:
            popen = subprocess.Popen([IP, "netns", "exec", self.ns(host), *argv],
                                     env=env if env is not None else self.env(),
                                     stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                     stdout=stdout if stdout is not None else log,
                                     stderr=log, text=True, **kw)
        finally:
            log.close()
        proc = Proc(host, name, popen, log_path)
        self.procs[(host, name)] = proc
        with open(os.path.join(self.work_dir, f"{host}-{name}.pid"), "w") as f:
            f.write(f"{popen.pid}\n")
        return proc

    def exec(self, host, argv, timeout=20, env=None, check=False):
        """Runs argv in host's namespace to completion (bounded by timeout)."""
        return run([IP, "netns", "exec", self.ns(host), *argv], check=check, timeout=timeout,
                   env=env if env is not None else self.env())

    def start_redis(self):
        """Starts redis-server on the redis host: bound to its address, no RDB, no AOF."""
        proc = self.start(REDIS_HOST, "redis-server", [
            REDIS_SERVER, "--bind", ADDRESSES[REDIS_HOST], "--port", str(REDIS_PORT),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
            "--dir", self.work_dir])
        wait_until(lambda: self.redis_cli("PING").strip() == "PONG" or not proc.running(), 10,
                   "redis-server to answer")
        if not proc.running():
            raise ClusterError(f"redis-server exited: {proc.read_log()[-2000:]}")
        return proc

    def redis_cli(self, *args):
        done = self.exec(REDIS_HOST, [REDIS_CLI, "-h", ADDRESSES[REDIS_HOST], "-p",
                                      str(REDIS_PORT), *args], timeout=10)
        return done.stdout if done.returncode == 0 else ""

    def start_host(self, host):
        """Starts host's gateway and WsTest instance (not waiting for them)."""
        a = ADDRESSES[host]
        self.start(host, "silk-gateway", [
            os.path.join(self.bin_dir, "silk-gateway"), "--listen", f"{a}:{HTTP_PORT}",
            "--rpc-listen", f"tcp://{a}:{RPC_PORT}", "--id", self.gateway_id(host)])
        self.start(host, "wstest-service", [os.path.join(self.bin_dir, "wstest-service")],
                   env=self.env(SILK_LISTEN=f"tcp://{a}:{SERVICE_PORT}",
                                SILK_METRICS_LISTEN=f"{a}:{METRICS_PORT}"))

    def start_all(self, timeout=20):
        """Starts Redis and every host, and waits until each gateway answers and every
        instance is in the registry."""
        self.start_redis()
        for host in HOSTS:
            self.start_host(host)
        self.wait_ready(HOSTS, timeout)

    def kill_host(self, host):
        """kill -9 of every process on host (what a crash of the machine's software does)."""
        kill_namespace_processes(self.ns(host))
        for key in [k for k in self.procs if k[0] == host]:
            self.procs[key].popen.wait(timeout=10)

    def host_running(self, host):
        return all(key in self.procs and self.procs[key].running()
                   for key in ((host, "silk-gateway"), (host, "wstest-service")))

    # --- what the cluster looks like -----------------------------------------------------------

    def registered(self):
        """{service: set of instance ids} as Redis holds them now (live records only)."""
        out = {}
        for key in self.redis_cli("--scan", "--pattern", "silk/inst/*").split():
            _, _, service, inst = key.split("/", 3)
            out.setdefault(service, set()).add(inst)
        return out

    def record_ttl_ms(self):
        """The TTL the instances write their records with: the largest PTTL Redis reports,
        rounded up to a second (a heartbeat has just renewed one of them)."""
        ttls = [int(self.redis_cli("PTTL", key).strip() or 0)
                for key in self.redis_cli("--scan", "--pattern", "silk/inst/*").split()]
        return -(-max(ttls, default=0) // 1000) * 1000

    def instance_ids(self, host):
        """(gateway id, WsTest instance id) of host's processes, read from the registry by
        address; None for one not registered."""
        ids = {WSTEST: None, SESSION_MANAGER: None}
        for key in self.redis_cli("--scan", "--pattern", "silk/inst/*").split():
            record = self.redis_cli("GET", key)
            addr = re.search(r"^address=(.*)$", record, re.M)
            _, _, service, inst = key.split("/", 3)
            if addr and service in ids and f"//{ADDRESSES[host]}:" in addr.group(1):
                ids[service] = inst
        return ids[SESSION_MANAGER], ids[WSTEST]

    def host_registered(self, host):
        sm, ws = self.instance_ids(host)
        return sm is not None and ws is not None

    def gateway_answers(self, host):
        done = self.exec(host, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "--max-time", "2", f"{self.gateway_url(host)}/healthz"],
                         timeout=10)
        return done.stdout.strip() == "200"

    def wait_ready(self, hosts, timeout=20):
        for host in hosts:
            wait_until(lambda: self.gateway_answers(host) or self._died(host), timeout,
                       f"the gateway of {host} to answer")
            wait_until(lambda: self.host_registered(host) or self._died(host), timeout,
                       f"the instances of {host} in the registry")
            if self._died(host):
                logs = "\n".join(p.log_path + ":\n" + p.read_log()[-1500:]
                                 for k, p in self.procs.items() if k[0] == host)
                raise ClusterError(f"a process of {host} exited:\n{logs}")

    def _died(self, host):
        return not self.host_running(host)

    def metrics(self, host, via=None, service=False):
        """host's gateway /metrics (with service, its wstest-service's, on METRICS_PORT) as
        {name or name{labels}: value}, fetched from via's namespace (host's own by default)."""
        url = (f"http://{ADDRESSES[host]}:{METRICS_PORT}" if service else self.gateway_url(host))
        done = self.exec(via or host, ["curl", "-s", "--max-time", "5", f"{url}/metrics"],
                         timeout=10)
        if done.returncode != 0:
            raise ClusterError(f"/metrics of {host}: curl exited {done.returncode}")
        out = {}
        for line in done.stdout.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def caller(self, host, business_id, msg, timeout=30):
        """wstest-caller BUSINESS_ID MSG on host (CompletedProcess)."""
        return self.exec(host, [os.path.join(self.bin_dir, "wstest-caller"), business_id, msg],
                         timeout=timeout)

    def ctl_call(self, host, method, request, via=None, timeout=30):
        """silk-ctl call METHOD REQUEST --target <host's WsTest instance>, run on via (host by
        default): a call to that one instance, not through the registry."""
        return self.exec(via or host, [os.path.join(self.bin_dir, "silk-ctl"), "call", method,
                                       json.dumps(request), "--target",
                                       f"tcp://{ADDRESSES[host]}:{SERVICE_PORT}"],
                         timeout=timeout)

    def post_echo(self, via, gateway_host, business_id, msg, timeout=30):
        """POST /api/wstest/echo on gateway_host's gateway, with curl in via's namespace;
        returns (HTTP status, body)."""
        body = json.dumps({"businessId": business_id, "msg": msg})
        done = self.exec(via, ["curl", "-s", "--max-time", str(timeout - 5), "-w", "\n%{http_code}",
                               "-X", "POST", "-H", "Content-Type: application/json", "-d", body,
                               f"{self.gateway_url(gateway_host)}/api/wstest/echo"],
                         timeout=timeout)
        text, _, code = done.stdout.rpartition("\n")
        return int(code or 0), text


def start_guard(prefix, work_dir=None):
    """Starts a guard: a process of its own (not this one's child, so that whoever kills this
    process and its children leaves it) that waits until this process is gone - by any
    means, SIGKILL included - then removes what prefix names and work_dir. Returns the file
    to keep open meanwhile; closing it lets the guard go at once (after its own cleanup,
    which finds nothing when destroy() ran)."""
    r, w = os.pipe()
    argv = [sys.executable, os.path.abspath(__file__), "guard", prefix, work_dir or ""]
    subprocess.run(argv, stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=10, check=True)
    os.close(r)
    return os.fdopen(w, "w")


def _guard(prefix, work_dir):
    if os.fork() != 0:
        os._exit(0)  # the caller's child returns; the grandchild is reparented
    os.setsid()
    try:
        while os.read(0, 4096):
            pass
    finally:
        try:
            destroy_prefix(prefix)
        finally:
            if work_dir:
                shutil.rmtree(work_dir, ignore_errors=True)
        os._exit(0)


if __name__ == "__main__":
    # python3 netns.py cleanup [STEM]: removes what dead test runs left.
    if len(sys.argv) >= 2 and sys.argv[1] == "cleanup":
        for what in cleanup_stale(sys.argv[2] if len(sys.argv) > 2 else TEST_STEM):
            print("removed", what)
    elif len(sys.argv) == 4 and sys.argv[1] == "guard":
        _guard(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
