#!/usr/bin/env bash
# install_test.sh - silk as a user gets it: `cmake --install` into a temporary prefix, then
# an out-of-tree project (install_project/) built against that prefix alone, four ways:
#   1. CMake: find_package(silk) + silk_generate() + silk::silk and silk::gateway, with silk's
#      shared libraries (the default), then 2. with its static ones (SILK_USE_STATIC_LIBS);
#   3. pkg-config: the installed silkc (no flags but --out and -I), then cc with
#      `pkg-config silk` and `silk-gateway` (shared), then 4. with `pkg-config --static` and
#      silk's archives.
# Each build's greeter serves and calls itself over ipc:// with the real runtime; then its
# `greeter --serve` and its own gateway (gateway_main.c, five lines on silk_gateway_main) run
# on free loopback ports, found through a file registry, and the gateway is called with curl.
# Every wait is bounded, and what the test starts it stops.
#   install_test.sh BUILD_DIR SOURCE_DIR CMAKE C_COMPILER [EXTRA_C_FLAGS]
# (EXTRA_C_FLAGS: what the user's build needs to link the silk build's libraries, e.g. the
# sanitizers of a sanitized build.)
set -eu
build=$(realpath "$1") src=$(realpath "$2") cmake=$3 cc=$4 extra=${5:-}
project=$src/tests/integration/install_project
tmp=$(mktemp -d "${TMPDIR:-/tmp}/silk-install-test.XXXXXX")
pids=()
cleanup() {
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix
step() { echo "--- $*"; }
fail() {
    echo "FAIL: $*"
    exit 1
}
# run_logged LOG CMD...: runs CMD with its output in LOG, shown only when it fails.
run_logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 || {
        cat "$log"
        fail "$*"
    }
}

step "cmake --install into $prefix"
run_logged "$tmp/install.log" "$cmake" --install "$build" --prefix "$prefix"
# The library folder is CMAKE_INSTALL_LIBDIR: lib, or lib64 or lib/<multiarch> if so configured.
libsilk=$(find "$prefix" -name libsilk.a | head -n 1)
[ -n "$libsilk" ] || fail "the install has no libsilk.a"
libdir=${libsilk%/libsilk.a}
lib=${libdir#"$prefix"/}
version=$("$prefix/bin/silkc" --version | cut -d' ' -f2)
# The soname's version: MAJOR.MINOR before 1.0, MAJOR after (cmake/SilkLibrary.cmake).
case $version in 0.*) soversion=${version%.*} ;; *) soversion=${version%%.*} ;; esac
for f in bin/silkc bin/protoc-gen-silk "$lib"/cmake/silk/silkConfig.cmake \
    "$lib"/cmake/silk/silkConfigVersion.cmake "$lib"/cmake/silk/SilkGenerate.cmake \
    "$lib"/cmake/silk/silkSharedTargets.cmake "$lib"/cmake/silk/silkStaticTargets.cmake \
    "$lib"/pkgconfig/silk.pc "$lib"/pkgconfig/silk-json.pc "$lib"/pkgconfig/silk-gateway.pc \
    "$lib"/pkgconfig/silk-ctl.pc include/silk/silk.h include/silk/version.h \
    include/silk/ws.silk.h include/silk/options.pb-c.h include/silk/json.h \
    include/silk/gateway.h include/silk/ctl.h include/google/protobuf/empty.pb-c.h \
    share/silk/proto/silk/options.proto; do
    [ -e "$prefix/$f" ] || fail "the install has no $f"
done
# Each library static and shared: lib<name>.so -> lib<name>.so.SOVERSION -> the file, whose
# soname is lib<name>.so.SOVERSION and which finds silk's other libraries beside itself.
for name in silk silk_json silk_gateway silk_ctl; do
    for f in "lib$name.a" "lib$name.so" "lib$name.so.$soversion" "lib$name.so.$version"; do
        [ -e "$libdir/$f" ] || fail "the install has no $lib/$f"
    done
    dynamic=$(readelf -d "$libdir/lib$name.so.$version")
    grep -qF "Library soname: [lib$name.so.$soversion]" <<<"$dynamic" ||
        fail "lib$name.so's soname is not lib$name.so.$soversion"
    grep -qF "Library runpath: [\$ORIGIN]" <<<"$dynamic" || fail "lib$name.so's runpath is not \$ORIGIN"
