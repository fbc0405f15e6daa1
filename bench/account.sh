#!/bin/sh
# account.sh - what one call costs on each of silk's paths (make bench-account, issue 18):
# context switches, wake-ups, syscalls, instructions, heap allocations and CPU time per call,
# for every process of the path that is silk's (the client too, where it is ours).
#
# Paths: rpc-pool and rpc-inline (blocking silk calls, bench-rpc-silk's latency mode, against
# the pool and inline servers), rpc-async (64 calls in flight, its throughput mode, inline
# server), ws (a WebSocket round trip through OnMessage: bench-ws --test latency against
# silk-gateway and wstest-service), ws-host (the same against wstest-host, the gateway with
# WsTest in its process), http (POST /api/bench/echo through bench-gateway to
# bench-http-service, one request at a time on one keep-alive connection, by curl), http-64
# (the same under wrk with 64 connections, bench-http's load; left out without wrk) and push
# (silk_ws_send_business to 100 sessions of one business on the gateway: bench-ws --test push,
# per message delivered). The floors of bench-rpc follow: floor-tcp (bench-rpc-tcp's blocking
# ping-pong) and floor-nng-stream (bench-rpc-nng-stream's, nng_aio_wait on an nng stream).
#
# Each figure is a difference: two runs of different lengths against the same servers, the
# difference of the counts over the difference of the calls made, so that start-up, connection
# and warm-up costs cancel; the median of --repeat such pairs (3). Counted with:
#   cs, wakeups, syscalls, cpu_us  perf stat (context-switches, sched:sched_wakeup — wake-ups
#                                  the process made —, raw_syscalls:sys_enter, task-clock), on
#                                  the client command and attached to each server (-p); without
#                                  perf: cs from /proc/<pid>/task/*/status (servers only) and
#                                  syscalls from strace -c -f in runs of their own (ptrace adds
#                                  context switches), no wake-ups or CPU
#   instr                          valgrind --tool=callgrind, all threads; the servers run under
#                                  it and callgrind_control dumps their counts around each run
#   allocs                         libbench-alloc-count.so (LD_PRELOAD, bench/alloc_count.c):
#                                  calls of malloc, calloc, realloc and the memalign family
#
# It installs nothing (make bench-deps installs perf, strace and valgrind); it builds
# $BUILD_DIR (default build-bench, Release) unless --no-build. Without perf and strace it exits
# 77 (ctest's skip code).
set -eu

usage() {
    cat <<USAGE
usage: bench/account.sh [--paths LIST] [--repeat N] [--quick] [--no-valgrind] [--no-perf]
                        [--build-dir DIR] [--no-build]

  --paths LIST    the paths to account, comma-separated (default rpc-pool,rpc-inline,
                  rpc-async,ws,ws-host,http,http-64,push,floor-tcp,floor-nng-stream)
  --repeat N      the pairs of runs counted with perf (or /proc and strace) and allocation
                  counts: each figure is the median of N (default 3); callgrind runs once
  --quick         shorter runs (for the smoke test; the figures get noisier)
  --no-valgrind   no instruction counts (the slowest part)
  --no-perf       count as without perf: /proc and strace
  --build-dir DIR the CMake build (default \$BUILD_DIR, else build-bench)
  --no-build      use the programs in the build as they are

ACCOUNT_KEEP=1 in the environment keeps the run's directory (counts, perf and callgrind
files) and prints where it is.
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
export SILK_LOG="${SILK_LOG:-warn}"
build=${BUILD_DIR:-build-bench}
paths=rpc-pool,rpc-inline,rpc-async,ws,ws-host,http,http-64,push,floor-tcp,floor-nng-stream
no_build=
repeat=3
valgrind=1
perf=1
# Calls (or seconds) in the short and the long run; with valgrind, and the pushes' sessions.
n1=2000 n2=10000 v1=200 v2=1000 s1=0.5 s2=1.5 vs1=0.5 vs2=1.5 push_sessions=100
while [ $# -gt 0 ]; do
    case $1 in
    --help | -h) usage; exit 0 ;;
    --paths) paths=$2; shift 2 ;;
    --quick) n1=200 n2=600 v1=20 v2=60 s1=0.2 s2=0.4 vs1=0.2 vs2=0.4 push_sessions=20; shift ;;
    --repeat) repeat=$2; shift 2 ;;
    --no-valgrind) valgrind=; shift ;;
    --no-perf) perf=; shift ;;
    --build-dir) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) usage >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
