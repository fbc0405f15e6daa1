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
expect_output "usage: silkc" "exit status" "2  usage error"
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
    "$tests"/protos/*.proto "$tests/protos/common/money.proto" \
    "$silk_protos/silk/ws.proto" "$silk_protos/silk/health.proto" \
    "$silk_protos/silk/options.proto" "$silk_protos/silk/rpc.proto" \
    /usr/include/google/protobuf/empty.proto /usr/include/google/protobuf/descriptor.proto
for f in wstest shop common/money billing nopkg silk/ws silk/health; do
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

# --- the seed's output, exactly ---
for f in wstest.silk.h wstest.silk.c; do
    if [ "${SILK_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$gen/$f" "$tests/golden/$f"
        echo "updated golden/$f"
    elif diff -u "$tests/golden/$f" "$gen/$f" >"$tmp/out"; then
        pass "$f is as golden/$f"
    else
        fail "$f is as golden/$f (SILK_UPDATE_GOLDEN=1 rewrites it)"
        sed 's/^/     | /' "$tmp/out"
    fi
done

# --- errors: exit 1, naming the file and the element ---
bad=$tests/bad
expect_status 1 "a streaming method is refused" "$silkc" --out "$tmp/bad" "$bad/streaming.proto"
expect_output "streaming.proto: bad.Streamer.Watch: streaming is not supported yet"
expect_status 1 "bad hash keys are refused" "$silkc" --out "$tmp/bad" "$bad/bad_hash_key.proto"
expect_output 'bad_hash_key.proto: bad.Hasher.Missing: hash_key "nope" names no field of bad.M' \
    'bad.Hasher.NotScalar: hash_key "inner" is not a scalar field' \
    'bad.Hasher.Repeated: hash_key "tags" is not a scalar field'
expect_status 1 "two services on one route are refused" \
    "$silkc" --out "$tmp/bad" "$bad/same_route.proto"
expect_output 'same_route.proto: bad.Two: route "api/same" is taken by bad.One'
expect_status 1 "bad routes are refused" "$silkc" --out "$tmp/bad" "$bad/bad_route.proto"
expect_output 'bad_route.proto: bad.Spaces: route "api/has space"' \
    'bad.Twice.B: its web route "api/twice/x" is A'
expect_status 1 "C name clashes are refused" "$silkc" --out "$tmp/bad" "$bad/name_clash.proto"
expect_output "name_clash.proto: bad.Clash: the C name bad__clash__call_echo" \
    'bad.Keyword.Default: its C name "default" is a C keyword'
expect_status 1 "a missing proto fails" "$silkc" --out "$tmp/bad" "$tmp/no_such.proto"
expect_output "no_such.proto"
if [ -z "$(find "$tmp/bad" -name '*.silk.*' 2>/dev/null)" ]; then
    pass "a failed run writes no silk output"
else
    fail "a failed run writes no silk output"
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
