#!/bin/sh
# smoke_cluster.sh - ctest's bench_cluster_smoke: a short run_cluster.sh (1 and 2 gateways,
# 1 s windows) against a build's programs. It checks that every size reports for both
# registries, that a push through the directory costs one call, and that the last lines are
# the ratios issue 15 asks for, never how fast; 77 (skipped) without redis-server.
#   smoke_cluster.sh BUILD_DIR
set -u
out=$(sh "$(dirname "$0")/run_cluster.sh" --no-build --build-dir "$1" --seconds 1 \
    --sizes "1 2" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: run_cluster.sh exited with $rc"; exit 1; }
status=0
for peer in redis-1 redis-2 file-1 file-2; do
    echo "$out" | grep -Eq "^result $peer pushes_per_s [0-9.]+\$" ||
        { echo "FAIL: no 'result $peer pushes_per_s'"; status=1; }
done
echo "$out" | grep -Eq '^result redis-2 rpcs_per_push 1\.00$' ||
    { echo "FAIL: a push through the directory did not cost one call"; status=1; }
echo "$out" | grep -Eq '^result file-2 rpcs_per_push 2\.00$' ||
    { echo "FAIL: a push without a directory did not ask both gateways"; status=1; }
last=$(echo "$out" | tail -n 2)
echo "$last" | sed -n 1p | grep -Eq '^ratio pushes redis 2/1 [0-9.]+$' ||
    { echo "FAIL: no 'ratio pushes redis 2/1'"; status=1; }
echo "$last" | sed -n 2p | grep -Eq '^ratio pushes file 2/1 [0-9.]+$' ||
    { echo "FAIL: no 'ratio pushes file 2/1'"; status=1; }
exit $status
