#!/usr/bin/env bash
# silkc_test.sh - silkc end to end: usage, generation, strict compiles, golden output, errors.
#   silkc_test.sh SILKC CC RUNTIME_INCLUDE SILK_PROTO_DIR CODEGEN_TESTS_DIR VERSION_INCLUDE
# (VERSION_INCLUDE holds the silk/version.h the build writes.)
# With SILK_UPDATE_GOLDEN=1 it rewrites golden/ from the current output instead of comparing.
set -u
silkc=$(realpath "$1") cc=$2 runtime_inc=$(realpath "$3") silk_protos=$(realpath "$4")
tests=$(realpath "$5") version_inc=$(realpath "$6")
plugin=$(dirname "$silkc")/protoc-gen-silk
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# expect_status STATUS NAME CMD... runs CMD (output in $tmp/out) and checks its exit status.
expect_status() {
    local want=$1 name=$2 got
    shift 2
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then pass "$name"; else
        fail "$name (exit $got, not $want)"
        sed 's/^/     | /' "$tmp/out"
    fi
}

# expect_output TEXT... checks that the last command's output holds each TEXT.
expect_output() {
    local text
    for text in "$@"; do
        if grep -qF -- "$text" "$tmp/out"; then pass "  says '$text'"; else
            fail "  says '$text'"
            sed 's/^/     | /' "$tmp/out"
        fi
    done
}

# --- usage ---
expect_status 0 "--help exits 0" "$silkc" --help
expect_output "usage: silkc" "exit status" "2  usage error" "--openapi=FILE"
expect_status 0 "--version exits 0" "$silkc" --version
expect_output "silkc "
expect_status 2 "no arguments is a usage error" "$silkc"
expect_status 2 "no --out is a usage error" "$silkc" "$tests/protos/wstest.proto"
expect_status 2 "no proto is a usage error" "$silkc" --out "$tmp/x"
expect_status 2 "--out without a value is a usage error" "$silkc" a.proto --out
expect_status 2 "an unknown option is a usage error" "$silkc" --out "$tmp/x" --bogus a.proto
expect_output "unknown option --bogus"
expect_status 0 "protoc-gen-silk --version exits 0" "$plugin" --version
expect_status 1 "protoc-gen-silk refuses what is not a request" \
    sh -c "printf '\\377\\377\\377' | '$plugin'"

