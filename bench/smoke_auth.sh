#!/bin/sh
# smoke_auth.sh - ctest's bench_auth_smoke: a short run_auth.sh (0.3 s windows) against a
# build's programs. It checks that every mode reports and that the two last lines are the
# ratios issue 13 asks for, never how fast; 77 (skipped) without openssl or python3-jwt.
#   smoke_auth.sh BUILD_DIR
set -u
out=$(sh "$(dirname "$0")/run_auth.sh" --no-build --build-dir "$1" --seconds 0.3 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: run_auth.sh exited with $rc"; exit 1; }
status=0
for mode in none hs256 rs256; do
    echo "$out" | grep -Eq "^result $mode handshakes_per_s [0-9.]+\$" ||
        { echo "FAIL: no 'result $mode handshakes_per_s'"; status=1; }
done
last=$(echo "$out" | tail -n 2)
echo "$last" | sed -n 1p | grep -Eq '^ratio handshakes hs256/none [0-9.]+$' ||
    { echo "FAIL: no 'ratio handshakes hs256/none'"; status=1; }
echo "$last" | sed -n 2p | grep -Eq '^ratio handshakes rs256/none [0-9.]+$' ||
    { echo "FAIL: no 'ratio handshakes rs256/none'"; status=1; }
exit $status