[ -n "$no_build" ] || bench_build "$build" bench-account-programs
bin=$build/bin
preload=$build/bench/libbench-alloc-count.so
[ -f "$preload" ] || { echo "account.sh: no $preload (build bench-account-programs)" >&2; exit 1; }
events=task-clock,context-switches,sched:sched_wakeup,raw_syscalls:sys_enter
work=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do stop_pid "$p"; done
    [ -n "${ACCOUNT_KEEP:-}" ] && echo "account.sh: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# perf_works tells whether perf stat counts every event (a number, not <not supported>).
perf_works() {
    perf stat -x, -e "$events" -o "$work/perf.check" true 2>/dev/null &&
        [ "$(grep -c '^[0-9.]*,' "$work/perf.check")" -eq 4 ]
}
if [ -n "$perf" ] && ! perf_works; then
    echo "account.sh: perf stat cannot count $events here; using /proc and strace" >&2
    perf=
fi
if [ -z "$perf" ] && ! command -v strace >/dev/null 2>&1; then
    echo "account.sh: neither perf nor strace is installed (make bench-deps); skipped" >&2
    exit 77
fi
if [ -n "$valgrind" ] && ! command -v callgrind_control >/dev/null 2>&1; then
    echo "account.sh: no valgrind; no instruction counts" >&2
    valgrind=
fi

results=$work/results
: >"$results"
mkdir -p "$work/alloc"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

# ============================== the servers ==============================

# serve NAME CMD... starts a server of the path, its stdin $serve_in; under valgrind in phase
# cg, with the allocation counter in phase count. It adds NAME=PID to $procs.
serve() {
    name=$1
    shift
    # Emptied here, not by the background job's redirection, which may come after the caller
    # has read the previous server's "listening" line from it.
    : >"$work/$name.out"
    case $phase in
    cg)
        valgrind -q --tool=callgrind --dump-instr=no --callgrind-out-file="$work/cg.$name.%p" \
            "$@" <"$serve_in" >"$work/$name.out" 2>"$work/$name.log" &
        ;;
    *)
        BENCH_ALLOC_DIR=$work/alloc LD_PRELOAD=$preload \
            "$@" <"$serve_in" >"$work/$name.out" 2>"$work/$name.log" &
        ;;
    esac
    pids="$pids $!"
    procs="$procs $name=$!"
}

# start_rpc PEER VARIANT starts bench-rpc-PEER --serve, which serves until its stdin closes
# (fd 7, a fifo), and sets $addr and $rpc (the program).
start_rpc() {
    rpc=$bin/bench-rpc-$1
    rm -f "$work/rpc.in"
    mkfifo "$work/rpc.in"
    serve_in=$work/rpc.in
    serve server "$rpc" --serve ${2:+--variant "$2"}
    serve_in=/dev/null
    exec 7>"$work/rpc.in"
    wait_until 300 grep -q '^listening ' "$work/server.out" ||
        { cat "$work/server.log" >&2; echo "account.sh: the rpc server did not start" >&2; exit 1; }
    addr=$(sed -n 's/^listening //p' "$work/server.out")
}

