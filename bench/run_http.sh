#!/bin/sh
# run_http.sh - the HTTP benchmark (make bench-http): wrk against the gateway's
# POST /api/bench/echo with a small JSON body, and the same call made directly over RPC by
# bench-http-direct with as many calls in flight as wrk has connections, in one run, against
# the same service instance, and wrk against nginx answering `return 200` with the gateway's
# reply (one process, the HTTP floor; skipped when nginx is not installed). It prints a table,
# the gateway's added cost per request and, last, `ratio throughput gateway/direct <value>`
# and `ratio throughput gateway/nginx <value>`. With --tls a second gateway serves https
# (--tls-cert/--tls-key, a self-signed certificate made with the openssl CLI) beside it, wrk
# runs against both in each round, and `ratio throughput https/http <value>` follows. With
# --limits a gateway with every limit of issue 14 configured but far from reached
# (--rate-limit, --rate-burst, --max-connections-per-ip) runs beside the plain one, wrk against
# both in each round, and `ratio throughput limits/plain <value>` follows.
#
# It installs nothing (make bench-deps does); it builds $BUILD_DIR (default build-bench,
# Release) when the programs are missing. Without wrk it exits 77 (ctest's skip code).
set -eu

usage() {
    cat <<USAGE
usage: bench/run_http.sh [--repeat N] [--seconds S] [--connections N] [--payload N]
                         [--tls] [--limits] [--build-dir DIR]

  --repeat N       run both legs N times, interleaved; each figure is the median (default 1)
  --seconds S      the measured window of each leg, whole seconds (default 10; wrk warms up
                   for 1 s first, the direct client for S/5, at most 1 s)
  --connections N  wrk's connections, and the direct client's calls in flight (default 64)
  --payload N      length of the echoed message, in bytes (default 64)
  --no-build       use the programs in the build as they are (ctest's smoke runs)
  --tls            also wrk against a gateway serving https, in the same rounds
  --limits         also wrk against a gateway with limits configured, not reached
  --gateway-args A  more flags for the gateway, e.g. "--workers 2"
  --build-dir DIR  the CMake build to use (default \$BUILD_DIR, else build-bench)
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
repeat=1
no_build=
gateway_args=
seconds=10
conns=64
payload=64
tls=
limits=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --gateway-args) gateway_args=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --tls) tls=1; shift ;;
    --limits) limits=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
case $repeat in '' | *[!0-9]* | 0) echo "run_http.sh: --repeat needs a positive number" >&2; exit 2 ;; esac
case $seconds in '' | *[!0-9]* | 0) echo "run_http.sh: --seconds needs a whole number (wrk's)" >&2; exit 2 ;; esac
if ! command -v wrk >/dev/null 2>&1; then
    echo "run_http.sh: wrk is not installed (make bench-deps installs it); skipped" >&2
    exit 77
fi
[ -n "$no_build" ] || bench_build "$build" bench-http-programs
bin=$build/bin

