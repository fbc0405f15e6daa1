#!/bin/sh
# run_cluster.sh - the cost of a push as the cluster grows (issue 15): 1, 4 and 16 gateways
# (the seed's silk-gateway) on this machine, a business with two sessions on the first one,
# and bench-ws pushing to it with silk_ws_send_business for --seconds. Each size runs twice in
# the same round: with the Redis registry, whose session directory names the one gateway that
# holds the business, and with the file registry, which has none (every gateway is asked). It
# prints pushes/s and SessionManager calls per push (from the gateways' /metrics counters), and
# last `ratio pushes redis 16/1 <value>`: the target is flat, 16 gateways within 10% of 1.
#
# It installs nothing (make bench-deps does); it builds $BUILD_DIR (default build-bench,
# Release) when the programs are missing. Without redis-server it exits 77.
set -eu

usage() {
    cat <<USAGE
usage: bench/run_cluster.sh [--repeat N] [--seconds S] [--sizes "1 4 16"] [--build-dir DIR]
                            [--no-build]

  --repeat N     run every size N times, interleaved; each figure is the median (1)
  --seconds S    each push run's measured window (5)
  --sizes LIST   the numbers of gateways (1 4 16)
  --build-dir    the CMake build (default \$BUILD_DIR, else build-bench)
  --no-build     use the programs in the build as they are (ctest's smoke runs)
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
repeat=1
seconds=5
sizes="1 4 16"
no_build=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
if ! command -v redis-server >/dev/null 2>&1; then
    echo "run_cluster.sh: redis-server is not installed (make deps installs it); skipped" >&2
    exit 77
fi
[ -n "$no_build" ] || bench_build "$build" bench-ws-programs
bin=$build/bin

work=$(mktemp -d)
pids=
redis_pid=
cleanup() {
    for p in $pids; do stop_pid "$p"; done
    stop_pid "$redis_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A port free when chosen may be taken before the server binds it (tests run in parallel): a
# server that does not come up is started again on another, five times at most.
start_redis() {
    for try in 1 2 3 4 5; do
        redis_port=$(free_port)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
            >"$work/redis.log" 2>&1 &
        redis_pid=$!
        wait_alive_until "$redis_pid" 100 port_open "$redis_port" && return 0
        stop_pid "$redis_pid"
        echo "run_cluster.sh: redis-server did not come up on port $redis_port (try $try)" >&2
    done
    cat "$work/redis.log" >&2
    exit 1
}

# start_gateway K starts gateway K on a free port and waits until it answers; its pid goes to
# $pids and its port to $ports.
start_gateway() {
    for try in 1 2 3 4 5; do
        port=$(free_port)
        "$bin/silk-gateway" --listen "127.0.0.1:$port" --id "gw$1" 2>"$work/gw$1.log" &
        pid=$!
        if wait_alive_until "$pid" 100 curl -sf -o /dev/null --max-time 1 \
            "http://127.0.0.1:$port/healthz"; then
            pids="$pids $pid"
            ports="$ports $port"
            return 0
        fi
        stop_pid "$pid"
        echo "run_cluster.sh: gateway $1 did not come up on port $port (try $try)" >&2
    done
    cat "$work/gw$1.log" >&2
    exit 1
}

start_redis

# sm_calls PORT prints a gateway's SendToBusiness count.
sm_calls() {
    curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" |
        awk '/session_manager_calls_total\{method="SendToBusiness"\}/ { print $2 }'
}

# run_size MODE N starts N gateways on registry MODE (redis or file), pushes to two sessions
# on the first for --seconds, and appends `result MODE-N pushes_per_s|rpcs_per_push V`.
run_size() {
    mode=$1
    size=$2 # not n: lib.sh's wait_until and stop_pid use n
    if [ "$mode" = redis ]; then
        redis-cli -p "$redis_port" FLUSHALL >/dev/null
        export SILK_REGISTRY="redis://127.0.0.1:$redis_port/0"
    else
        rm -rf "$work/registry"
        export SILK_REGISTRY="file:$work/registry"
    fi
    ports=
    pids=
    k=0
    while [ "$k" -lt "$size" ]; do
        start_gateway "$k"
        k=$((k + 1))
    done
    # Every gateway registered: a push must find them all (file) or the directory (redis).
    wait_until 100 sh -c "[ \$(ls '$work/registry/silk.ws.SessionManager' 2>/dev/null | wc -l) -ge $size ] ||
        [ \$(redis-cli -p $redis_port SCARD silk/svc/silk.ws.SessionManager) -ge $size ]" || {
        echo "run_cluster.sh: not every gateway registered" >&2
        exit 1
    }
    first=${ports# }
    first=${first%% *}
    "$bin/bench-ws" --peer "$mode-$size" --test push --url "ws://127.0.0.1:$first/api/wstest" \
        --sessions 2 --seconds "$seconds" >"$work/push.out" || { cat "$work/push.out" >&2; exit 1; }
    grep '^result ' "$work/push.out" | grep pushes_per_s | tee -a "$results" >&2
    pushes=$(awk '$3 == "pushes" { print $4 }' "$work/push.out")
    calls=0
    for port in $ports; do
        c=$(sm_calls "$port")
        calls=$((calls + ${c:-0}))
    done
    awk -v m="$mode-$size" -v c="$calls" -v p="$pushes" \
        'BEGIN { if (p > 0) printf "result %s rpcs_per_push %.2f\n", m, c / p }' |
        tee -a "$results" >&2
    for pid in $pids; do stop_pid "$pid"; done
    pids=
}

results=$work/results
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$repeat" ]; do
    for gateways in $sizes; do
        for mode in redis file; do
            echo "run $i/$repeat: $mode registry, $gateways gateway(s)" >&2
            run_size "$mode" "$gateways"
        done
    done
    i=$((i + 1))
done

median_table <"$results" | awk -v repeat="$repeat" -v sizes="$sizes" -v load="$load_before" '
    { med[$1 " " $2] = $3 }
    END {
        printf "\nA push to a business with 2 sessions on one gateway, as the cluster grows; median of %d run(s)\n", repeat
        printf "load average (1, 5, 15 min) before the runs: %s\n", load
        printf "%-9s %16s %16s %14s %14s\n", "gateways", "redis pushes/s", "file pushes/s", \
               "redis rpc/push", "file rpc/push"
        n = split(sizes, s, " ")
        for (i = 1; i <= n; i++)
            printf "%-9s %16.0f %16.0f %14.2f %14.2f\n", s[i], med["redis-" s[i] " pushes_per_s"],
                   med["file-" s[i] " pushes_per_s"], med["redis-" s[i] " rpcs_per_push"],
                   med["file-" s[i] " rpcs_per_push"]
        a = med["redis-" s[1] " pushes_per_s"]; b = med["redis-" s[n] " pushes_per_s"]
        printf "\nratio pushes redis %s/%s %s\n", s[n], s[1], (a > 0 ? sprintf("%.2f", b / a) : "n/a")
        a = med["file-" s[1] " pushes_per_s"]; b = med["file-" s[n] " pushes_per_s"]
        printf "ratio pushes file %s/%s %s\n", s[n], s[1], (a > 0 ? sprintf("%.2f", b / a) : "n/a")
    }'
