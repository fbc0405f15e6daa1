#!/bin/sh
# smoke_rpc.sh - ctest's bench_rpc_smoke: each program runs a tiny benchmark and prints its
# result lines. It checks that they run and report, never how fast.
set -u
status=0
for prog in "$@"; do
    peer=$(basename "$prog" | sed 's/^bench-rpc-//')
    out=$(SILK_LOG=warn "$prog" --warmup 10 --calls 200 --seconds 0.3) || {
        echo "FAIL: $prog exited with $?"
        status=1
        continue
    }
    echo "$out"
    metrics="p50_us p99_us throughput"
    [ "$peer" = tcp ] && metrics="p50_us p99_us" # the floor measures latency only
    for metric in $metrics; do
        if ! echo "$out" | grep -Eq "^result $peer $metric [0-9]+(\.[0-9]+)?\$"; then
            echo "FAIL: $prog printed no 'result $peer $metric' line"
            status=1
        fi
    done
done
exit $status
