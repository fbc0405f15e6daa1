#!/bin/sh
# smoke_account.sh - ctest's bench_account_smoke: a --quick account.sh of four paths against a
# build's programs, without valgrind. It checks that the table has a row for every process
# of them, never what the figures are; 77 (skipped) without perf and strace, and in a
# sanitized build (SILK_SANITIZED=1).
#   smoke_account.sh BUILD_DIR
set -u
if [ "${SILK_SANITIZED:-}" = 1 ]; then
    echo "skipped: the allocation counter cannot be preloaded into ASan programs"
    exit 77
fi
out=$(sh "$(dirname "$0")/account.sh" --no-build --build-dir "$1" --quick --repeat 1 \
    --no-valgrind --paths rpc-inline,ws-host,floor-tcp,floor-nng-stream 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: account.sh exited with $rc"; exit 1; }
status=0
num='([0-9]+\.[0-9]+|n/a)'
for row in 'rpc-inline +server' 'rpc-inline +client' 'floor-tcp +server' 'floor-tcp +client' \
    'floor-nng-stream +server' 'floor-nng-stream +client'; do
    # syscalls may be n/a: in a quick pair nng's own threads can make the shorter run's count
    # the larger (a difference below zero is not reported).
    echo "$out" | grep -Eq "^$row +[0-9]+ +$num +$num +$num +n/a +[0-9]+\.[0-9]+ +$num\$" ||
        { echo "FAIL: no row like '$row'"; status=1; }
done
# A hosted round trip allocates nothing, so a quick pair's allocation difference can fall
# below zero (n/a) as well.
for row in 'ws-host +gateway' 'ws-host +client'; do
    echo "$out" | grep -Eq "^$row +[0-9]+ +$num +$num +$num +n/a +$num +$num\$" ||
        { echo "FAIL: no row like '$row'"; status=1; }
done
exit $status