# start_ws starts silk-gateway and wstest-service (registry in $work) and sets $url.
start_ws() {
    export SILK_REGISTRY="file:$work/registry-$path-$phase"
    port=$(free_port)
    serve gateway "$bin/silk-gateway" --listen "127.0.0.1:$port" --max-connections 10000
    serve service "$bin/wstest-service"
    url=ws://127.0.0.1:$port/api/wstest
    wait_until 600 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz?deep=1" ||
        { cat "$work"/*.log >&2; echo "account.sh: the gateway did not come up" >&2; exit 1; }
}

# start_ws_host starts wstest-host, the gateway serving WsTest itself, and sets $url.
start_ws_host() {
    export SILK_REGISTRY="file:$work/registry-$path-$phase"
    port=$(free_port)
    serve gateway "$bin/wstest-host" --listen "127.0.0.1:$port" --max-connections 10000
    url=ws://127.0.0.1:$port/api/wstest
    wait_until 600 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz?deep=1" ||
        { cat "$work"/*.log >&2; echo "account.sh: wstest-host did not come up" >&2; exit 1; }
}

# start_http starts bench-gateway and bench-http-service and sets $url.
start_http() {
    export SILK_REGISTRY="file:$work/registry-$path-$phase"
    port=$(free_port)
    serve gateway "$bin/bench-gateway" --listen "127.0.0.1:$port"
    serve service "$bin/bench-http-service"
    url=http://127.0.0.1:$port/api/bench/echo
    wait_until 600 post_echo 1 ||
        { cat "$work"/*.log >&2; echo "account.sh: POST $url did not answer" >&2; exit 1; }
}

# post_echo N makes N POSTs one after the other on one connection (one curl).
post_echo() {
    awk -v n="$1" -v u="$url" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\n", u }' \
        >"$work/curl.cfg"
    $client_wrap curl -sf --max-time 120 -H 'Content-Type: application/json' \
        -d '{"businessId":"100","msg":"hello","seq":"1"}' -K "$work/curl.cfg" >/dev/null
}

stop_servers() {
    exec 7>&- # bench-rpc-silk --serve stops when its stdin closes
    for p in $pids; do stop_pid "$p"; done
    pids=
    procs=
}

# ============================== the clients ==============================

# run_client ROUND makes the path's calls (short run: ROUND 1, long: 2) and prints how many.
# $client_wrap runs the client under perf, strace or valgrind; $client_name is empty when the
# client is not silk's (curl).
run_client() {
    if [ "$1" = 1 ]; then n=$c1 s=$t1; else n=$c2 s=$t2; fi
    case $path in
    rpc-pool | rpc-inline | floor-*)
        $client_wrap "$rpc" --connect "$addr" --only latency --warmup 10 \
            --calls "$n" >"$work/client.out"
        echo $((n + 10))
        ;;
    rpc-async)
        BENCH_VERBOSE=1 $client_wrap "$rpc" --connect "$addr" --only throughput \
            --seconds "$s" >"$work/client.out" 2>"$work/client.err"
        sed -n 's/.*throughput: \([0-9]*\) calls in all.*/\1/p' "$work/client.err"
        ;;
    ws | ws-host)
        $client_wrap "$bin/bench-ws" --peer silk --test latency --url "$url?businessId=acct" \
            --warmup 10 --calls "$n" >"$work/client.out"
        echo $((n + 10))
        ;;
    http)
        post_echo "$n"
        echo "$n"
        ;;
    http-64)
        # wrk takes whole seconds: 1 s for the short run, 3 s for the long one.
        BENCH_PAYLOAD=64 $client_wrap wrk -t1 -c64 -d"$(($1 * 2 - 1))s" \
            -s "$root/bench/http_post.lua" "$url" >"$work/client.out"
        sed -n 's/^result gateway requests //p' "$work/client.out"
        ;;
    push)
        $client_wrap "$bin/bench-ws" --peer silk --test push --url "$url" \
            --sessions "$push_sessions" --seconds "$s" >"$work/client.out"
        # Per message delivered: each push goes to every session.
        sed -n 's/^result silk pushes \([0-9]*\).*/\1/p' "$work/client.out" |
            awk -v k="$push_sessions" '{ print $1 * k }'
        ;;
    esac
}

# ============================== counting ==============================

# perf_value FILE EVENT prints EVENT's count from a perf stat -x, file (0 when not counted).
perf_value() {
    awk -F, -v e="$2" '$3 == e { print ($1 ~ /^[0-9.]+$/ ? $1 : 0); found = 1 }
        END { if (!found) print 0 }' "$1"
}

# record_perf PROC ROUND FILE appends a perf stat file's counts.
record_perf() {
    for e in context-switches sched:sched_wakeup raw_syscalls:sys_enter task-clock; do
        echo "$path $1 $2 $rep $e $(perf_value "$3" "$e")" >>"$results"
    done
}

# ctx_switches PID sums voluntary and involuntary context switches over PID's threads.
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# strace_calls FILE prints the total of a strace -c summary.
strace_calls() {
    awk '$NF == "total" { print $4; found = 1 }
        END { if (!found) print 0 }' "$1"
}

