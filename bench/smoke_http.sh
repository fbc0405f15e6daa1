#!/bin/sh
# smoke_http.sh - ctest's bench_http_smoke: a 1 s run of run_http.sh against a build's
# programs. It checks that the legs report (nginx's when nginx is installed) and that the
# ratio lines come last, never how fast; 77 (skipped) when wrk is not installed.
#   smoke_http.sh BUILD_DIR
set -u
out=$(sh "$(dirname "$0")/run_http.sh" --no-build --build-dir "$1" --seconds 1 --connections 4 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: run_http.sh exited with $rc"; exit 1; }
status=0
for line in 'gateway +[0-9]+ +[0-9.]+ +[0-9.]+' 'direct +[0-9]+ +[0-9.]+ +[0-9.]+' \
    'gateway CPU per request: [0-9.]+ us' 'gateway added cost per request: -?[0-9.]+ us'; do
    echo "$out" | grep -Eq "^$line" || { echo "FAIL: no line like '$line'"; status=1; }
done
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "$out" | grep -Eq '^nginx +[0-9]+ +[0-9.]+ +[0-9.]+' || { echo "FAIL: no nginx leg"; status=1; }
    nginx_ratio='[0-9]+\.[0-9]+'
else
    nginx_ratio='n/a'
fi
echo "$out" | tail -n 2 | head -n 1 | grep -Eq '^ratio throughput gateway/direct [0-9]+\.[0-9]+$' ||
    { echo "FAIL: the line before last is not 'ratio throughput gateway/direct <value>'"; status=1; }
echo "$out" | tail -n 1 | grep -Eq "^ratio throughput gateway/nginx $nginx_ratio\$" ||
    { echo "FAIL: the last line is not 'ratio throughput gateway/nginx $nginx_ratio'"; status=1; }
exit $status
