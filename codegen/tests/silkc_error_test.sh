#!/usr/bin/env bash
# silkc_error_test.sh - one generation error: silkc on a bad proto must exit 1, print each
# expected text (file:line:column: element: what), and write no output.
#   silkc_error_test.sh SILKC BAD.proto TEXT...
set -u
silkc=$1 proto=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$silkc" --out "$tmp/out" "$proto" >"$tmp/log" 2>&1
status=$?
fails=0
if [ "$status" -ne 1 ]; then
    echo "FAIL silkc exited $status, not 1"
    fails=1
fi
for text in "$@"; do
    if grep -qF -- "$text" "$tmp/log"; then echo "ok   says '$text'"; else
        echo "FAIL says '$text'"
        fails=1
    fi
done
if [ -n "$(find "$tmp/out" -type f 2>/dev/null)" ]; then
    echo "FAIL a failed run wrote output:"
    find "$tmp/out" -type f
    fails=1
fi
[ "$fails" -eq 0 ] || sed 's/^/     | /' "$tmp/log"
exit "$fails"
