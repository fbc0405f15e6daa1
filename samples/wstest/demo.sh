#!/usr/bin/env bash
# demo.sh - `make demo`: start the seed's stack, play the seed scenario, show what clients got.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BUILD_DIR=${BUILD_DIR:-build}
export SILK_RUN_DIR=${SILK_RUN_DIR:-$(mktemp -d /tmp/silk-demo.XXXXXX)}
export SILK_REGISTRY=file:$SILK_RUN_DIR/registry
export SILK_GATEWAY_LISTEN=${SILK_GATEWAY_LISTEN:-127.0.0.1:5000}
cleanup() {
    "$here/run.sh" stop
    rm -rf "$SILK_RUN_DIR"
}
trap cleanup EXIT
"$here/run.sh" start
case "$BUILD_DIR" in /*) bin=$BUILD_DIR/bin ;; *) bin=$here/../../$BUILD_DIR/bin ;; esac
/usr/bin/python3 "$here/demo.py" --gateway "$SILK_GATEWAY_LISTEN" --caller "$bin/wstest-caller"
