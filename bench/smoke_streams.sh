#!/bin/sh
# smoke_streams.sh - ctest's bench_streams_smoke: a short run_streams.sh (100 sessions of 100
# businesses, 1 s windows, 200 missed pushes replayed twice) against a build's programs. It
# checks that both legs and both replays report and that the ratio issue 16 asks for is
# printed, never how fast; 77 (skipped) without redis-server.
#   smoke_streams.sh BUILD_DIR
set -u
out=$(sh "$(dirname "$0")/run_streams.sh" --no-build --build-dir "$1" --seconds 1 \
    --sessions 100 --businesses 100 --pushers 2 --missed 200 --rounds 2 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: run_streams.sh exited with $rc"; exit 1; }
status=0
for leg in off on; do
    echo "$out" | grep -Eq "^result $leg pushes_per_s [0-9.]+\$" ||
        { echo "FAIL: no 'result $leg pushes_per_s'"; status=1; }
done
echo "$out" | grep -Eq '^ratio pushes history-on/off [0-9.]+$' ||
    { echo "FAIL: no 'ratio pushes history-on/off'"; status=1; }
for peer in replay replay-memory; do
    for metric in ms first_ms; do
        echo "$out" | grep -Eq "^result $peer $metric [0-9.]+\$" ||
            { echo "FAIL: no 'result $peer $metric'"; status=1; }
    done
done
exit $status
