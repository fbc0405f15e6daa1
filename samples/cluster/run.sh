#!/usr/bin/env bash
# run.sh - three hosts of silk on one machine, for a person to start, look at and stop.
#
#   samples/cluster/run.sh start              make the hosts and start their processes
#   samples/cluster/run.sh status             processes, sessions, pushes, the registry
#   samples/cluster/run.sh stop               stop everything and remove what start made
#   samples/cluster/run.sh up HOST            start HOST's processes again (after a kill -9)
#   samples/cluster/run.sh exec HOST CMD...   run CMD on HOST with the cluster's registry and token
#
# The hosts are network namespaces silkdemo-h1..h3 and silkdemo-redis on the bridge
# silkdemo-br, addresses 198.18.0.1..4 (tests/cluster/netns.py makes them; README.md here says
# what to try). Needs root, for `ip netns`. Binaries come from $BUILD_DIR (default build/),
# which `make build` fills; start builds nothing. Logs, pid files and the cluster token live in
# $SILK_RUN_DIR (default $BUILD_DIR/cluster-run), which stop removes.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$top/$BUILD_DIR" ;; esac
run_dir=${SILK_RUN_DIR:-$BUILD_DIR/cluster-run}

case "${1:-}" in
start | stop | status | up | exec) ;;
*)
    echo "usage: $0 start|stop|status|up HOST|exec HOST CMD..." >&2
    exit 2
    ;;
esac
if [ "$(id -u)" != 0 ]; then
    echo "run.sh: the hosts are network namespaces: run it as root (sudo $0 $*)" >&2
    exit 1
fi
# Debian's interpreter, where python3-websockets is installed.
exec /usr/bin/python3 "$top/samples/cluster/cluster.py" --bin-dir "$BUILD_DIR/bin" \
    --run-dir "$run_dir" "$@"
