#!/usr/bin/env bash
# package_test.sh - silk's Debian packages (cmake/SilkPackage.cmake) as a user gets them:
# cpack on the build tree into a temporary folder, each .deb read with dpkg-deb (names,
# versions, Depends, the files each must and must not hold), all four unpacked with
# `dpkg -x` into a scratch root (the system's dpkg database is never touched), and then used
# from there alone: silkc and the samples run with LD_LIBRARY_PATH, the unit templates checked
# by systemd-analyze verify (when there is one), a user's project (install_project/) built
# against the unpacked headers and libraries with pkg-config and with find_package(silk), and
# the unpacked wstest-service and silk-gateway called with curl. Exits 77 (skipped) when
# dpkg-deb is missing. Every wait is bounded, and what the test starts it stops.
#   package_test.sh BUILD_DIR SOURCE_DIR CPACK CMAKE C_COMPILER [EXTRA_FLAGS]
# (EXTRA_FLAGS: for the user's project, the sanitizers of a sanitized build.)
set -eu
if ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "SKIP: no dpkg-deb"
    exit 77
fi
build=$(realpath "$1") src=$(realpath "$2") cpack=$3 cmake=$4 cc=$5 extra=${6:-}
project=$src/tests/integration/install_project
tmp=$(mktemp -d "${TMPDIR:-/tmp}/silk-package-test.XXXXXX")
pids=()
cleanup() {
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
step() { echo "--- $*"; }
fail() {
    echo "FAIL: $*"
    exit 1
}
run_logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 || {
        cat "$log"
        fail "$*"
    }
}

# The version from the source, the soname's from it as cmake/SilkLibrary.cmake makes it.
version=$(sed -nE 's/^project\(silk VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no version in $src/CMakeLists.txt"
case $version in 0.*) soversion=${version%.*} ;; *) soversion=${version%%.*} ;; esac
libpkg=libsilk$soversion
arch=$(dpkg --print-architecture)

step "cpack -G DEB on $build"
# Staging and output in tmp, so that neither build/packages nor a concurrent cpack is touched.
run_logged "$tmp/cpack.log" bash -c "cd '$build' && '$cpack' -G DEB -B '$tmp/cpack' \
    -D CPACK_OUTPUT_FILE_PREFIX='$tmp/debs'"
debs=$tmp/debs
declare -A deb=(
    [$libpkg]=$debs/${libpkg}_$version-1_$arch.deb
    [libsilk-dev]=$debs/libsilk-dev_$version-1_$arch.deb
    [silk-samples]=$debs/silk-samples_$version-1_$arch.deb
    [silk-systemd]=$debs/silk-systemd_$version-1_all.deb
)
for p in "${!deb[@]}"; do
    [ -f "${deb[$p]}" ] || fail "cpack made no ${deb[$p]##*/} (it made: $(ls "$debs"))"
done
[ "$(ls "$debs"/*.deb | wc -l)" -eq 4 ] || fail "cpack made more than four packages: $(ls "$debs")"

step "dpkg-deb --info: names, versions, Depends"
# field PACKAGE NAME: the control field NAME of PACKAGE.
field() { dpkg-deb --field "${deb[$1]}" "$2"; }
for p in "${!deb[@]}"; do
    [ "$(field "$p" Package)" = "$p" ] || fail "${deb[$p]##*/} is package '$(field "$p" Package)'"
    [ "$(field "$p" Version)" = "$version-1" ] || fail "$p's version is '$(field "$p" Version)'"
    dpkg-deb --info "${deb[$p]}" >/dev/null || fail "dpkg-deb --info ${deb[$p]}"
done
# depends PACKAGE DEP...: each DEP starts an entry of PACKAGE's Depends.
depends() {
    local p=$1 d
    shift
    for d in "$@"; do
        field "$p" Depends | tr ',' '\n' | sed 's/^ *//' | grep -qF -- "$d" ||
            fail "$p does not depend on $d (Depends: $(field "$p" Depends))"
    done
}
# From dpkg-shlibdeps: what the libraries and programs link.
depends "$libpkg" libc6 libnng1 libprotobuf-c1 libhiredis libjansson4 libssl3 libjwt0 libev4 \
    libwslay1 libhttp-parser