done

# The package files and headers must not point back into the build or source tree, and the
# build-only silk_core must not be in an installed interface.
if grep -rlF -e "$build" -e "$src/" "$libdir/cmake" "$libdir/pkgconfig" "$prefix/include"; then
    fail "the files above refer to silk's build or source tree"
fi
if grep -rlF silk_core "$libdir/cmake" "$libdir/pkgconfig"; then
    fail "the files above name silk_core"
fi

# expect_linking KIND PROGRAM LIBRARY: PROGRAM needs LIBRARY.so.SOVERSION (shared), or none of
# silk's shared libraries (static).
expect_linking() {
    local needed
    needed=$(readelf -d "$2" | grep NEEDED)
    if [ "$1" = shared ]; then
        grep -qF "[$3.so.$soversion]" <<<"$needed" || fail "$2 does not need $3.so.$soversion"
    elif grep -qE '\[libsilk(_[a-z]+)?\.so' <<<"$needed"; then
        fail "$2 needs silk's shared libraries, though linked with the static ones"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop PID NAME: SIGTERM, then SIGKILL after 5 s; fails unless NAME exits 0 in time.
stop() {
    local pid=$1 name=$2 code=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "$name did not stop within 5 s of SIGTERM"
    fi
    wait "$pid" || code=$?
    [ "$code" -eq 0 ] || fail "$name exited with $code after SIGTERM"
}

# check_reply REPLY WANT WHAT: fails, with check()'s logs, unless REPLY is WANT.
check_reply() {
    if [ "$1" != "$2" ]; then
        tail -n 20 "$run/greeter.log" "$run/gateway.log"
        fail "$3 answered '$1', not '$2'"
    fi
}

# check GREETER GATEWAY NAME: GREETER's self-test, then GREETER --serve behind GATEWAY,
# called through the gateway's web API.
check() {
    local greeter=$1 gateway=$2 run=$tmp/run-$3 port svc gw reply
    mkdir "$run"
    timeout 60 "$greeter" "$run"

    port=$(free_port)
    export SILK_REGISTRY=file:$run/registry
    "$greeter" --serve >"$run/greeter.log" 2>&1 &
    svc=$!
    pids+=("$svc")
    "$gateway" --listen "127.0.0.1:$port" --id "gw_$3" >"$run/gateway.log" 2>&1 &
    gw=$!
    pids+=("$gw")
    # /healthz?deep=1 is 200 once the gateway serves and finds GreeterService SERVING through
    # the registry.
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:$port/healthz?deep=1")" = 200 ] && break
        if ! kill -0 "$svc" 2>/dev/null || ! kill -0 "$gw" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    reply=$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz?deep=1")
    check_reply "$reply" '{"status":"SERVING","services":{"greet.v1.GreeterService":"SERVING"}}' \
        "GET /healthz?deep=1"
    # A JSON body with well-known types both ways; then a GET route with a path field.
    reply=$(curl -s --max-time 5 -H 'Content-Type: application/json' \
        -d '{"name":"silk","title":"Dr.","sent":"2023-11-14T22:13:20.000000042Z"}' \
        "http://127.0.0.1:$port/api/greeter/greet")
    check_reply "$reply" \
        '{"text":"hello, Dr. silk","stamp":{"at":"2023-11-14T22:13:20.000000042Z"},"count":1}' \
        "POST /api/greeter/greet"
    reply=$(curl -s --max-time 5 "http://127.0.0.1:$port/api/greeter/hello/web?title=Ms.")
    check_reply "$reply" '{"text":"hello, Ms. web","stamp":{},"count":2}' \
        "GET /api/greeter/hello/web"
    stop "$gw" "$gateway"
    stop "$svc" "$greeter --serve"
    pids=()
    echo "$3: the user's gateway serves on 127.0.0.1:$port"
}

