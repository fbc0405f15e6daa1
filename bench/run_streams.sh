#!/bin/sh
# run_streams.sh - pushes with history on and off, and a replay (issue 16), on the Redis
# registry: a redis-server of its own (no persistence, on a free port, in a temp dir) and the
# seed's silk-gateway, whose WsTest (route api/wstest) keeps the last 100 pushes of each
# business for 300 s. Two legs, interleaved --repeat times, each a fresh bench-ws --test
# streams holding --sessions silk.v1 sessions spread over --businesses businesses, its
# --pushers threads calling SessionManager.SendToBusiness round-robin over them:
#
#   off  route "" (every route): kept nowhere, no offset (the same sessions and gateway)
#   on   route api/wstest: each push appended to its business's stream in Redis first (one
#        EVAL by the gateway, on its SessionManager worker), then sent with its offset
#
# every message checked (its push, its business, with history the stream's next offset). It
# prints the medians of pushes/s and last `ratio pushes history-on/off <value>` (the target:
# 0.5 or more). Then the replay: silk-gateway-test, whose gwtest.Streams (api/streams) keeps
# 5,000 pushes (WsTest's 100 cannot hold 1,000 missed), on the same Redis (DB 1), and
# bench-ws --test replay: --rounds times a session of its own business leaves, --missed
# pushes are made, it comes back with since=<epoch>:<offset>; `result replay ms <median>`
# from its connect to the last replayed push, `result replay first_ms <median>` to the first
# (the target: under 50 ms); then the same with the file registry (each gateway's memory),
# `result replay-memory ...`.
#
# It installs nothing (make deps does); it builds $BUILD_DIR (default build-bench, Release)
# unless --no-build. Without redis-server it exits 77.
set -eu

usage() {
    cat <<USAGE
usage: bench/run_streams.sh [--repeat N] [--seconds S] [--sessions N] [--businesses N]
                            [--pushers N] [--window N] [--missed N] [--rounds N]
                            [--no-replay] [--gateway-env "VAR=V ..."] [--build-dir DIR]
                            [--no-build]

  --repeat N       run both legs N times, interleaved; each figure is the median (1)
  --seconds S      each leg's measured window (5)
  --sessions N     sessions, spread over the businesses (1000)
  --businesses N   businesses (1000)
  --pushers N      threads calling SendToBusiness (4)
  --window N       messages not yet received, at most (64)
  --missed N       replay: pushes missed, then replayed (1000)
  --rounds N       replay: reconnections timed (5)
  --no-replay      the two push legs only
  --gateway-env E  environment for the gateways, e.g. "SILK_WORKERS=4" (SessionManager's
                   worker threads; default: the cores)
  --build-dir DIR  the CMake build (default \$BUILD_DIR, else build-bench)
  --no-build       use the programs in the build as they are (ctest's smoke runs)
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
repeat=1
seconds=5
sessions=1000
businesses=1000
pushers=4
window=64
missed=1000
rounds=5
replay=1
gateway_env=
no_build=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --businesses) businesses=$2; shift 2 ;;
    --pushers) pushers=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --missed) missed=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-replay) replay=; shift ;;
    --gateway-env) gateway_env=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "run_streams.sh: redis-server or redis-cli is not installed (make deps); skipped" >&2
    exit 77
fi
[ -n "$no_build" ] || bench_build "$build" bench-streams-programs
bin=$build/bin
if [ -n "$replay" ] && [ ! -x "$bin/silk-gateway-test" ]; then
    echo "run_streams.sh: no $bin/silk-gateway-test for the replay (a build with" \
        "-DSILK_BUILD_TESTS=ON has it), or --no-replay" >&2
    exit 1
fi