depends libsilk-dev "$libpkg (= $version-1)" libprotobuf-c-dev libnng-dev libjansson-dev \
    libhiredis-dev libjwt-dev protobuf-compiler protobuf-c-compiler libprotobuf-dev libprotobuf-c1
depends silk-samples libc6 libnng1 libjwt0 libev4
depends silk-systemd systemd
[ "$(field silk-systemd Architecture)" = all ] || fail "silk-systemd is not Architecture: all"
# The shlibs file, so that a user's package depends on the library package.
mkdir "$tmp/control"
dpkg-deb --control "${deb[$libpkg]}" "$tmp/control/lib"
for name in silk silk_json silk_gateway silk_ctl; do
    grep -qxF "lib$name $soversion $libpkg (>= $version-1)" "$tmp/control/lib/shlibs" ||
        fail "$libpkg's shlibs has no line for lib$name"
done
dpkg-deb --control "${deb[silk-systemd]}" "$tmp/control/systemd"
grep -qF systemd-sysusers "$tmp/control/systemd/postinst" || fail "silk-systemd's postinst makes no user"

step "dpkg-deb --contents: what each package holds"
for p in "${!deb[@]}"; do
    dpkg-deb --contents "${deb[$p]}" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/$p.files"
done
# has PACKAGE FILE...: PACKAGE holds each FILE; hasnt PACKAGE FILE...: none.
has() {
    local p=$1 f
    shift
    for f in "$@"; do grep -qxF "$f" "$tmp/$p.files" || fail "$p has no $f"; done
}
hasnt() {
    local p=$1 f
    shift
    for f in "$@"; do ! grep -qxF "$f" "$tmp/$p.files" || fail "$p holds $f"; done
}
lib=/usr/lib
for name in silk silk_json silk_gateway silk_ctl; do
    has "$libpkg" "$lib/lib$name.so.$version" "$lib/lib$name.so.$soversion"
    hasnt "$libpkg" "$lib/lib$name.so" "$lib/lib$name.a"
    has libsilk-dev "$lib/lib$name.so" "$lib/lib$name.a"
    hasnt libsilk-dev "$lib/lib$name.so.$version" "$lib/lib$name.so.$soversion"
done
[ "$(grep -c . "$tmp/$libpkg.files" | tr -d ' ')" -gt 0 ]
if grep -vE "^/usr/(lib/?)?$|^/$|^$lib/libsilk[a-z_]*\.so\.$soversion(\.[0-9]+)?$" "$tmp/$libpkg.files" |
    grep -q .; then
    fail "$libpkg holds more than the shared libraries: $(cat "$tmp/$libpkg.files")"
fi
has libsilk-dev /usr/bin/silkc /usr/bin/protoc-gen-silk /usr/include/silk/silk.h \
    /usr/include/silk/version.h /usr/include/silk/gateway.h /usr/include/silk/json.h \
    /usr/include/silk/ctl.h /usr/include/silk/ws.silk.h /usr/include/silk/options.pb-c.h \
    /usr/include/google/protobuf/empty.pb-c.h "$lib/cmake/silk/silkConfig.cmake" \
    "$lib/cmake/silk/silkConfigVersion.cmake" "$lib/cmake/silk/SilkGenerate.cmake" \
    "$lib/cmake/silk/silkSharedTargets.cmake" "$lib/cmake/silk/silkStaticTargets.cmake" \
    "$lib/pkgconfig/silk.pc" "$lib/pkgconfig/silk-json.pc" "$lib/pkgconfig/silk-gateway.pc" \
    "$lib/pkgconfig/silk-ctl.pc" /usr/share/silk/proto/silk/options.proto
has silk-samples /usr/bin/wstest-service /usr/bin/wstest-caller /usr/bin/silk-gateway \
    /usr/bin/silk-ctl
has silk-systemd /usr/lib/systemd/system/silk-service@.service \
    /usr/lib/systemd/system/silk-gateway@.service /usr/lib/sysusers.d/silk.conf \
    /usr/share/doc/silk-systemd/examples/service.env.example \
    /usr/share/doc/silk-systemd/examples/gateway.env.example
