"""cluster.py - run.sh's helper: the cluster of tests/cluster/netns.py, for a person to use.

    /usr/bin/python3 cluster.py --bin-dir DIR --run-dir DIR WHAT
    WHAT: start | stop | status | up HOST | exec HOST CMD...

start makes the hosts silkdemo-h1..h3 and silkdemo-redis and starts their processes in the
background (they outlive this program); stop stops them (SIGTERM, then SIGKILL after 5 s)
and removes the namespaces, the links and the run directory; status shows each process, each
gateway's sessions and pushes, and the registry; up HOST starts what is not running on HOST
again (after a kill -9); exec HOST CMD runs CMD on HOST with the cluster's registry and token.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "cluster"))
import netns  # noqa: E402

PREFIX = "silkdemo-"
PROGRAMS = {host: ("silk-gateway", "wstest-service") for host in netns.HOSTS}
PROGRAMS[netns.REDIS_HOST] = ("redis-server",)


def cluster(args, token=None):
    return netns.Cluster(PREFIX, args.bin_dir, args.run_dir, token=token, detached=True)


def read_token(args):
    try:
        with open(os.path.join(args.run_dir, "token")) as f:
            return f.read().strip()
    except FileNotFoundError:
        sys.exit(f"run.sh: no cluster token in {args.run_dir}: is the cluster started?")


def pid_of(args, host, name):
    try:
        with open(os.path.join(args.run_dir, f"{host}-{name}.pid")) as f:
            pid = int(f.read())
    except (FileNotFoundError, ValueError):
        return None
    return pid if netns.alive(pid) else None


def start(args):
    for exe in ("silk-gateway", "wstest-service", "wstest-caller", "silk-ctl"):
        if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
            sys.exit(f"run.sh: no {exe} in {args.bin_dir}: run 'make build' first")
    c = cluster(args)
    if c.exists():
        sys.exit("run.sh: the cluster is running already ('run.sh status'; 'run.sh stop' first)")
    os.makedirs(args.run_dir, exist_ok=True)
    token = os.path.join(args.run_dir, "token")
    with os.fdopen(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(c.token + "\n")
    try:
        c.create()
        c.start_all()
    except BaseException:
        c.destroy(grace=2)
        raise
    print(f"started: three hosts and a Redis host on bridge {c.bridge}; logs in {args.run_dir}")
    for host in netns.HOSTS:
        a = c.addr(host)
        print(f"  {host}  namespace {c.ns(host):<16} gateway {c.gateway_url(host)}  "
              f"SessionManager tcp://{a}:{netns.RPC_PORT}  WsTest tcp://{a}:{netns.SERVICE_PORT}")
    print(f"  redis namespace {c.ns(netns.REDIS_HOST):<15} {c.registry_url}")
    run_sh = os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "run.sh"))
    caller = os.path.join(args.bin_dir, "wstest-caller")
    print(f"""
try (samples/cluster/README.md has more):
  # a session on h1 for business 100 (type nothing; Ctrl-D leaves)
  ip netns exec {c.ns('h1')} {netns.PYTHON} -m websockets '{c.ws_url('h1')}?businessId=100'
  # a push to business 100 through h2's gateway, from h3
  ip netns exec {c.ns('h3')} curl -s -X POST -H 'Content-Type: application/json' \\
      -d '{{"businessId":"100","msg":"hi"}}' {c.gateway_url('h2')}/api/wstest/echo
  # the same from h3's caller (run.sh exec gives it the registry and the cluster token)
  {run_sh} exec h3 {caller} 100 hi
  {run_sh} status
  {run_sh} stop""")


def stop(args):
    removed = netns.destroy_prefix(PREFIX, grace=5)
    if os.path.isdir(args.run_dir):
        shutil.rmtree(args.run_dir)
        removed.append(f"dir {args.run_dir}")
    print("stopped; removed " + (", ".join(removed) or "nothing (nothing was running)"))


def status(args):
    c = cluster(args, read_token(args))
    if not c.exists():
        print("not running ('run.sh start')")
        return 3
    rc = 0
    for host in netns.HOSTS + (netns.REDIS_HOST,):
        procs = []
        for name in PROGRAMS[host]:
            pid = pid_of(args, host, name)
            procs.append(f"{name} {'pid ' + str(pid) if pid else 'NOT RUNNING'}")
            rc = rc if pid else 3
        line = f"{host:<6} {c.addr(host):<12} " + ", ".join(procs)
        if host != netns.REDIS_HOST:
            try:
                m = c.metrics(host)
                line += (f"; sessions {m.get('silk_gateway_open_sessions', 0):.0f}, pushes sent "
                         f"{m.get('silk_gateway_pushes_sent_total', 0):.0f}")
            except netns.ClusterError:
                line += "; gateway not answering"
        print(line)
    done = c.exec(netns.HOSTS[0], [os.path.join(args.bin_dir, "silk-ctl"), "list"])
    print(done.stdout.rstrip() or done.stderr.rstrip())
    return rc


def up(args):
    c = cluster(args, read_token(args))
    if args.host == netns.REDIS_HOST:
        if pid_of(args, netns.REDIS_HOST, "redis-server") is None:
            c.start_redis()
    elif args.host in netns.HOSTS:
        for name in PROGRAMS[args.host]:
            if pid_of(args, args.host, name) is not None:
                sys.exit(f"run.sh: {name} runs on {args.host}: stop it first (kill -9 is fine)")
        c.start_host(args.host)
        c.wait_ready([args.host])
    else:
        sys.exit(f"run.sh: no host {args.host!r} (h1, h2, h3 or redis)")
    print(f"{args.host} is up")


def exec_(args):
    c = cluster(args, read_token(args))
    if args.host not in netns.ADDRESSES:
        sys.exit(f"run.sh: no host {args.host!r} (h1, h2, h3 or redis)")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command takes Ctrl-C
    argv = [netns.IP, "netns", "exec", c.ns(args.host), *args.cmd]
    return subprocess.run(argv, env=c.env()).returncode


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `run.sh status | head` ends quietly
    parser = argparse.ArgumentParser(prog="run.sh")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--run-dir", required=True)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("start")
    sub.add_parser("stop")
    sub.add_parser("status")
    p = sub.add_parser("up")
    p.add_argument("host")
    p = sub.add_parser("exec")
    p.add_argument("host")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    try:
        return {"start": start, "stop": stop, "status": status, "up": up,
                "exec": exec_}[args.what](args) or 0
    except netns.ClusterError as e:
        sys.exit(f"run.sh: {e}")


if __name__ == "__main__":
    sys.exit(main())