work=$(mktemp -d)
svc_pid=
gw_pid=
tls_pid=
lim_pid=
nginx_pid=
cleanup() {
    stop_pid "$nginx_pid"
    stop_pid "$lim_pid"
    stop_pid "$tls_pid"
    stop_pid "$gw_pid"
    stop_pid "$svc_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export SILK_REGISTRY="file:$work/registry"
port=$(free_port)
"$bin/bench-http-service" 2>"$work/service.log" &
svc_pid=$!
"$bin/bench-gateway" $gateway_args --listen "127.0.0.1:$port" --max-connections 20000 2>"$work/gateway.log" &
gw_pid=$!
url="http://127.0.0.1:$port"
# The gateway finds the service through the registry: the first call through it, shown, tells
# that the route answers (and fails loudly when it does not).
body='{"businessId":"100","msg":"hello","seq":"1"}'
post_to() {
    curl -sfk --max-time 2 -H 'Content-Type: application/json' -d "$body" "$1/api/bench/echo"
}
post() {
    post_to "$url"
}
if ! wait_until 100 post >/dev/null; then
    cat "$work"/*.log >&2
    echo "run_http.sh: POST $url/api/bench/echo did not answer" >&2
    exit 1
fi
reply=$(post)
echo "POST /api/bench/echo $body -> $reply" >&2
# nginx, the floor, answers every request with what the gateway answers wrk's body.
msg=$(awk -v n="$payload" 'BEGIN { for (i = 0; i < n; i++) printf "%c", 97 + i % 26 }')
body="{\"businessId\":\"100\",\"msg\":\"$msg\",\"seq\":\"7\"}"
ngx_reply=$(post)
ngx_port=$(free_port)
ngx_url="http://127.0.0.1:$ngx_port"
if nginx_start "$work" "$ngx_port" "$ngx_reply" 2>"$work/nginx.log"; then
    if ! wait_until 100 post_to "$ngx_url" >/dev/null; then
        cat "$work/nginx.log" "$work/nginx/error.log" >&2
        echo "run_http.sh: nginx on $ngx_url did not answer" >&2
        exit 1
    fi
else
    echo "run_http.sh: nginx is not installed (make bench-deps installs it); no floor" >&2
fi
if [ -n "$tls" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
        -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    tls_port=$(free_port)
    "$bin/bench-gateway" $gateway_args --listen "127.0.0.1:$tls_port" --max-connections 20000 \
        --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" 2>"$work/gateway-tls.log" &
    tls_pid=$!
    tls_url="https://127.0.0.1:$tls_port"
    if ! wait_until 100 post_to "$tls_url" >/dev/null; then
        cat "$work"/gateway-tls.log >&2
        echo "run_http.sh: POST $tls_url/api/bench/echo did not answer" >&2
        exit 1
    fi
fi
if [ -n "$limits" ]; then
    lim_port=$(free_port)
    # shellcheck disable=SC2086 # $gateway_args is some words or none
    "$bin/bench-gateway" $gateway_args --listen "127.0.0.1:$lim_port" --max-connections 20000 \
        --rate-limit 1000000 --rate-burst 1000000 --max-connections-per-ip 1000000 \
        2>"$work/gateway-limits.log" &
    lim_pid=$!
    lim_url="http://127.0.0.1:$lim_port"
    if ! wait_until 100 post_to "$lim_url" >/dev/null; then
        cat "$work"/gateway-limits.log >&2
        echo "run_http.sh: POST $lim_url/api/bench/echo did not answer" >&2
        exit 1
    fi
fi

# wrk_leg NAME PID URL runs wrk against URL (warm-up first), checks it had no errors and
# appends its figures, and the gateway PID's CPU per request, as results of leg NAME.
wrk_leg() {
    BENCH_PAYLOAD=$payload wrk -t2 -c"$conns" -d1s -s "$root/bench/http_post.lua" "$3/api/bench/echo" >/dev/null
    t0=$(cpu_ticks "$2")
    BENCH_PAYLOAD=$payload wrk -t2 -c"$conns" -d"${seconds}s" -s "$root/bench/http_post.lua" \
        "$3/api/bench/echo" >"$work/wrk.out"
    t1=$(cpu_ticks "$2")
    grep '^result ' "$work/wrk.out" | sed "s/^result gateway /result $1 /" >"$work/wrk.res" ||
        { cat "$work/wrk.out" >&2; exit 1; }
    errors=$(awk '$3 == "errors" { print $4 }' "$work/wrk.res")
    if [ "${errors:-1}" != 0 ]; then
        cat "$work/wrk.out" "$work"/gateway*.log >&2
        echo "run_http.sh: $errors requests through the $1 gateway failed" >&2
        exit 1
    fi
    requests=$(awk '$3 == "requests" { print $4 }' "$work/wrk.res")
    awk -v t="$((t1 - t0))" -v hz="$hz" -v n="$requests" -v leg="$1" '
        $3 != "requests" && $3 != "errors" { print }
        END { if (n > 0) printf "result %s cpu_us %.1f\n", leg, t * 1e6 / hz / n }
    ' "$work/wrk.res" | tee -a "$results" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=$work/results
hz=$(getconf CLK_TCK)
i=1
while [ "$i" -le "$repeat" ]; do
    echo "run $i/$repeat: wrk -t2 -c$conns -d${seconds}s POST /api/bench/echo" >&2
    wrk_leg gateway "$gw_pid" "$url"
    if [ -n "$tls" ]; then
        echo "run $i/$repeat: wrk -t2 -c$conns -d${seconds}s POST /api/bench/echo over https" >&2
        wrk_leg https "$tls_pid" "$tls_url"
    fi
    if [ -n "$limits" ]; then
        echo "run $i/$repeat: wrk -t2 -c$conns -d${seconds}s POST /api/bench/echo with limits" >&2
        wrk_leg limits "$lim_pid" "$lim_url"
    fi

    if [ -n "$nginx_pid" ]; then
        echo "run $i/$repeat: wrk -t2 -c$conns -d${seconds}s POST /api/bench/echo to nginx" >&2
        wrk_leg nginx "$nginx_pid" "$ngx_url"
    fi

    echo "run $i/$repeat: bench-http-direct --inflight $conns --seconds $seconds" >&2
    "$bin/bench-http-direct" --inflight "$conns" --seconds "$seconds" --payload "$payload" \
        >"$work/direct.out" || { cat "$work/direct.out" >&2; exit 1; }
    grep '^result ' "$work/direct.out" | tee -a "$results" >&2
    i=$((i + 1))
done

median_table <"$results" | awk -v repeat="$repeat" -v conns="$conns" -v payload="$payload" \
    -v load="$load_before" '
    { med[$1 " " $2] = $3 }
    END {
        printf "\nPOST /api/bench/echo through the gateway (wrk, %d connections) and benchhttp.Api/Echo\n", conns
        printf "directly (%d calls in flight), %d-byte message; median of %d run(s)\n", conns, payload, repeat
        printf "load average (1, 5, 15 min) before the runs: %s\n", load
        printf "%-8s %12s %10s %10s\n", "leg", "requests/s", "p50 us", "p99 us"
        split("gateway direct nginx", leg, " ")
        for (i = 1; i <= 3; i++)
            if ((leg[i] " throughput") in med)
                printf "%-8s %12.0f %10.1f %10.1f\n", leg[i], med[leg[i] " throughput"],
                       med[leg[i] " p50_us"], med[leg[i] " p99_us"]
        g = med["gateway throughput"]; d = med["direct throughput"]; n = med["nginx throughput"]
        printf "\ngateway CPU per request: %.1f us\n", med["gateway cpu_us"]
        if (n > 0)
            printf "nginx CPU per request: %.1f us\n", med["nginx cpu_us"]
        if (g > 0 && d > 0)
            printf "gateway added cost per request: %.1f us (1/gateway rate - 1/direct rate)\n", \
                   1e6 / g - 1e6 / d
        printf "gateway added latency at p50: %.1f us, at p99: %.1f us\n", \
               med["gateway p50_us"] - med["direct p50_us"], med["gateway p99_us"] - med["direct p99_us"]
        if (g > 0 && d > 0)
            printf "ratio throughput gateway/direct %.2f\n", g / d
        else
            printf "ratio throughput gateway/direct n/a\n"
        if (g > 0 && n > 0)
            printf "ratio throughput gateway/nginx %.2f\n", g / n
        else
            printf "ratio throughput gateway/nginx n/a\n"
        h = med["https throughput"]
        if (h > 0) {
            printf "https through the gateway: %.0f requests/s, p50 %.1f us, p99 %.1f us, CPU %.1f us per request\n", \
                   h, med["https p50_us"], med["https p99_us"], med["https cpu_us"]
            printf "ratio throughput https/http %.2f\n", h / g
        }
        l = med["limits throughput"]
        if (l > 0) {
            printf "with limits configured, not reached: %.0f requests/s, p50 %.1f us, p99 %.1f us, CPU %.1f us per request\n", \
                   l, med["limits p50_us"], med["limits p99_us"], med["limits cpu_us"]
            printf "ratio throughput limits/plain %.2f\n", l / g
        }
    }'
