"""run_hosts.py - three hosts against one (issue 15): sessions held and pushes delivered per
second across a cluster of network-namespace hosts (tests/cluster/netns.py), against the same
load on one host alone.

    /usr/bin/python3 bench/run_hosts.py [--build-dir build-bench] [--sessions 1000]
                                        [--seconds 5] [--repeat 1]

Three loads run at once, each a bench-ws --test push: --sessions sessions of its own business
and a pusher thread calling silk_ws_send_business (through the Redis registry and its session
directory, with the cluster's token), every push checked on arrival. "three" puts load i on
host i (its gateway, its client, its pusher); "one" puts all three on h1. All hosts share this
machine's cores, so the figure says what spreading the sessions costs (registry, directory,
three gateways), not what more machines would give. Prints a table and last
`ratio delivered three/one <value>`. Needs root (network namespaces); exits 77 without.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import netns  # noqa: E402


def push_loads(cluster, bin_dir, placement, sessions, seconds):
    """Runs the three loads at once; returns each one's messages delivered per second."""
    procs = []
    for i, host in enumerate(placement):
        argv = [os.path.join(bin_dir, "bench-ws"), "--peer", f"load{i}", "--test", "push",
                "--url", cluster.ws_url(host), "--sessions", str(sessions),
                "--business", f"hosts{i}", "--seconds", str(seconds)]
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", cluster.ns(host), *argv], env=cluster.env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    out = []
    for p in procs:
        text, _ = p.communicate(timeout=seconds + 120)
        m = re.search(r"^result \S+ pushes_per_s ([0-9.]+)$", text, re.M)
        if p.returncode != 0 or m is None:
            raise RuntimeError(f"bench-ws failed ({p.returncode}):\n{text[-3000:]}")
        out.append(float(m.group(1)))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build-bench"))
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    why = netns.can_make_namespaces()
    if why is not None:
        print(f"run_hosts.py: needs network namespaces: {why}; skipped", file=sys.stderr)
        return 77
    bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    for exe in ("silk-gateway", "wstest-service", "wstest-caller", "bench-ws"):
        if not os.access(os.path.join(bin_dir, exe), os.X_OK):
            print(f"run_hosts.py: no {exe} in {bin_dir}: build bench-ws-programs", file=sys.stderr)
            return 1
    work = tempfile.mkdtemp(prefix="silk-hosts-")
    cluster = netns.Cluster(f"silkb{os.getpid()}-", bin_dir, work)
    results = {"three": [], "one": []}
    try:
        cluster.create()
        cluster.start_all()
        for r in range(args.repeat):
            for mode, placement in (("three", netns.HOSTS), ("one", ["h1"] * 3)):
                rates = push_loads(cluster, bin_dir, placement, args.sessions, args.seconds)
                delivered = sum(rates)  # bench-ws counts messages delivered to sessions
                print(f"run {r + 1}/{args.repeat}: {mode}: delivered/s {[round(x) for x in rates]}"
                      f" in all {delivered:.0f}", file=sys.stderr)
                results[mode].append(delivered)
    finally:
        cluster.destroy()
        subprocess.run(["rm", "-rf", work], check=False)
    three, one = (statistics.median(results[m]) for m in ("three", "one"))
    held = 3 * args.sessions
    print(f"\nPushes to {held} sessions in three loads (bench-ws push, {args.sessions} sessions"
          f" each), {args.seconds} s windows; median of {args.repeat}")
    print(f"{'placement':<24} {'sessions held':>14} {'messages delivered/s':>22}")
    print(f"{'three hosts, one each':<24} {held:>14} {three:>22.0f}")
    print(f"{'one host, all three':<24} {held:>14} {one:>22.0f}")
    print(f"\nratio delivered three/one {three / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