work=$(mktemp -d)
gateway_pid=
redis_pid=
cleanup() {
    stop_pid "$gateway_pid"
    stop_pid "$redis_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_until 100 port_open "$redis_port" || { cat "$work/redis.log" >&2; exit 1; }

# start_gateway PROGRAM REGISTRY starts a gateway on a free port ($port) and waits until it
# serves and its SessionManager is registered (in Redis, or the file registry's folder).
start_gateway() {
    for try in 1 2 3 4 5; do
        port=$(free_port)
        # shellcheck disable=SC2086 # $gateway_env is some words or none
        env SILK_REGISTRY="$2" $gateway_env "$bin/$1" --listen "127.0.0.1:$port" \
            --id "gw-streams" --max-connections $((sessions + 1000)) 2>"$work/gateway.log" &
        gateway_pid=$!
        wait_until 100 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" &&
            break
        stop_pid "$gateway_pid"
        gateway_pid=
    done
    [ -n "$gateway_pid" ] || { cat "$work/gateway.log" >&2; exit 1; }
    wait_until 100 sh -c "ls '$work/registry/silk.ws.SessionManager' 2>/dev/null | grep -q . ||
        [ \$(redis-cli -p $redis_port -n ${2##*/} SCARD silk/svc/silk.ws.SessionManager \
            2>/dev/null) -ge 1 ]" || {
        cat "$work/gateway.log" >&2
        echo "run_streams.sh: $1's SessionManager did not register" >&2
        exit 1
    }
}

# fail LEG says that a bench-ws run failed, with what it and the gateway said, and exits.
fail() {
    cat "$work/client.err" "$work/gateway.log" >&2
    echo "run_streams.sh: bench-ws $1 failed" >&2
    exit 1
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
registry="redis://127.0.0.1:$redis_port/0"
export SILK_REGISTRY="$registry"
start_gateway silk-gateway "$registry"

results=$work/results
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$repeat" ]; do
    for leg in off on; do
        route=
        [ "$leg" = off ] || route=api/wstest
        echo "run $i/$repeat: $leg (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        "$bin/bench-ws" --peer "$leg" --test streams --route "$route" \
            --url "ws://127.0.0.1:$port/api/wstest" --business "s$i-$leg-" \
            --sessions "$sessions" --businesses "$businesses" --pushers "$pushers" \
            --window "$window" --seconds "$seconds" >"$work/client.out" 2>"$work/client.err" ||
            fail "$leg"
        grep '^result ' "$work/client.out" | grep pushes_per_s | tee -a "$results" >&2
    done
    i=$((i + 1))
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_pid "$gateway_pid"
gateway_pid=

median_table <"$results" | awk -v repeat="$repeat" -v s="$sessions" -v b="$businesses" \
    -v p="$pushers" -v w="$window" -v before="$load_before" -v after="$load_after" '
    { med[$1 " " $2] = $3 }
    END {
        printf "\n%d silk.v1 sessions of %d businesses on one silk-gateway (Redis registry); %d pushers,\n", s, b, p
        printf "window %d; every message checked; median of %d run(s)\n", w, repeat
        printf "load average (1, 5, 15 min): %s before, %s after\n", before, after
        printf "%-5s %-44s %12s\n", "leg", "SendToBusiness", "pushes/s"
        printf "%-5s %-44s %12.0f\n", "off", "route \"\": kept nowhere", med["off pushes_per_s"]
        printf "%-5s %-44s %12.0f\n", "on", "route api/wstest: appended in Redis first", med["on pushes_per_s"]
        a = med["off pushes_per_s"]; c = med["on pushes_per_s"]
        printf "\nratio pushes history-on/off %s\n", (a > 0 ? sprintf("%.2f", c / a) : "n/a")
    }'
[ -n "$replay" ] || exit 0

# replay STORE REGISTRY: silk-gateway-test on REGISTRY, bench-ws --test replay against it.
replay() {
    start_gateway silk-gateway-test "$2"
    echo "replay: $1 (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    SILK_REGISTRY="$2" "$bin/bench-ws" --peer "$3" --test replay --missed "$missed" \
        --rounds "$rounds" --url "ws://127.0.0.1:$port/api/streams" \
        >"$work/client.out" 2>"$work/client.err" || fail "$3"
    sed 's/^/  /' "$work/client.err" >&2
    grep '^result ' "$work/client.out"
    stop_pid "$gateway_pid"
    gateway_pid=
}

echo
echo "Replay of $missed missed pushes, median of $rounds: from the reconnect to the last (ms)" \
    "and the first (first_ms)"
replay Redis "redis://127.0.0.1:$redis_port/1" replay
replay memory "file:$work/registry" replay-memory
