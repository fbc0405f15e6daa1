#!/usr/bin/env bash
# silkc_test.sh - silkc end to end: generation, compile of the output, errors and exit codes.
#   silkc_test.sh SILKC RUNTIME_INCLUDE GEN_INCLUDE PROTOS_DIR
set -u
silkc=$1 runtime_inc=$2 gen_inc=$3 protos=$4
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fails=0

check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

"$silkc" --help >"$out/help" 2>&1
check "--help exits 0" test $? -eq 0
check "--help documents exit codes" grep -q "exit status" "$out/help"
"$silkc" >/dev/null 2>&1
check "no arguments is a usage error (2)" test $? -eq 2
"$silkc" --out "$out/x" --bogus a.proto >/dev/null 2>&1
check "unknown option is a usage error (2)" test $? -eq 2

"$silkc" --out "$out/gen" "$protos/shop.proto" 2>"$out/err"
check "shop.proto generates" test $? -eq 0
for f in shop.pb-c.h shop.pb-c.c shop.silk.h shop.silk.c; do
    check "shop.proto gives $f" test -s "$out/gen/$f"
done
check "banner says DO NOT EDIT" grep -q "DO NOT EDIT" "$out/gen/shop.silk.h"
check "comments are copied" grep -q "GetOrder finds one order" "$out/gen/shop.silk.h"
check "route default drops AppService" grep -q '"api/order"' "$out/gen/shop.silk.c"
check "route template expands {service}" grep -q '"api/httpaudit/v2"' "$out/gen/shop.silk.c"
check "http rule path is under the route" grep -q '"api/order/items/{id}"' "$out/gen/shop.silk.c"
check "nested request type keeps protoc-c's name" \
    grep -q 'const Acme__ShopV1__Order__Line \*req' "$out/gen/shop.silk.h"
for f in "$out"/gen/shop.silk.c "$out"/gen/shop.pb-c.c; do
    cc -fsyntax-only -std=c11 -Wall -Wextra -Werror -I"$runtime_inc" -I"$gen_inc" -I"$out/gen" "$f"
    check "$(basename "$f") compiles cleanly" test $? -eq 0
done

expect_error() { # expect_error PROTO TEXT...
    local proto=$1
    shift
    "$silkc" --out "$out/bad" "$protos/$proto" >"$out/bad.err" 2>&1
    check "$proto exits 1" test $? -eq 1
    for text in "$@"; do
        check "$proto error names '$text'" grep -qF "$text" "$out/bad.err"
    done
}
expect_error streaming.proto "streaming.proto" "bad.Streamer.Watch" "not supported"
expect_error bad_hash_key.proto "bad.Hasher.Missing" '"nope" names no field' \
    "bad.Hasher.NotScalar" "not a scalar"
expect_error same_route.proto "same_route.proto" "api/same"
expect_error no_such_file.proto "no_such_file.proto"

echo "$fails failed"
[ "$fails" -eq 0 ]
