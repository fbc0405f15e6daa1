#!/bin/sh
# run_sessions100k.sh - 100,000 idle sessions on one machine (issue 15): --gateways seed
# silk-gateways (file registry) with --per-gateway sessions each, held by one bench-ws
# (--test hold) per gateway whose connections come from 127.0.0.2 ... 127.0.0.11 in turn (so
# that no source address runs out of ephemeral ports). Like gateway/tests/idle_rss.py, per
# gateway: 200 warm-up sessions and a push to them, VmRSS read; then the sessions, each
# pinging once, VmRSS read once they idle; then one push to every session (SendToBusiness on
# every gateway: silk-gateway-sm ws-business), checked on every session, VmRSS read again after
# the sweep. It prints bytes per idle session before and after the push (VmRSS growth over
# the warm-up's reading / sessions), per gateway and for all, the push's time, and what the
# machine's MemAvailable lost per session (kernel socket memory, both ends, included).
#
# A process may hold RLIMIT_NOFILE descriptors (the hard limit; 20,000 here): a gateway
# needs a few dozen besides its sessions, and a client one per session plus a few, so
# --per-gateway must leave about 100 free. A measurement, not a test: minutes and some GB.
set -eu

usage() {
    cat <<USAGE
usage: bench/run_sessions100k.sh [--gateways N] [--per-gateway N] [--gateway-args A]
                                 [--build-dir DIR] [--no-build]

  --gateways N      gateways (6)
  --per-gateway N   sessions on each (16667: 100,002 in all with 6)
  --gateway-args A  more flags for each gateway, e.g. "--workers 2"
  --build-dir DIR   the CMake build (default \$BUILD_DIR, else build-bench)
  --no-build        use the programs in the build as they are
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
gateways=6
per=16667
gateway_args=
no_build=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --gateways) gateways=$2; shift 2 ;;
    --per-gateway) per=$2; shift 2 ;;
    --gateway-args) gateway_args=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
[ -n "$no_build" ] || bench_build "$build" bench-push-programs silk-gateway-sm
bin=$build/bin
[ -x "$bin/silk-gateway-sm" ] || { echo "run_sessions100k.sh: no $bin/silk-gateway-sm (SILK_BUILD_TESTS)" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((per + 100)) ]; then
    echo "run_sessions100k.sh: RLIMIT_NOFILE is $nofile (hard limit $(ulimit -Hn)): a process cannot" \
        "hold --per-gateway $per sessions and its other descriptors" >&2
    exit 1
fi
sources=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.10,127.0.0.11

work=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do stop_pid "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export SILK_REGISTRY="file:$work/registry"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }

# wait_line FILE WORD N: waits (120 s at most) until FILE has the line "WORD N".
wait_line() {
    k=1200
    while [ "$k" -gt 0 ]; do
        grep -qx "$2 $3" "$1" 2>/dev/null && return 0
        k=$((k - 1))
        sleep 0.1
    done
    echo "run_sessions100k.sh: no \"$2 $3\" from $1:" >&2
    cat "$1" "${1%.out}.err" >&2 2>/dev/null || true
    exit 1
}

# hold K BUSINESS N TEXT NAME: bench-ws holding N sessions of BUSINESS on gateway K.
hold() {
    "$bin/bench-ws" --peer "$5" --test hold --url "ws://127.0.0.1:$(eval echo "\$port$1")/api/wstest" \
        --business "$2" --sessions "$3" --expect "$4" --source "$sources" --seconds 1800 \
        >"$work/$5.out" 2>"$work/$5.err" &
    pids="$pids $!"
}

# push BUSINESS TEXT: silk_ws_send_business, so SendToBusiness on every gateway; prints the
# sessions reached.
push() {
    "$bin/silk-gateway-sm" ws-business "$1" "$2"
}

# since T0 [T1]: seconds from T0 to T1 (default: now), both from date +%s.%N.
since() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.3f", b - a }'; }

k=0
while [ "$k" -lt "$gateways" ]; do
    port=$(free_port)
    # shellcheck disable=SC2086 # $gateway_args is some words or none
    "$bin/silk-gateway" $gateway_args --listen "127.0.0.1:$port" --id "gw$k" \
        --max-connections $((per + 1000)) 2>"$work/gw$k.log" &
    eval "pid$k=$!"
    eval "port$k=$port"
    pids="$pids $!"
    wait_until 100 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" || {
        cat "$work/gw$k.log" >&2
        exit 1
    }
    k=$((k + 1))
