#!/bin/sh
# run_rpc.sh - the RPC benchmark (make bench-rpc): runs each bench-rpc-* program, prints a
# table of the figures and, last, one line per comparison: ratio <metric> silk/<peer> <value>.
#
# It installs nothing; it configures and builds $BUILD_DIR (default build-bench, Release)
# when the programs are missing. With --repeat N every program runs N times, interleaved,
# and each figure is the median of the N runs.
set -eu

usage() {
    cat <<EOF
usage: bench/run_rpc.sh [--repeat N] [--build-dir DIR] [program options]

Runs bench-rpc-silk, -nng, -nng-stream, -tcp and (when built) -grpc: unary echo over tcp
loopback, single-client latency (p50, p99) and throughput with calls in flight on one
connection.

  --repeat N       run every program N times and take the median of each figure (default 1)
  --build-dir DIR  the CMake build to use, configured and built if needed (default
                   \$BUILD_DIR, else build-bench)
  --calls N, --warmup N, --seconds S, --inflight N, --payload N
                   passed to every program (defaults 20000, 2000, 10, 64, 64)
  --pin same|split passed to every program: server and client both on CPU 0, or the
                   server on CPU 1 and the client on CPU 0 (default: not pinned)
  --tls            also run bench-rpc-silk over tls+tcp:// with mutual TLS (certificates
                   made with openssl in a temporary directory): peers silk-tls, -pool,
                   -inline, and ratios silk-tls/silk

Ratios: throughput is silk/peer calls per second (higher is better for silk); p50 and p99
are silk/peer microseconds (lower is better for silk). tcp is the latency floor only;
nng-stream (a byte echo on nng_stream with callback aios) is nng's floor, both figures.
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
export SILK_LOG="${SILK_LOG:-warn}" # the silk server's start and stop lines are noise here
build=${BUILD_DIR:-build-bench}
repeat=1
pin=
tls=
pass=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --pin) pin=", pinned: $2"; pass="$pass $1 $2"; shift 2 ;;
    --calls | --warmup | --seconds | --inflight | --payload) pass="$pass $1 $2"; shift 2 ;;
    --tls) tls=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
case $repeat in '' | *[!0-9]* | 0) echo "run_rpc.sh: --repeat needs a positive number" >&2; exit 2 ;; esac

if [ ! -f "$build/bench/rpc_peers" ] || [ ! -x "$build/bin/bench-rpc-silk" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" -j "$(nproc)" --target bench-rpc-programs >&2
peers=$(cat "$build/bench/rpc_peers")

# The load before the runs tells whether something else was busy; during them the programs'
# own threads alone push the 1-minute figure to about 5 on a 2-core machine.
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
results=$(mktemp)
certs=
trap 'rm -f "$results"; [ -z "$certs" ] || rm -rf "$certs"' EXIT

# make_certs writes a CA and one certificate it signed, for both sides, into $1.
make_certs() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -keyout "$1/ca.key" -out "$1/ca.pem" -subj /CN=bench-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1/peer.key" -out "$1/peer.csr" -subj /CN=bench
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' >"$1/ext"
    openssl x509 -req -in "$1/peer.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial \
        -days 1 -extfile "$1/ext" -out "$1/peer.pem"
}
if [ -n "$tls" ]; then
    certs=$(mktemp -d)
    make_certs "$certs" >/dev/null 2>&1 || { echo "run_rpc.sh: openssl failed" >&2; exit 1; }
fi

# run_tls runs bench-rpc-silk over tls+tcp:// with mutual TLS, its peers renamed silk-tls*.
run_tls() {
    echo "run $i/$repeat: bench-rpc-silk over tls+tcp://$pass" >&2
    # shellcheck disable=SC2086 # $pass is a list of options
    if ! SILK_LISTEN=tls+tcp://127.0.0.1:0 SILK_TLS_CERT="$certs/peer.pem" \
        SILK_TLS_KEY="$certs/peer.key" SILK_TLS_CA="$certs/ca.pem" \
        "$build/bin/bench-rpc-silk" $pass >"$results.out"; then
        cat "$results.out" >&2
        echo "run_rpc.sh: bench-rpc-silk over tls+tcp:// failed" >&2
        exit 1
    fi
    grep '^result ' "$results.out" | sed 's/^result silk/result silk-tls/' | tee -a "$results" >&2
}
i=1
while [ "$i" -le "$repeat" ]; do
    for p in $peers; do
        echo "run $i/$repeat: bench-rpc-$p$pass" >&2
        # shellcheck disable=SC2086 # $pass is a list of options
        if ! "$build/bin/bench-rpc-$p" $pass >"$results.out"; then
            cat "$results.out" >&2
            rm -f "$results.out"
            echo "run_rpc.sh: bench-rpc-$p failed" >&2
            exit 1
        fi
        grep '^result ' "$results.out" | tee -a "$results" >&2
        if [ "$p" = silk ] && [ -n "$tls" ]; then
            run_tls
        fi
    done
    i=$((i + 1))
done
rm -f "$results.out"

# The median of each (peer, metric), then the table and the ratios.
sort -k2,2 -k3,3 -k4,4g "$results" | awk -v repeat="$repeat" -v pin="$pin" -v load="$load_before" '
    { key = $2 " " $3; v[key, ++n[key]] = $4 }
    END {
        for (key in n) {
            k = n[key]
            med[key] = k % 2 ? v[key, (k + 1) / 2] : (v[key, k / 2] + v[key, k / 2 + 1]) / 2
        }
        printf "\nunary echo, tcp loopback; median of %d run(s)%s\n", repeat, pin
        printf "load average (1, 5, 15 min) before the runs: %s\n", load
        printf "%-14s %10s %10s %12s\n", "peer", "p50 us", "p99 us", "calls/s"
        rows = "silk silk-pool silk-inline silk-tls silk-tls-pool silk-tls-inline nng grpc " \
               "grpc-sync grpc-callback nng-stream tcp"
        nr = split(rows, row, " ")
        for (i = 1; i <= nr; i++) {
            p = row[i]
            if (!((p " p50_us") in med) && !((p " throughput") in med))
                continue
            printf "%-14s %10s %10s %12s\n", p, fmt(p " p50_us", "%.1f"),
                   fmt(p " p99_us", "%.1f"), fmt(p " throughput", "%.0f")
        }
        printf "\n"
        np = split("nng grpc tcp nng-stream", peer, " ")
        for (i = 1; i <= np; i++) {
            p = peer[i]
            if (p != "tcp")
                ratio("throughput", "silk throughput", p " throughput")
            ratio("p50", "silk p50_us", p " p50_us")
            ratio("p99", "silk p99_us", p " p99_us")
        }
        if ("silk-tls throughput" in med) {
            tls_ratio("throughput", "throughput")
            tls_ratio("p50", "p50_us")
            tls_ratio("p99", "p99_us")
        }
    }
    function tls_ratio(metric, m) {
        if (("silk " m) in med && med["silk " m] > 0)
            printf "ratio %s silk-tls/silk %.2f\n", metric, med["silk-tls " m] / med["silk " m]
    }
    function fmt(key, f) { return key in med ? sprintf(f, med[key]) : "-" }
    function ratio(metric, a, b,    p) {
        p = b; sub(/ .*/, "", p)
        if ((a in med) && (b in med) && med[b] > 0)
            printf "ratio %s silk/%s %.2f\n", metric, p, med[a] / med[b]
        else
            printf "ratio %s silk/%s n/a\n", metric, p
    }
'
