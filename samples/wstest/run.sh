#!/usr/bin/env bash
# run.sh - start, stop or show the seed's stack: wstest-service and silk-gateway in the background.
#
#   samples/wstest/run.sh start|stop|status
#
# Binaries come from $BUILD_DIR (default build/). State (pid files, logs, and the file registry
# unless $SILK_REGISTRY is set) lives in $SILK_RUN_DIR (default $BUILD_DIR/wstest-run).
# $SILK_REGISTRY may be any registry URL (file:DIR, redis://...): `start` waits until the
# gateway finds the service through it (GET /healthz?deep=1 answers 200). The
# gateway listens on $SILK_GATEWAY_LISTEN (default 127.0.0.1:5000). `stop` stops exactly the
# processes `start` started, by the pids it recorded. $SILK_RUN_WRAPPER, when set, is put in
# front of each program (for example "valgrind --leak-check=full"); $SILK_GATEWAY_ARGS adds
# flags to the gateway's (for example "--console", then open http://127.0.0.1:5000/_silk/).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$top/$BUILD_DIR" ;; esac
bin="$BUILD_DIR/bin"
run_dir=${SILK_RUN_DIR:-$BUILD_DIR/wstest-run}
listen=${SILK_GATEWAY_LISTEN:-127.0.0.1:5000}
read -r -a gateway_args <<<"${SILK_GATEWAY_ARGS:-}" # words, as a command line splits them
export SILK_REGISTRY=${SILK_REGISTRY:-file:$run_dir/registry}

die() {
    echo "run.sh: $*" >&2
    exit 1
}

alive() {
    [ -f "$run_dir/$1.pid" ] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null
}

# masked prints the registry URL with its password, if any, as ***.
masked() {
    echo "$SILK_REGISTRY" | sed -E 's#^(redis://[^:@/]*):[^@/]*@#\1:***@#'
}

# wait_until_ready waits, for up to 15 s, until the gateway finds every service it routes
# through the registry and each answers its Health/Check; it fails at once when a process of
# the stack has exited. One check for every registry, without looking inside any.
wait_until_ready() {
    for _ in $(seq 150); do
        alive wstest-service && alive silk-gateway || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
            "http://$listen/healthz?deep=1" 2>/dev/null)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

start_one() {
    local name=$1
    shift
    alive "$name" && die "$name is already running (pid $(cat "$run_dir/$name.pid"))"
    # shellcheck disable=SC2086
    ${SILK_RUN_WRAPPER:-} "$@" >"$run_dir/$name.log" 2>&1 &
    echo $! >"$run_dir/$name.pid"
}

stop_one() {
    local name=$1 pid
    [ -f "$run_dir/$name.pid" ] || return 0
    pid=$(cat "$run_dir/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$run_dir/$name.pid"
}

start() {
    [ -x "$bin/wstest-service" ] && [ -x "$bin/silk-gateway" ] ||
        die "no binaries in $bin: run 'make build' first"
    mkdir -p "$run_dir"
    start_one wstest-service "$bin/wstest-service"
    start_one silk-gateway "$bin/silk-gateway" --listen "$listen" ${gateway_args[@]+"${gateway_args[@]}"}
    if ! wait_until_ready; then
        tail -n 20 "$run_dir"/*.log >&2 || true
        stop
        die "the stack did not come up"
    fi
    echo "started: gateway on $listen, registry $(masked), logs in $run_dir"
    echo "call it: SILK_REGISTRY=$(masked) $bin/wstest-caller 100 hi"
}

stop() {
    stop_one silk-gateway
    stop_one wstest-service
}

status() {
    local rc=0
    for name in wstest-service silk-gateway; do
        if alive "$name"; then
            echo "$name: running (pid $(cat "$run_dir/$name.pid"))"
        else
            echo "$name: stopped"
            rc=3
        fi
    done
    echo "registry: $(masked)"
    return $rc
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