# --- generation: the corpus, silk's own protos, and the imports they need ---
gen=$tmp/gen
expect_status 0 "the corpus generates" "$silkc" -I "$tests/protos" --out "$gen" \
    "$tests"/protos/*.proto "$tests/protos/common/money.proto" "$tests/protos/common/label.proto" \
    "$tests/protos/time/clock.proto" \
    "$silk_protos/silk/ws.proto" "$silk_protos/silk/health.proto" \
    "$silk_protos/silk/options.proto" "$silk_protos/silk/rpc.proto" \
    /usr/include/google/protobuf/empty.proto /usr/include/google/protobuf/descriptor.proto \
    /usr/include/google/protobuf/any.proto /usr/include/google/protobuf/struct.proto \
    /usr/include/google/protobuf/field_mask.proto
for f in wstest shop common/money billing nopkg time/clock catalog common/label shapes silk/ws \
    silk/health; do
    for ext in pb-c.h pb-c.c silk.h silk.c; do
        if [ -s "$gen/$f.$ext" ]; then pass "writes $f.$ext"; else fail "writes $f.$ext"; fi
    done
done
"$silkc" --out "$tmp/rel" -I "$tests/protos" --out="$tmp/rel2" --proto_path="$tests/protos" \
    "$tests/protos/common/money.proto" >"$tmp/out" 2>&1
if [ -s "$tmp/rel2/common/money.silk.h" ]; then pass "-I keeps the path under the import dir"; else
    fail "-I keeps the path under the import dir"
fi
(cd "$tests/protos/common" && "$silkc" --out "$tmp/own" money.proto) >"$tmp/out" 2>&1
if [ -s "$tmp/own/money.silk.h" ]; then pass "a proto's own folder is an import dir"; else
    fail "a proto's own folder is an import dir"
fi
if grep -q "GetOrder finds one order" "$gen/shop.silk.h"; then pass "proto comments are copied"; else
    fail "proto comments are copied"
fi

# --- the output compiles with every warning, as C11 and as C++ headers ---
warnings="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -pedantic"
for f in $(cd "$gen" && find . -name '*.silk.c' | sort); do
    # shellcheck disable=SC2086
    expect_status 0 "${f#./} compiles cleanly" \
        "$cc" -std=c11 -fsyntax-only $warnings -I"$runtime_inc" -I"$version_inc" -I"$gen" "$gen/$f"
done
if command -v c++ >/dev/null; then
    for f in wstest shop silk/ws; do
        expect_status 0 "$f.silk.h compiles as C++" \
            c++ -x c++ -fsyntax-only -Wall -Wextra -Werror -I"$runtime_inc" -I"$version_inc" -I"$gen" \
            "$gen/$f.silk.h"
    done
fi

# --- the corpus's output, exactly as golden/ has it ---
# The golden copies are the reviewed output; SILK_UPDATE_GOLDEN=1 rewrites them (see
# docs/codegen.md), and `git diff codegen/tests/golden` then shows what a change did.
for stem in wstest shop common/money billing nopkg time/clock catalog common/label shapes; do
    for ext in silk.h silk.c; do
        f=$stem.$ext
        if [ "${SILK_UPDATE_GOLDEN:-0}" = 1 ]; then
            mkdir -p "$(dirname "$tests/golden/$f")"
            cp "$gen/$f" "$tests/golden/$f"
            echo "updated golden/$f"
        elif diff -u "$tests/golden/$f" "$gen/$f" >"$tmp/out" 2>&1; then
            pass "$f is as golden/$f"
        else
            fail "$f is as golden/$f (SILK_UPDATE_GOLDEN=1 rewrites it)"
            sed 's/^/     | /' "$tmp/out"
        fi
    done
done

# --- the OpenAPI document: silkc --openapi, alone or with --out, checked for form here (the
# validators and the gateway's copy are tests/openapi's) and against golden/openapi.json ---
expect_status 2 "--openapi without a value is a usage error" "$silkc" a.proto --openapi
expect_status 0 "--openapi alone generates" "$silkc" -I "$tests/protos" --openapi "$tmp/api.json" \
    "$tests"/protos/*.proto "$tests/protos/common/money.proto" "$tests/protos/common/label.proto" \
    "$tests/protos/time/clock.proto"
if python3 -m json.tool "$tmp/api.json" >/dev/null 2>&1; then pass "--openapi writes JSON"; else
    fail "--openapi writes JSON"
fi
if [ -z "$(find "$tmp" -maxdepth 1 -name '.silkc-openapi-*')" ]; then
    pass "--openapi leaves no scratch folder"
else
    fail "--openapi leaves no scratch folder"
fi
expect_status 0 "--openapi with --out generates both" "$silkc" --out "$tmp/both" \
    --openapi="$tmp/both.json" "$tests/protos/wstest.proto"
if [ -s "$tmp/both/wstest.silk.c" ] && grep -q '"operationId": "wstest.WsTest.Echo"' "$tmp/both.json"
then pass "--openapi with --out writes the code and the document"; else
    fail "--openapi with --out writes the code and the document"
fi
if grep -q 'wstest__ws_test__silk_openapi' "$tmp/both/wstest.silk.c"; then
    pass "the descriptor carries its OpenAPI part"
else
    fail "the descriptor carries its OpenAPI part"
fi
if [ "${SILK_UPDATE_GOLDEN:-0}" = 1 ]; then
    cp "$tmp/api.json" "$tests/golden/openapi.json"
    echo "updated golden/openapi.json"
elif diff -u "$tests/golden/openapi.json" "$tmp/api.json" >"$tmp/out" 2>&1; then
    pass "the corpus's document is as golden/openapi.json"
else
    fail "the corpus's document is as golden/openapi.json (SILK_UPDATE_GOLDEN=1 rewrites it)"
    sed 's/^/     | /' "$tmp/out"
fi
echo '{}' >"$tmp/kept.json"
expect_status 1 "--openapi of a bad proto fails" "$silkc" --openapi "$tmp/kept.json" \
    "$tests/bad/streaming.proto"
if [ "$(cat "$tmp/kept.json")" = '{}' ]; then pass "a failed --openapi leaves the file as it was"; else
    fail "a failed --openapi leaves the file as it was"
fi

# --- errors: one ctest each (silkc_error_test.sh, registered in CMakeLists.txt); here only
# that a failed run writes nothing and that protoc's own errors come through ---
bad=$tests/bad
expect_status 1 "a streaming method is refused" "$silkc" --out "$tmp/bad" "$bad/streaming.proto"
printf 'syntax = "proto3";\nmessage M { strin x = 1; }\n' >"$tmp/syntax.proto"
expect_status 1 "protoc's own errors come through" "$silkc" --out "$tmp/bad" "$tmp/syntax.proto"
expect_output 'syntax.proto:2:13: "strin" is not defined.'
expect_status 1 "a missing proto fails" "$silkc" --out "$tmp/bad" "$tmp/no_such.proto"
expect_output "no_such.proto"
if [ -z "$(find "$tmp/bad" -name '*.silk.*' 2>/dev/null)" ]; then
    pass "a failed run writes no silk output"
else
    fail "a failed run writes no silk output"
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
