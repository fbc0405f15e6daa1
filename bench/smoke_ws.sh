#!/bin/sh
# smoke_ws.sh - ctest's bench_ws_smoke: a short run_ws.sh (few round trips, 0.5 s windows,
# 300 idle and 50 pushed sessions) against a build's programs. It checks that every peer
# reports and that the fourteen last lines are the ones issues 6 and 18 prescribe, never
# how fast; 77 (skipped) when the lws server or Node's ws is missing.
#   smoke_ws.sh BUILD_DIR NODE_MODULES_DIR
set -u
out=$(sh "$(dirname "$0")/run_ws.sh" --no-build --build-dir "$1" --node-modules "$2" \
    --seconds 0.5 --calls 200 --warmup 20 --sessions 300 --push-sessions 50 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: run_ws.sh exited with $rc"; exit 1; }
status=0
for metric in 'lws msgs_per_s' 'lws idle_bytes' 'node msgs_per_s' 'node idle_bytes' \
    'lws p50_us' 'node p99_us' 'silk pushes_per_s' 'silk idle_bytes' 'silk-1loop msgs_per_s' 'silk-host msgs_per_s' 'silk-host p50_us' 'tcp p50_us' \
    'tcp-relay p50_us' 'tcp-loop msgs_per_s' 'tcp-relay-loop msgs_per_s'; do
    echo "$out" | grep -Eq "^result $metric [0-9.]+\$" || { echo "FAIL: no 'result $metric'"; status=1; }
done
# silk's round trip is n/a while the gateway has no OnMessage hook; a number once it has.
want='ratio pushes silk/lws [0-9.]+
ratio roundtrip silk/lws ([0-9.]+|n/a)
ratio roundtrip silk/node ([0-9.]+|n/a)
ratio roundtrip silk-1loop/lws ([0-9.]+|n/a)
ratio roundtrip silk-host/lws [0-9.]+
ratio p50-roundtrip silk-host/lws [0-9.]+
ratio pushes silk-host/lws [0-9.]+
ratio p50-roundtrip silk/lws ([0-9.]+|n/a)
ratio p50-roundtrip silk/tcp-relay ([0-9.]+|n/a)
ratio p50-floor tcp-relay/lws [0-9.]+
ratio roundtrip silk/tcp-relay-loop ([0-9.]+|n/a)
ratio roundtrip-floor tcp-relay-loop/lws [0-9.]+
ratio idle-bytes silk/lws [0-9.]+
idle-bytes-per-session silk [0-9]+'
last=$(echo "$out" | tail -n 14)
n=1
echo "$want" | while IFS= read -r re; do
    echo "$last" | sed -n "${n}p" | grep -Eq "^$re\$" || { echo "FAIL: last lines: no '$re'"; exit 1; }
    n=$((n + 1))
done || status=1
exit $status
