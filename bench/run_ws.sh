#!/bin/sh
# run_ws.sh - the WebSocket benchmark (make bench-ws, issue 6): bench-ws, one load client,
# measures in one run silk's gateway (samples/wstest: silk-gateway and wstest-service), a
# libwebsockets echo server (bench-ws-lws) and a Node ws echo server (bench/node/echo.js):
#
#   silk   round trip client -> gateway -> OnMessage on wstest-service -> reply -> client;
#          silk-1loop the same with the gateway on one loop (--workers 1), as lws and Node
#          serve on one thread (round trips only); silk-host the same through wstest-host,
#          the gateway with WsTest in its process (silk_gateway_main_hosting: OnMessage runs
#          on the gateway's loops, no socket to a service; round trips and pushes);
#          pushes from a service (silk_ws_send_business) to 1000 sessions; VmRSS per idle
#          session with 10,000 sessions
#   peers  their echo and their VmRSS per idle connection
#   floors bench-rpc-tcp's blocking TCP ping-pong (tcp) and the same through a relay process
#          (tcp-relay): what a round trip costs with two processes, and with three as silk's;
#          bench-tcp-loop's msgs/s with as many connections against an epoll echo (tcp-loop)
#          and through an epoll relay multiplexing them to it (tcp-relay-loop)
#
# Round trips: p50/p99 over 20,000 on one connection, and messages/s with 100 connections
# each keeping one message in flight. Every server is started afresh for each peer and
# repeat. The last lines are the ratios issue 6 asks for (roundtrip: msgs/s, silk-1loop's
# too), silk's p50 round trip over lws's (issue 18: p50-roundtrip, microseconds), silk's over
# the relay floor's and the relay floor's over lws's (p50-floor: what any round trip through
# a middle process pays), the same two for msgs/s (roundtrip silk/tcp-relay-loop,
# roundtrip-floor), and silk's idle bytes per session.
# With --tls, silk (--tls-cert/--tls-key) and lws run again over wss (peers silk-tls and
# lws-tls, a self-signed certificate made with openssl; no idle test), and two more lines
# follow: the ratios issue 13 asks for, pushes-tls and roundtrip-tls. With --limits, silk runs
# again with every limit of issue 14 configured but far from reached (peer silk-limits:
# --rate-limit, --rate-burst, --session-rate, --max-connections-per-ip), and the ratios
# limits/plain follow: the limits must cost nothing on the hot path.
#
# It installs nothing (make bench-deps does). Without the lws server or Node's ws it exits 77
# (ctest's skip code). Until the gateway calls OnMessage, silk's round trip is n/a.
set -eu

usage() {
    cat <<USAGE
usage: bench/run_ws.sh [--repeat N] [--seconds S] [--calls N] [--warmup N]
                       [--connections N] [--sessions N] [--push-sessions N] [--payload N]
                       [--build-dir DIR] [--node-modules DIR] [--tls] [--limits]

  --repeat N         run every peer N times, interleaved; each figure is the median (1)
  --seconds S        messages/s and pushes/s: the measured window (10), after S/5 (<= 1 s)
  --calls N          latency: timed round trips on one connection (20000)
  --warmup N         latency: round trips before timing (2000)
  --connections N    messages/s: connections, one message in flight each (100)
  --sessions N       idle memory: idle connections (10000)
  --push-sessions N  pushes: silk sessions pushed to (1000)
  --payload N        bytes per message (64)
  --no-build       use the programs in the build as they are (ctest's smoke runs)
  --pin same|split   same: servers and client on CPU 0; split: servers on CPU 1, the client on
                     CPU 0 (default: where the scheduler puts them)
  --gateway-args A  more flags for the gateway, e.g. "--workers 2"
  --build-dir DIR    the CMake build (default \$BUILD_DIR, else build-bench)
  --node-modules DIR where npm installed ws (default \$BUILD_DIR/node/node_modules)
  --tls              also silk and lws over wss (issue 13): ratios pushes-tls, roundtrip-tls
  --limits           also silk with limits configured, not reached (issue 14): limits/plain
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
node_modules=
repeat=1
no_build=
pin=
gateway_args=
seconds=10
calls=20000
warmup=2000
conns=100
sessions=10000
push_sessions=1000
payload=64
tls=
limits=
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --repeat) repeat=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --push-sessions) push_sessions=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --gateway-args) gateway_args=$2; shift 2 ;;
    --pin) pin=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --tls) tls=1; shift ;;
    --limits) limits=1; shift ;;
    --node-modules) node_modules=$2; shift 2 ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