# Nothing of silk's source or build tree may be used from here on: the user's builds see the
# prefix only (and the package registry is off, so CMake cannot find the build tree).
for kind in shared static; do
    step "CMake: find_package(silk) + silk_generate(), $kind libraries"
    out=$tmp/cmake-$kind
    use_static=OFF
    [ "$kind" = static ] && use_static=ON
    run_logged "$tmp/cfg-$kind.log" "$cmake" -S "$project" -B "$out" -DCMAKE_PREFIX_PATH="$prefix" \
        -DSILK_USE_STATIC_LIBS=$use_static -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" \
        -DCMAKE_EXE_LINKER_FLAGS="$extra" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_logged "$tmp/build-$kind.log" "$cmake" --build "$out" -j 2
    if grep -rqF -e "$build" -e "$src/proto" -e "$src/runtime" "$out/CMakeFiles" \
        "$out/CMakeCache.txt"; then
        grep -rlF -e "$build" -e "$src/proto" -e "$src/runtime" "$out" | head
        fail "the user's build refers to silk's build or source tree"
    fi
    expect_linking "$kind" "$out/greeter" libsilk
    expect_linking "$kind" "$out/greeter-gateway" libsilk_gateway
    check "$out/greeter" "$out/greeter-gateway" "cmake-$kind"
done

gen=$tmp/pc-gen
(cd "$project" && "$prefix/bin/silkc" -I proto --out "$gen" proto/greet/v1/greeter.proto \
    proto/greet/v1/types.proto)
export PKG_CONFIG_PATH=$libdir/pkgconfig
for pc in silk silk-json silk-gateway silk-ctl; do
    [ "$(pkg-config --modversion "$pc")" = "$version" ] || fail "$pc.pc is not version $version"
done
# pc_build KIND: greeter-pc and greeter-gateway-pc, linked with pkg-config's flags: for the
# shared libraries with a runpath to them; for the static ones with --static and silk's
# archives named (the linker would take libsilk*.so beside them).
pc_build() {
    local kind=$1 out libs_silk libs_gateway
    out=$tmp/pc-$kind
    mkdir "$out"
    if [ "$kind" = shared ]; then
        libs_silk="$(pkg-config --libs silk) -Wl,-rpath,$libdir"
        libs_gateway="$(pkg-config --libs silk-gateway) -Wl,-rpath,$libdir"
    else
        libs_silk=$(pkg-config --static --libs silk | sed -E 's/-l(silk[a-z_]*)( |$)/-l:lib\1.a\2/g')
        libs_gateway=$(pkg-config --static --libs silk-gateway |
            sed -E 's/-l(silk[a-z_]*)( |$)/-l:lib\1.a\2/g')
    fi
    # shellcheck disable=SC2046,SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror $extra -I"$gen" -o "$out/greeter-pc" "$project/main.c" \
        "$gen"/greet/v1/*.c $(pkg-config --cflags silk) $libs_silk
    # shellcheck disable=SC2046,SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror $extra -I"$gen" -o "$out/greeter-gateway-pc" \
        "$project/gateway_main.c" "$gen"/greet/v1/*.c $(pkg-config --cflags silk-gateway) \
        $libs_gateway
    expect_linking "$kind" "$out/greeter-pc" libsilk
    expect_linking "$kind" "$out/greeter-gateway-pc" libsilk_gateway
    check "$out/greeter-pc" "$out/greeter-gateway-pc" "pc-$kind"
}
step "pkg-config: silkc, then cc \$(pkg-config --cflags --libs silk / silk-gateway)"
pc_build shared
step "pkg-config: the same with --static and silk's archives"
pc_build static
echo "install test: ok"
