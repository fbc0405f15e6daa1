#!/bin/sh
# run.sh BIN_DIR DEPS_DIR VERSION - ctest clients_js: silk.js's tests with Node's test runner,
# against the programs of BIN_DIR, with the ws package that `make js-deps` installs into
# DEPS_DIR/node_modules (npm ci of this folder's package-lock.json). Exits 77 (skipped) when
# Node 20 or later or that ws is missing.
set -u
bin=$1
deps=$2
version=${3:-}
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1; then
    echo "clients_js: skipped: no node (Node 20 or later; make deps installs nodejs)"
    exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
    echo "clients_js: skipped: node $(node --version) is older than 20"
    exit 77
fi
if [ ! -f "$deps/node_modules/ws/package.json" ]; then
    echo "clients_js: skipped: the ws package is not installed in $deps/node_modules" \
         "(make js-deps runs npm ci there; it needs the npm registry once)"
    exit 77
fi
if ! cmp -s "$here/package-lock.json" "$deps/package-lock.json"; then
    echo "clients_js: warning: $deps was installed from another package-lock.json; make js-deps" \
         "installs the current one"
fi

SILK_BIN_DIR=$bin NODE_PATH=$deps/node_modules SILK_VERSION=$version \
    exec node --test --test-concurrency=1 "$here"/*.test.mjs