node_modules=${node_modules:-$build/node/node_modules}
case $repeat in '' | *[!0-9]* | 0) echo "run_ws.sh: --repeat needs a positive number" >&2; exit 2 ;; esac
# on_server and on_client put a command on its CPU with --pin.
case $pin in
'') on_server=; on_client= ;;
same) on_server="taskset -c 0"; on_client="taskset -c 0" ;;
split) on_server="taskset -c 1"; on_client="taskset -c 0" ;;
*) echo "run_ws.sh: --pin takes same or split" >&2; exit 2 ;;
esac

[ -n "$no_build" ] || bench_build "$build" bench-ws-programs
bin=$build/bin
missing=
[ -x "$bin/bench-ws-lws" ] || missing="$missing libwebsockets-dev (bench-ws-lws not built)"
command -v node >/dev/null 2>&1 || missing="$missing node"
[ -f "$node_modules/ws/package.json" ] || missing="$missing ws (no $node_modules/ws)"
if [ -n "$missing" ]; then
    echo "run_ws.sh: missing:$missing; make bench-deps installs them; skipped" >&2
    exit 77
fi

# 10,000 sessions take 10,000 descriptors in the client and in each server: the servers
# started below inherit this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((sessions + 100)) ]; then
    echo "run_ws.sh: the open-files limit $(ulimit -n) is below --sessions $sessions" >&2
    exit 1
fi

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
if [ -n "$tls" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
        -days 2 -subj /CN=127.0.0.1 2>/dev/null
fi

# start_peer PEER starts PEER's server(s), sets $url (the WebSocket URL without a business
# id), $server (the pid whose memory counts) and $pids.
start_peer() {
    port=$(free_port)
    case $1 in
    silk | silk-1loop | silk-tls | silk-limits | silk-host)
        export SILK_REGISTRY="file:$work/registry-$1-$i"
        tls_args=
        scheme=ws
        if [ "$1" = silk-tls ]; then
            tls_args="--tls-cert $work/tls.crt --tls-key $work/tls.key"
            scheme=wss
        fi
        if [ "$1" = silk-1loop ] || [ "$1" = silk-host ]; then
            tls_args="--workers 1"
        fi
        if [ "$1" = silk-limits ]; then
            tls_args="--rate-limit 1000000 --rate-burst 1000000 --session-rate 1000000"
            tls_args="$tls_args --max-connections-per-ip 1000000"
        fi
        gateway_bin=silk-gateway
        [ "$1" = silk-host ] && gateway_bin=wstest-host
        # shellcheck disable=SC2086 # $tls_args is some words or none
        $on_server "$bin/$gateway_bin" $gateway_args $tls_args --listen "127.0.0.1:$port" --max-connections $((sessions + 1000)) \
            2>"$work/silk-gateway.log" &
        server=$!
        pids=$server
        if [ "$1" != silk-host ]; then
            $on_server "$bin/wstest-service" 2>"$work/wstest-service.log" &
            pids="$server $!"
        fi
        url="$scheme://127.0.0.1:$port/api/wstest"
        ready="http${scheme#ws}://127.0.0.1:$port/healthz?deep=1"
        ;;
    lws-tls)
        $on_server "$bin/bench-ws-lws" "$port" "$work/tls.crt" "$work/tls.key" 2>"$work/lws.log" &
        server=$!
        pids=$server
        url="wss://127.0.0.1:$port/"
        ;;
    lws)
        $on_server "$bin/bench-ws-lws" "$port" 2>"$work/lws.log" &
        server=$!
        pids=$server
        url="ws://127.0.0.1:$port/"
        ;;
    node)
        NODE_PATH=$node_modules $on_server node "$root/bench/node/echo.js" "$port" >/dev/null 2>"$work/node.log" &
        server=$!
        pids=$server
        url="ws://127.0.0.1:$port/"
        ;;
    esac
    if [ "${1%%-*}" = silk ]; then
        wait_until 100 curl -ksf -o /dev/null --max-time 1 "$ready" && return 0
    else
        # Something listens: ours, unless it exits at once (the port was someone else's).
        wait_until 100 port_open "$port" && sleep 0.3 && kill -0 "$server" 2>/dev/null &&
            return 0
    fi
    return 1
}