done
wait_until 100 sh -c "[ \$(ls '$work/registry/silk.ws.SessionManager' 2>/dev/null | wc -l) -ge $gateways ]" || {
    echo "run_sessions100k.sh: not every gateway registered" >&2
    exit 1
}
total=$((gateways * per))
echo "$gateways gateways, $per sessions each ($total), RLIMIT_NOFILE $nofile; warming up" >&2

k=0
while [ "$k" -lt "$gateways" ]; do
    hold "$k" warm 200 warm-up "warm$k"
    k=$((k + 1))
done
k=0
while [ "$k" -lt "$gateways" ]; do wait_line "$work/warm$k.out" open 200; k=$((k + 1)); done
sleep 0.5
[ "$(push warm warm-up)" = $((gateways * 200)) ] || { echo "run_sessions100k.sh: the warm-up push failed" >&2; exit 1; }
k=0
while [ "$k" -lt "$gateways" ]; do wait_line "$work/warm$k.out" received 200; k=$((k + 1)); done
sleep 1.5

k=0
while [ "$k" -lt "$gateways" ]; do eval "before$k=$(rss_kib "$(eval echo "\$pid$k")")"; k=$((k + 1)); done
avail_before=$(avail_kib)
t0=$(date +%s.%N)
k=0
while [ "$k" -lt "$gateways" ]; do
    hold "$k" idle "$per" "pushed to every idle session" "idle$k"
    k=$((k + 1))
done
k=0
while [ "$k" -lt "$gateways" ]; do wait_line "$work/idle$k.out" open "$per"; k=$((k + 1)); done
t1=$(date +%s.%N)
echo "$total sessions open in $(since "$t0" "$t1") s" >&2
sleep 1.5 # the sweep lets them hibernate
k=0
while [ "$k" -lt "$gateways" ]; do eval "idle$k=$(rss_kib "$(eval echo "\$pid$k")")"; k=$((k + 1)); done
avail_idle=$(avail_kib)

t0=$(date +%s.%N)
delivered=$(push idle "pushed to every idle session")
t1=$(date +%s.%N)
[ "$delivered" = "$total" ] || { echo "run_sessions100k.sh: the push reached $delivered of $total" >&2; exit 1; }
k=0
while [ "$k" -lt "$gateways" ]; do wait_line "$work/idle$k.out" received "$per"; k=$((k + 1)); done
t2=$(date +%s.%N)
sleep 1.5
k=0
while [ "$k" -lt "$gateways" ]; do eval "after$k=$(rss_kib "$(eval echo "\$pid$k")")"; k=$((k + 1)); done
avail_after=$(avail_kib)

{
    k=0
    while [ "$k" -lt "$gateways" ]; do
        echo "gw$k $(eval echo "\$before$k \$idle$k \$after$k")"
        k=$((k + 1))
    done
} | awk -v per="$per" -v total="$total" -v ab="$avail_before" -v ai="$avail_idle" \
    -v aa="$avail_after" -v call="$(since "$t0" "$t1")" -v last="$(since "$t0" "$t2")" '
    { printf "%-5s VmRSS KiB %8d warm, %8d idle, %8d after the push: %6.0f B/session idle, %6.0f after\n",
              $1, $2, $3, $4, ($3 - $2) * 1024 / per, ($4 - $2) * 1024 / per
      b += $2; i += $3; a += $4 }
    END {
        printf "\n%d sessions on %d gateways, every one pushed to and checked\n", total, NR
        printf "push (silk_ws_send_business: SendToBusiness on every gateway): %.3f s to its return, %.3f s until every client had its message\n", call, last
        printf "MemAvailable lost: %.0f B/session idle, %.0f after the push (gateways, clients and kernel)\n",
               (ab - ai) * 1024 / total, (ab - aa) * 1024 / total
        printf "idle-bytes-per-session %.0f\n", (i - b) * 1024 / total
        printf "after-push-bytes-per-session %.0f\n", (a - b) * 1024 / total
    }'
