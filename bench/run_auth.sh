#!/bin/sh
# run_auth.sh - WebSocket handshakes per second through silk's gateway (issue 13, "Measured"):
# without a key, with --jwt-key holding an HMAC secret (HS256 tokens) and with --jwt-key
# holding an RSA public key (RS256 tokens), each against a fresh gateway and wstest-service.
#
# bench-ws --test handshakes opens --connections connections at a time; each connects, sends
# the upgrade (with `Authorization: Bearer <token>` under a key), reads the 101 and closes.
# The keys are made with the openssl CLI and the tokens with /usr/bin/python3's jwt module
# (python3-jwt), in a temporary directory removed at exit. The last lines are
# `ratio handshakes hs256/none X` and `ratio handshakes rs256/none Y`.
#
# It installs nothing; without openssl or python3-jwt it exits 77 (ctest's skip code).
set -eu

usage() {
    cat <<USAGE
usage: bench/run_auth.sh [--repeat N] [--seconds S] [--connections N] [--no-build]
                         [--pin same|split] [--build-dir DIR]

  --repeat N       run every mode N times, interleaved; each figure is the median (1)
  --seconds S      the measured window of each run (5), after S/5 (<= 1 s)
  --connections N  handshakes in progress at a time (4)
  --no-build       use the programs in the build as they are (smoke runs)
  --pin same|split same: gateway, service and client on CPU 0; split: the servers on CPU 1,
                   the client on CPU 0 (default: where the scheduler puts them)
  --build-dir DIR  the CMake build (default \$BUILD_DIR, else build-bench)
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
repeat=1
seconds=5
conns=4
no_build=
pin=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --pin) pin=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
case $repeat in '' | *[!0-9]* | 0) echo "run_auth.sh: --repeat needs a positive number" >&2; exit 2 ;; esac
case $pin in
'') on_server=; on_client= ;;
same) on_server="taskset -c 0"; on_client="taskset -c 0" ;;
split) on_server="taskset -c 1"; on_client="taskset -c 0" ;;
*) echo "run_auth.sh: --pin takes same or split" >&2; exit 2 ;;
esac

py=/usr/bin/python3
if ! command -v openssl >/dev/null 2>&1 || ! "$py" -c 'import jwt, cryptography' 2>/dev/null; then
    echo "run_auth.sh: missing openssl or python3-jwt (with python3-cryptography); skipped" >&2
    exit 77
fi
[ -n "$no_build" ] || bench_build "$build" bench-ws-programs
bin=$build/bin

work=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do stop_pid "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
results=$work/results
: >"$results"

# The keys and a token for each, valid for a day.
openssl rand -hex 32 >"$work/hs256.secret"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rs256.key" 2>/dev/null
openssl pkey -in "$work/rs256.key" -pubout -out "$work/rs256.pub"
"$py" - "$work" <<'PY'
import sys, time, jwt
d = sys.argv[1]
claims = {"sub": "bench", "iat": int(time.time()), "exp": int(time.time()) + 86400}
secret = open(d + "/hs256.secret").read().rstrip("\n")
open(d + "/hs256.token", "w").write(jwt.encode(claims, secret, algorithm="HS256"))
open(d + "/rs256.token", "w").write(jwt.encode(claims, open(d + "/rs256.key").read(), algorithm="RS256"))
PY

# start_gateway MODE starts silk-gateway (with MODE's key) and wstest-service, sets $url.
start_gateway() {
    port=$(free_port)
    key=
    case $1 in
    hs256) key="--jwt-key $work/hs256.secret" ;;
    rs256) key="--jwt-key $work/rs256.pub" ;;
    esac
    export SILK_REGISTRY="file:$work/registry-$1-$i"
    # shellcheck disable=SC2086 # $key is two words or none
    $on_server "$bin/silk-gateway" $key --listen "127.0.0.1:$port" 2>"$work/silk-gateway.log" &
    pids=$!
    $on_server "$bin/wstest-service" 2>"$work/wstest-service.log" &
    pids="$pids $!"
    url="ws://127.0.0.1:$port/api/wstest?businessId=hs"
    wait_until 100 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz?deep=1" || {
        cat "$work"/*.log >&2
        echo "run_auth.sh: silk's gateway or wstest-service did not come up" >&2
        exit 1
    }
}

stop_gateway() {
    for p in $pids; do stop_pid "$p"; done
    pids=
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$repeat" ]; do
    for mode in none hs256 rs256; do
        echo "run $i/$repeat: $mode (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        start_gateway "$mode"
        tok=
        [ "$mode" = none ] || tok="--token $work/$mode.token"
        # shellcheck disable=SC2086 # $tok is two words or none
        $on_client "$bin/bench-ws" --peer "$mode" --test handshakes --url "$url" $tok \
            --connections "$conns" --seconds "$seconds" >"$work/client.out" || {
            cat "$work"/*.log >&2
            echo "run_auth.sh: bench-ws --test handshakes ($mode) failed" >&2
            exit 1
        }
        grep '^result ' "$work/client.out" | tee -a "$results" >&2
        stop_gateway
    done
    i=$((i + 1))
done

median_table <"$results" | awk -v repeat="$repeat" -v pin="${pin:+, pinned: $pin}" \
    -v load="$load_before" -v conns="$conns" '
    { med[$1 " " $2] = $3 }
    function has(k) { return k in med }
    function ratio(name, a, b) {
        if (has(a) && has(b) && med[b] > 0)
            printf "ratio %s %.2f\n", name, med[a] / med[b]
        else
            printf "ratio %s n/a\n", name
    }
    END {
        printf "\nWebSocket handshakes through silk-gateway + wstest-service, %d at a time, 127.0.0.1;\n", conns
        printf "median of %d run(s)%s\n", repeat, pin
        printf "load average (1, 5, 15 min) before the runs: %s\n", load
        printf "%-6s %14s\n", "mode", "handshakes/s"
        split("none hs256 rs256", m, " ")
        for (i = 1; i <= 3; i++)
            printf "%-6s %14s\n", m[i], has(m[i] " handshakes_per_s") ? sprintf("%.0f", med[m[i] " handshakes_per_s"]) : "n/a"
        printf "\n"
        ratio("handshakes hs256/none", "hs256 handshakes_per_s", "none handshakes_per_s")
        ratio("handshakes rs256/none", "rs256 handshakes_per_s", "none handshakes_per_s")
    }'