# No file in two packages: dpkg would refuse to install the second.
cat "$tmp"/*.files | grep -v '/$' | sort | uniq -d >"$tmp/twice"
[ ! -s "$tmp/twice" ] || fail "files in two packages: $(cat "$tmp/twice")"
# Programs executable, the files under /usr/share and /usr/include not.
dpkg-deb --contents "${deb[libsilk-dev]}" | grep -E ' \./usr/bin/(silkc|protoc-gen-silk)$' |
    grep -qvE '^-rwxr-xr-x' && fail "silkc or protoc-gen-silk is not mode 755"
dpkg-deb --contents "${deb[silk-samples]}" | grep -E ' \./usr/bin/[^/]+$' | grep -qvE '^-rwxr-xr-x' &&
    fail "a sample is not mode 755"

step "dpkg -x into a scratch root"
root=$tmp/root
for p in "${!deb[@]}"; do dpkg -x "${deb[$p]}" "$root"; done
libdir=$root$lib
for name in silk silk_json silk_gateway silk_ctl; do
    readelf -d "$libdir/lib$name.so.$version" | grep -qF "Library soname: [lib$name.so.$soversion]" ||
        fail "lib$name.so.$version's soname is not lib$name.so.$soversion"
    [ "$(readlink "$libdir/lib$name.so")" = "lib$name.so.$soversion" ] ||
        fail "lib$name.so does not point at lib$name.so.$soversion"
    [ -e "$libdir/lib$name.so" ] || fail "lib$name.so points at nothing once both packages are unpacked"
done
# Stripped, and nothing that points back into the build or source tree.
file "$libdir/libsilk.so.$version" "$root/usr/bin/silkc" | grep -q 'not stripped' &&
    fail "the packaged binaries are not stripped"
if grep -rlF -e "$build" -e "$src/" "$libdir/cmake" "$libdir/pkgconfig" "$root/usr/include"; then
    fail "the files above refer to silk's build or source tree"
fi

step "silkc and the samples from the scratch root"
export LD_LIBRARY_PATH=$libdir
[ "$("$root/usr/bin/silkc" --version)" = "silkc $version" ] || fail "silkc --version"
"$root/usr/bin/silkc" --help | grep -q protoc-gen-silk || fail "silkc --help"
[ "$("$root/usr/bin/silk-gateway" --version)" = "silk-gateway $version" ] ||
    fail "silk-gateway --version"
"$root/usr/bin/silk-gateway" --help | grep -qF -- --rpc-listen || fail "silk-gateway --help"
"$root/usr/bin/silk-ctl" --help | grep -qF 'health SERVICE' || fail "silk-ctl --help"
"$root/usr/bin/wstest-service" --help | grep -qF SILK_LISTEN || fail "wstest-service --help"
"$root/usr/bin/wstest-caller" --help | grep -qF BUSINESS_ID || fail "wstest-caller --help"

if command -v systemd-analyze >/dev/null 2>&1; then
    step "systemd-analyze verify the unit templates (ExecStart in the scratch root)"
    units=$tmp/units
    mkdir "$units"
    for u in silk-service@ silk-gateway@; do
        sed "s|/usr/bin/%i|$root/usr/bin/%i|" "$root/usr/lib/systemd/system/$u.service" \
            >"$units/$u.service"
    done
    run_logged "$tmp/verify.log" systemd-analyze verify --man=no \
        "$units/silk-service@wstest-service.service" "$units/silk-gateway@silk-gateway.service"
    [ ! -s "$tmp/verify.log" ] || {
        cat "$tmp/verify.log"
        fail "systemd-analyze verify warns"
    }
else
    echo "no systemd-analyze: the unit templates are not verified"
fi

step "a user's project against the unpacked headers and libraries: pkg-config"
gen=$tmp/gen
(cd "$project" && "$root/usr/bin/silkc" -I proto --out "$gen" proto/greet/v1/greeter.proto \
    proto/greet/v1/types.proto)
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion silk-gateway)" = "$version" ] || fail "silk-gateway.pc's version"
out=$tmp/pc
mkdir "$out"
# shellcheck disable=SC2046,SC2086 # the flags are words: $extra's and pkg-config's
"$cc" -std=c11 -Wall -Wextra -Werror $extra -I"$gen" -o "$out/greeter" "$project/main.c" \
    "$gen"/greet/v1/*.c $(pkg-config --cflags --libs silk)
# shellcheck disable=SC2046,SC2086 # the flags are words: $extra's and pkg-config's
"$cc" -std=c11 -Wall -Wextra -Werror $extra -I"$gen" -o "$out/greeter-gateway" \
    "$project/gateway_main.c" "$gen"/greet/v1/*.c $(pkg-config --cflags --libs silk-gateway)
readelf -d "$out/greeter-gateway" | grep -qF "[libsilk_gateway.so.$soversion]" ||
    fail "greeter-gateway does not need libsilk_gateway.so.$soversion"
ldd "$out/greeter-gateway" | grep -F libsilk | grep -qvF "$libdir/" &&
    fail "greeter-gateway loads a libsilk from outside the scratch root: $(ldd "$out/greeter-gateway")"
mkdir "$tmp/run-pc" "$tmp/run-cm"
timeout 60 "$out/greeter" "$tmp/run-pc" >"$tmp/greeter.log" 2>&1 || {
    cat "$tmp/greeter.log"
    fail "the greeter built with pkg-config failed its self-test"
}

step "a user's project against the unpacked tree: find_package(silk)"
run_logged "$tmp/cfg.log" "$cmake" -S "$project" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$root/usr" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release
run_logged "$tmp/cm.log" "$cmake" --build "$tmp/cm" -j 2
timeout 60 "$tmp/cm/greeter" "$tmp/run-cm" >"$tmp/greeter-cm.log" 2>&1 || {
    cat "$tmp/greeter-cm.log"
    fail "the greeter built with find_package(silk) failed its self-test"
}

step "the unpacked wstest-service behind the unpacked silk-gateway"
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
stop() {
    local pid=$1 name=$2 code=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "$name did not stop within 10 s of SIGTERM"
    fi
    wait "$pid" || code=$?
    [ "$code" -eq 0 ] || fail "$name exited with $code after SIGTERM"
}
export SILK_REGISTRY=file:$tmp/registry
port=$(free_port)
"$root/usr/bin/wstest-service" >"$tmp/service.log" 2>&1 &
svc=$!
pids+=("$svc")
"$root/usr/bin/silk-gateway" --listen "127.0.0.1:$port" --id gw_pkg >"$tmp/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
        "http://127.0.0.1:$port/healthz?deep=1")" = 200 ] && break
    kill -0 "$svc" 2>/dev/null && kill -0 "$gw" 2>/dev/null || break
    sleep 0.1
done
# check_reply REPLY WANT WHAT: fails, with the programs' logs, unless REPLY is WANT.
check_reply() {
    if [ "$1" != "$2" ]; then
        tail -n 20 "$tmp/service.log" "$tmp/gateway.log"
        fail "$3 answered '$1', not '$2'"
    fi
}
reply=$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz?deep=1")
check_reply "$reply" '{"status":"SERVING","services":{"wstest.WsTest":"SERVING"}}' \
    "GET /healthz?deep=1"
# Echo asks the gateway's SessionManager for the business's sessions: with none open, the
# round trip gateway -> service -> SessionManager ends in NOT_FOUND.
reply=$(curl -s --max-time 5 -w ' %{http_code}' -H 'Content-Type: application/json' \
    -d '{"businessId":"100","msg":"hi"}' "http://127.0.0.1:$port/api/wstest/echo")
check_reply "$reply" '{"code":5,"message":"no session for businessId 100"} 404' \
    "POST /api/wstest/echo"
"$root/usr/bin/silk-ctl" health wstest.WsTest >"$tmp/health.log" 2>&1 || {
    cat "$tmp/health.log"
    fail "silk-ctl health wstest.WsTest"
}
stop "$gw" silk-gateway
stop "$svc" wstest-service
pids=()
echo "package test: ok ($(cd "$debs" && echo *.deb))"