# start_peer_retrying starts PEER, on another free port when the first did not come up: a
# port free when chosen may be taken before the server binds it (tests run in parallel), or
# be held by a connection in TIME_WAIT, which a server without SO_REUSEADDR cannot bind.
start_peer_retrying() {
    for try in 1 2 3 4 5; do
        start_peer "$1" && return 0
        stop_peer
        echo "run_ws.sh: the $1 server did not come up (try $try)" >&2
    done
    cat "$work"/*.log >&2
    exit 1
}

stop_peer() {
    for p in $pids; do stop_pid "$p"; done
    pids=
}

# client PEER ARGS... runs bench-ws; its result lines go to the results; 3 is "no reply".
client() {
    peer=$1
    shift
    rc=0
    $on_client "$bin/bench-ws" --peer "$peer" --payload "$payload" "$@" >"$work/client.out" || rc=$?
    grep '^result ' "$work/client.out" | tee -a "$results" >&2 || true
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
        cat "$work"/*.log >&2
        echo "run_ws.sh: bench-ws $peer $* failed ($rc)" >&2
        exit 1
    fi
    return "$rc"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$repeat" ]; do
    for peer in silk silk-1loop silk-host lws node ${tls:+silk-tls lws-tls} ${limits:+silk-limits}; do
        echo "run $i/$repeat: $peer (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        start_peer_retrying "$peer"
        bid=
        case $peer in silk*) bid="?businessId=bench" ;; esac
        case $peer in
        *-tls | silk-1loop | silk-host) ;;
        *)
            client "$peer" --test idle --url "$url${bid:+?businessId=idle}" --pid "$server" \
                --sessions "$sessions"
            ;;
        esac
        if client "$peer" --test latency --url "$url$bid" --calls "$calls" --warmup "$warmup"; then
            client "$peer" --test throughput --url "$url$bid" --connections "$conns" \
                --seconds "$seconds"
        fi
        if [ "${peer%%-*}" = silk ] && [ "$peer" != silk-1loop ]; then
            client "$peer" --test push --url "$url" --sessions "$push_sessions" --seconds "$seconds"
        fi
        stop_peer
    done
    for variant in "" relay; do # the floors: two processes, and three
        "$bin/bench-rpc-tcp" --only latency --calls "$calls" --warmup "$warmup" \
            --payload "$payload" ${pin:+--pin "$pin"} ${variant:+--variant "$variant"} \
            >"$work/floor.out" || { echo "run_ws.sh: bench-rpc-tcp $variant failed" >&2; exit 1; }
        tee -a "$results" <"$work/floor.out" >&2
        "$bin/bench-tcp-loop" --inflight "$conns" --seconds "$seconds" --payload "$payload" \
            ${pin:+--pin "$pin"} ${variant:+--variant "$variant"} >"$work/floor.out" ||
            { echo "run_ws.sh: bench-tcp-loop $variant failed" >&2; exit 1; }
        tee -a "$results" <"$work/floor.out" >&2
    done
    i=$((i + 1))
done

median_table <"$results" | awk -v repeat="$repeat" -v pin="${pin:+, pinned: $pin}" -v payload="$payload" -v load="$load_before" -v tls="$tls" -v limits="$limits" \
    -v conns="$conns" -v sessions="$sessions" -v push="$push_sessions" '
    { med[$1 " " $2] = $3 }
    function has(k) { return k in med }
    function f(k, fmt) { return has(k) ? sprintf(fmt, med[k]) : "n/a" }
    function ratio(name, a, b) {
        if (has(a) && has(b) && med[b] > 0)
            printf "ratio %s %.2f\n", name, med[a] / med[b]
        else
            printf "ratio %s n/a\n", name
    }
    END {
        printf "\nWebSocket, %d-byte text messages, 127.0.0.1; median of %d run(s)%s\n", payload, repeat, pin
        printf "load average (1, 5, 15 min) before the runs: %s\n", load
        printf "%-11s %9s %9s %12s %12s %14s\n", "peer", "p50 us", "p99 us", "msgs/s", \
               "pushes/s", "idle B/conn"
        np = split("silk silk-1loop silk-host lws node" (tls ? " silk-tls lws-tls" : "") (limits ? " silk-limits" : ""), p, " ")
        for (i = 1; i <= np; i++)
            printf "%-11s %9s %9s %12s %12s %14s\n", p[i], f(p[i] " p50_us", "%.1f"),
                   f(p[i] " p99_us", "%.1f"), f(p[i] " msgs_per_s", "%.0f"),
                   f(p[i] " pushes_per_s", "%.0f"), f(p[i] " idle_bytes", "%.0f")
        printf "silk: round trips through OnMessage on wstest-service; pushes to %d sessions by\n", push
        printf "silk_ws_send_business; msgs/s with %d connections, one message in flight each;\n", conns
        printf "idle bytes: VmRSS growth / %d connections; silk-1loop: the gateway with --workers 1\n", sessions
        printf "silk-host: wstest-host, the gateway with the WsTest handlers in its process\n"
        printf "floors: tcp p50 %s us, tcp-relay p50 %s us (blocking TCP ping-pong of two\n", \
               f("tcp p50_us", "%.1f"), f("tcp-relay p50_us", "%.1f")
        printf "processes, and of three through a relay); tcp-loop %s msgs/s, tcp-relay-loop\n", \
               f("tcp-loop msgs_per_s", "%.0f")
        printf "%s msgs/s (the same connections against an epoll echo, and through an epoll\n", \
               f("tcp-relay-loop msgs_per_s", "%.0f")
        printf "relay multiplexing them over one connection to it)\n"
        if (has("silk noreply"))
            printf "silk: the gateway answered no message (no OnMessage hook): round trip n/a\n"
        printf "\n"
        ratio("pushes silk/lws", "silk pushes_per_s", "lws msgs_per_s")
        ratio("roundtrip silk/lws", "silk msgs_per_s", "lws msgs_per_s")
        ratio("roundtrip silk/node", "silk msgs_per_s", "node msgs_per_s")
        ratio("roundtrip silk-1loop/lws", "silk-1loop msgs_per_s", "lws msgs_per_s")
        ratio("roundtrip silk-host/lws", "silk-host msgs_per_s", "lws msgs_per_s")
        ratio("p50-roundtrip silk-host/lws", "silk-host p50_us", "lws p50_us")
        ratio("pushes silk-host/lws", "silk-host pushes_per_s", "lws msgs_per_s")
        ratio("p50-roundtrip silk/lws", "silk p50_us", "lws p50_us")
        ratio("p50-roundtrip silk/tcp-relay", "silk p50_us", "tcp-relay p50_us")
        ratio("p50-floor tcp-relay/lws", "tcp-relay p50_us", "lws p50_us")
        ratio("roundtrip silk/tcp-relay-loop", "silk msgs_per_s", "tcp-relay-loop msgs_per_s")
        ratio("roundtrip-floor tcp-relay-loop/lws", "tcp-relay-loop msgs_per_s", "lws msgs_per_s")
        ratio("idle-bytes silk/lws", "silk idle_bytes", "lws idle_bytes")
        printf "idle-bytes-per-session silk %s\n", f("silk idle_bytes", "%.0f")
        if (tls) {
            ratio("pushes-tls silk/lws", "silk-tls pushes_per_s", "lws-tls msgs_per_s")
            ratio("roundtrip-tls silk/lws", "silk-tls msgs_per_s", "lws-tls msgs_per_s")
        }
        if (limits) {
            ratio("roundtrip limits/plain", "silk-limits msgs_per_s", "silk msgs_per_s")
            ratio("pushes limits/plain", "silk-limits pushes_per_s", "silk pushes_per_s")
            ratio("latency-p50 limits/plain", "silk-limits p50_us", "silk p50_us")
            ratio("idle-bytes limits/plain", "silk-limits idle_bytes", "silk idle_bytes")
        }
    }'