# allocs DIR [PID] prints the allocations counted in DIR (PID's file, or all of them).
allocs() {
    if [ -n "${2:-}" ]; then set -- "$1/$2"; else set -- "$1"/*; fi
    for f in "$@"; do [ -f "$f" ] && od -An -t u8 -N 8 "$f"; done | awk '{ n += $1 } END { print n + 0 }'
}

# cg_dump NAME PID dumps a server's instruction counts since its last dump and prints them.
cg_dump() {
    callgrind_control -d "$2" >/dev/null 2>&1 || true
    f=$(ls -t "$work/cg.$1.$2".* 2>/dev/null | head -n 1)
    [ -n "$f" ] && awk '/^summary:/ { print $2 }' "$f" && rm -f "$f"
}

# round_count ROUND runs the client once (short run: ROUND 1, long: 2) with perf stat on the
# client and attached to each server, or without perf reading the servers' context switches
# from /proc; allocations are counted everywhere.
round_count() {
    r=$1
    watchers=
    for p in $procs; do
        name=${p%%=*} pid=${p#*=}
        echo "$path $name $r $rep allocs_before $(allocs "$work/alloc" "$pid")" >>"$results"
        if [ -n "$perf" ]; then
            perf stat -x, -e "$events" -p "$pid" -o "$work/perf.$name.$r" 2>/dev/null &
            watchers="$watchers $!"
        else
            echo "$path $name $r $rep cs_before $(ctx_switches "$pid")" >>"$results"
        fi
    done
    [ -z "$watchers" ] || sleep 0.3 # perf attaches
    dir=$work/alloc.client.$path.$r.$rep
    mkdir -p "$dir"
    client_wrap=${perf:+perf stat -x, -e $events -o $work/perf.client.$r --}
    # env puts the allocation counter on the client alone, not on perf.
    client_wrap="$client_wrap env BENCH_ALLOC_DIR=$dir LD_PRELOAD=$preload"
    calls=$(run_client "$r")
    stop_watchers
    echo "$path calls $r $rep $calls" >>"$results"
    for p in $procs; do
        name=${p%%=*} pid=${p#*=}
        echo "$path $name $r $rep allocs $(allocs "$work/alloc" "$pid")" >>"$results"
        if [ -n "$perf" ]; then
            record_perf "$name" "$r" "$work/perf.$name.$r"
        else
            echo "$path $name $r $rep cs $(ctx_switches "$pid")" >>"$results"
        fi
    done
    if [ -n "$client_name" ]; then
        echo "$path client $r $rep allocs $(allocs "$dir")" >>"$results"
        [ -z "$perf" ] || record_perf client "$r" "$work/perf.client.$r"
    fi
}

# round_strace ROUND runs the client once under strace -c -f, attached to the servers too: the
# syscalls without perf. Its calls are "calls_st" (ptrace slows everything, and so changes
# how much a timed run does).
round_strace() {
    r=$1
    watchers=
    for p in $procs; do
        strace -c -f -q -p "${p#*=}" -o "$work/strace.${p%%=*}.$r" 2>/dev/null &
        watchers="$watchers $!"
    done
    sleep 0.3 # strace attaches
    client_wrap="strace -c -f -q -o $work/strace.client.$r --"
    calls=$(run_client "$r")
    stop_watchers
    echo "$path calls_st $r $rep $calls" >>"$results"
    for p in $procs ${client_name:+client=}; do
        name=${p%%=*}
        echo "$path $name $r $rep syscalls_st $(strace_calls "$work/strace.$name.$r")" >>"$results"
    done
}

# stop_watchers stops the perf or strace processes attached to the servers, which then write
# their counts.
stop_watchers() {
    for w in $watchers; do kill -INT "$w" 2>/dev/null || true; done
    for w in $watchers; do wait "$w" 2>/dev/null || true; done
}

# round_cg ROUND runs the client once with the servers, and the client, under callgrind.
round_cg() {
    r=$1
    for p in $procs; do cg_dump "${p%%=*}" "${p#*=}" >/dev/null; done
    client_wrap="valgrind -q --tool=callgrind --dump-instr=no --callgrind-out-file=$work/cg.client.$r"
    [ -n "$client_name" ] || client_wrap=
    calls=$(run_client "$r")
    echo "$path calls_cg $r $rep $calls" >>"$results"
    for p in $procs; do
        echo "$path ${p%%=*} $r $rep instr $(cg_dump "${p%%=*}" "${p#*=}")" >>"$results"
    done
    if [ -n "$client_name" ]; then
        echo "$path client $r $rep instr $(awk '/^summary:/ { print $2 }' "$work/cg.client.$r")" >>"$results"
    fi
}

# account PATH runs both phases of one path.
account() {
    path=$1
    client_name=client
    client_wrap=
    serve_in=/dev/null
    case $path in http*) client_name= ;; esac
    if [ "$path" = http-64 ] && ! command -v wrk >/dev/null 2>&1; then
        echo "account.sh: http-64: no wrk (make bench-deps installs it); left out" >&2
        return 0
    fi
    for phase in count ${valgrind:+cg}; do
        procs=
        echo "account.sh: $path, $phase ($(($(date +%s) - t_start)) s)" >&2
        case $path in
        rpc-pool) start_rpc silk pool ;;
        rpc-inline | rpc-async) start_rpc silk inline ;;
        floor-tcp) start_rpc tcp "" ;;
        floor-nng-stream) start_rpc nng-stream "" ;;
        ws) start_ws ;;
        ws-host) start_ws_host ;;
        push)
            start_ws
            procs=${procs%% service=*} # the push goes to the gateway alone
            ;;
        http | http-64) start_http ;;
        *) echo "account.sh: no path $path" >&2; exit 2 ;;
        esac
        if [ "$phase" = count ]; then
            c1=$n1 c2=$n2 t1=$s1 t2=$s2
            client_wrap=
            run_client 1 >/dev/null # warm-up: caches, connections, the registry
            rep=1
            while [ "$rep" -le "$repeat" ]; do
                round_count 1
                round_count 2
                if [ -z "$perf" ]; then
                    round_strace 1
                    round_strace 2
                fi
                rep=$((rep + 1))
            done
        else
            rep=1
            c1=$v1 c2=$v2 t1=$vs1 t2=$vs2
            client_wrap=
            run_client 1 >/dev/null
            round_cg 1
            round_cg 2
        fi
        stop_servers
    done
}

for p in $(echo "$paths" | tr , ' '); do account "$p"; done

# ============================== the table ==============================

awk -v load="$load_before" -v secs="$(($(date +%s) - t_start))" -v perf="$perf" \
    -v repeat="$repeat" '
    # Records: path process round(1 short, 2 long) repeat metric value; the calls made are
    # recorded as process "calls" (perf or /proc), "calls_st" (strace) or "calls_cg" (callgrind).
    $2 == "calls" || $2 == "calls_cg" || $2 == "calls_st" { n_calls[$1, $2, $3, $4] = $5; next }
    {
        key = $1 SUBSEP $2
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        v[key, $5, $3, $4] = $6; has[key, $5] = 1
    }
    # per returns metric m per call of the pair of runs k (minus its "before" figure), or -1.
    function per(key, m, k, calls, before,    path, d, a) {
        split(key, p, SUBSEP); path = p[1]
        if (!((key, m, 2, k) in v) || !((key, m, 1, k) in v))
            return -1
        d = n_calls[path, calls, 2, k] - n_calls[path, calls, 1, k]
        if (d <= 0)
            return -1
        a = v[key, m, 2, k] - v[key, m, 1, k]
        if (before != "")
            a -= v[key, before, 2, k] - v[key, before, 1, k]
        return a / d
    }
    # med is the median over the repeats of per(), "n/a" when it could not be had.
    function med(key, m, calls, before, fmt, scale,    k, c, x, t, i, j) {
        if (!has[key, m])
            return "n/a"
        c = 0
        for (k = 1; k <= (calls == "calls_cg" ? 1 : repeat); k++)
            if ((x = per(key, m, k, calls, before)) >= 0)
                t[++c] = x
        if (c == 0)
            return "n/a"
        for (i = 2; i <= c; i++)
            for (j = i; j > 1 && t[j - 1] > t[j]; j--) { x = t[j]; t[j] = t[j - 1]; t[j - 1] = x }
        x = c % 2 ? t[(c + 1) / 2] : (t[c / 2] + t[c / 2 + 1]) / 2
        return sprintf(fmt, x * scale)
    }
    END {
        printf "\nper call: the difference of two runs over the difference of their calls (calls:\n"
        printf "that difference), median of %d pairs (instr: one pair, under callgrind)\n", repeat
        printf "load average (1, 5, 15 min) before: %s; %d s in all\n", load, secs
        printf "%-16s %-8s %7s %8s %8s %9s %10s %8s %8s\n", "path", "process", "calls", "cs",
               "wakeups", "syscalls", "instr", "allocs", "cpu_us"
        for (i = 1; i <= n; i++) {
            key = order[i]; split(key, k, SUBSEP)
            cs = perf ? med(key, "context-switches", "calls", "", "%.2f", 1) \
                      : med(key, "cs", "calls", "cs_before", "%.2f", 1)
            printf "%-16s %-8s %7d %8s %8s %9s %10s %8s %8s\n", k[1], k[2],
                   n_calls[k[1], "calls", 2, 1] - n_calls[k[1], "calls", 1, 1], cs,
                   med(key, "sched:sched_wakeup", "calls", "", "%.2f", 1),
                   perf ? med(key, "raw_syscalls:sys_enter", "calls", "", "%.2f", 1) \
                        : med(key, "syscalls_st", "calls_st", "", "%.2f", 1),
                   med(key, "instr", "calls_cg", "", "%.0f", 1),
                   med(key, "allocs", "calls", "allocs_before", "%.2f", 1),
                   med(key, "task-clock", "calls", "", "%.1f", 1000)
        }
    }' "$results"
