#!/bin/sh
# run_push10k.sh - one message to each of 10,000 sessions of one business (issue 15): the
# seed's silk-gateway holds them for bench-ws (--test fanout, one epoll thread that checks
# every message and times its arrival), which pushes, in turn:
#
#   business  silk_ws_send_business: one SessionManager.SendToBusiness call
#   echo      the seed's WsTest.Echo on wstest-service: the session list, then one batch of
#             sends (silk_ws_batch_*)
#   echo-seq  the same Echo sending one at a time, each waiting for its answer
#             (bench-echo-seq-service: the seed's Echo before batches)
#   floor     no gateway: bench-push-floor writes the same frame to as many loopback
#             connections, one write(2) each, from as many threads as the gateway has loops
#             (--workers in --gateway-args, else the cores online), read on one epoll thread
#
# Each leg runs --rounds timed pushes (after one untimed) on --sessions fresh sessions, every
# message checked (one per session, its content, for Echo its own session id); the legs run
# --repeat times, interleaved, on one gateway. It prints, per leg, the medians of the time from
# the call to its return and to the first, median and last arrival; and last
# `ratio last-arrival echo-seq/echo <value>`, then business and echo against the floor.
#
# It installs nothing; it builds $BUILD_DIR (default build-bench, Release) unless --no-build.
set -eu

usage() {
    cat <<USAGE
usage: bench/run_push10k.sh [--repeat N] [--rounds N] [--sessions N]
                            [--legs "floor business echo echo-seq"]
                            [--gateway-args A] [--build-dir DIR] [--no-build]

  --repeat N       run every leg N times, interleaved; each figure is the median (1)
  --rounds N       timed pushes per leg and run (5); the run's figure is their median
  --sessions N     sessions of the business (10000)
  --legs LIST      which legs (floor business echo echo-seq)
  --gateway-args A more flags for the gateway, e.g. "--workers 2"
  --build-dir DIR  the CMake build (default \$BUILD_DIR, else build-bench)
  --no-build       use the programs in the build as they are
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
repeat=1
rounds=5
sessions=10000
legs="floor business echo echo-seq"
gateway_args=
no_build=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --legs) legs=$2; shift 2 ;;
    --gateway-args) gateway_args=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
[ -n "$no_build" ] || bench_build "$build" bench-push-programs
bin=$build/bin

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((sessions + 200)) ]; then
    echo "run_push10k.sh: the open-files limit $(ulimit -n) is below --sessions $sessions" >&2
    exit 1
fi

work=$(mktemp -d)
gateway_pid=
service_pid=
cleanup() {
    stop_pid "$service_pid"
    stop_pid "$gateway_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export SILK_REGISTRY="file:$work/registry"

# The gateway, on a free port (again on another when it did not come up).
for try in 1 2 3 4 5; do
    port=$(free_port)
    # shellcheck disable=SC2086 # $gateway_args is some words or none
    "$bin/silk-gateway" $gateway_args --listen "127.0.0.1:$port" \
        --max-connections $((sessions + 1000)) 2>"$work/gateway.log" &
    gateway_pid=$!
    wait_until 100 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
    stop_pid "$gateway_pid"
    gateway_pid=
done
[ -n "$gateway_pid" ] || { cat "$work/gateway.log" >&2; exit 1; }

# start_service LEG starts the service the leg calls Echo on, and waits for its registration.
start_service() {
    case $1 in
    echo) "$bin/wstest-service" 2>"$work/service.log" & ;;
    echo-seq) "$bin/bench-echo-seq-service" 2>"$work/service.log" & ;;
    *) return 0 ;;
    esac
    service_pid=$!
    wait_until 100 sh -c "ls '$work/registry/wstest.WsTest' 2>/dev/null | grep -q ." || {
        cat "$work/service.log" >&2
        echo "run_push10k.sh: the $1 service did not register" >&2
        exit 1
    }
}

# The floor writes from as many threads as the gateway has loops.
writers=$(printf '%s\n' "$gateway_args" | sed -n 's/.*--workers[ =]\([0-9]*\).*/\1/p')
if [ -z "$writers" ]; then
    writers=$(nproc)
    [ "$writers" -le 16 ] || writers=16
fi

results=$work/results
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$repeat" ]; do
    for leg in $legs; do
        echo "run $i/$repeat: $leg (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        if [ "$leg" = floor ]; then
            "$bin/bench-push-floor" --sessions "$sessions" --rounds "$rounds" \
                --writers "$writers" >"$work/client.out" 2>"$work/client.err" || {
                cat "$work/client.err" >&2
                echo "run_push10k.sh: bench-push-floor failed" >&2
                exit 1
            }
            grep '^result ' "$work/client.out" | tee -a "$results" >&2
            continue
        fi
        start_service "$leg"
        via=business
        [ "$leg" = business ] || via=echo
        "$bin/bench-ws" --peer "$leg" --test fanout --via "$via" --business "fanout$i" \
            --url "ws://127.0.0.1:$port/api/wstest" --sessions "$sessions" --rounds "$rounds" \
            >"$work/client.out" 2>"$work/client.err" || {
            cat "$work/client.err" "$work"/*.log >&2
            echo "run_push10k.sh: bench-ws $leg failed" >&2
            exit 1
        }
        grep '^result ' "$work/client.out" | tee -a "$results" >&2
        stop_pid "$service_pid"
        service_pid=
    done
    i=$((i + 1))
done

median_table <"$results" | awk -v repeat="$repeat" -v rounds="$rounds" -v n="$sessions" \
    -v legs="$legs" -v load="$load_before" '
    { med[$1 " " $2] = $3 }
    function f(k) { return (k in med) ? sprintf("%.1f", med[k]) : "n/a" }
    END {
        printf "\nOne message to each of %d sessions of one business, one gateway; every message checked\n", n
        printf "median of %d run(s) of %d timed push(es) each; load average before: %s\n", repeat, rounds, load
        printf "%-9s %12s %12s %12s %12s\n", "leg", "call ms", "first ms", "median ms", "last ms"
        k = split(legs, l, " ")
        for (i = 1; i <= k; i++)
            printf "%-9s %12s %12s %12s %12s\n", l[i], f(l[i] " call_ms"), f(l[i] " first_ms"),
                   f(l[i] " p50_ms"), f(l[i] " last_ms")
        printf "ms from the call: to its return, and to the first, median and last arrival\n\n"
        a = med["echo-seq last_ms"]; b = med["echo last_ms"]
        printf "ratio last-arrival echo-seq/echo %s\n", (a > 0 && b > 0 ? sprintf("%.1f", a / b) : "n/a")
        fl = med["floor last_ms"]; bu = med["business last_ms"]
        printf "ratio last-arrival business/floor %s\n", (fl > 0 && bu > 0 ? sprintf("%.2f", bu / fl) : "n/a")
        printf "ratio last-arrival echo/floor %s\n", (fl > 0 && b > 0 ? sprintf("%.2f", b / fl) : "n/a")
    }'
