#!/usr/bin/env bash
# install_test.sh - silk as a user gets it: `cmake --install` into a temporary prefix, then
# an out-of-tree project (install_project/) built two ways against that prefix and run:
#   1. CMake: find_package(silk) + silk_generate() + silk::silk, nothing else;
#   2. pkg-config: the installed silkc (no flags but --out and -I) and `pkg-config silk`.
# Each build's program serves and calls itself over ipc:// with the real runtime.
#   install_test.sh BUILD_DIR SOURCE_DIR CMAKE C_COMPILER [EXTRA_C_FLAGS]
# (EXTRA_C_FLAGS: what the user's build needs to link the silk build's libsilk, e.g. the
# sanitizers of a sanitized build.)
set -eu
build=$(realpath "$1") src=$(realpath "$2") cmake=$3 cc=$4 extra=${5:-}
project=$src/tests/integration/install_project
tmp=$(mktemp -d "${TMPDIR:-/tmp}/silk-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
step() { echo "--- $*"; }

step "cmake --install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
    cat "$tmp/install.log"
    exit 1
}
# The library folder is CMAKE_INSTALL_LIBDIR: lib, or lib64 or lib/<multiarch> if so configured.
libsilk=$(find "$prefix" -name libsilk.a | head -n 1)
if [ -z "$libsilk" ]; then
    echo "FAIL: the install has no libsilk.a"
    exit 1
fi
libdir=${libsilk%/libsilk.a}
for f in bin/silkc bin/protoc-gen-silk "${libdir#"$prefix"/}"/cmake/silk/silkConfig.cmake \
    "${libdir#"$prefix"/}"/cmake/silk/silkConfigVersion.cmake \
    "${libdir#"$prefix"/}"/cmake/silk/SilkGenerate.cmake "${libdir#"$prefix"/}"/pkgconfig/silk.pc \
    include/silk/silk.h include/silk/version.h include/silk/ws.silk.h \
    include/silk/options.pb-c.h include/google/protobuf/empty.pb-c.h \
    share/silk/proto/silk/options.proto; do
    if [ ! -e "$prefix/$f" ]; then
        echo "FAIL: the install has no $f"
        exit 1
    fi
done

# The package files and headers must not point back into the build or source tree.
if grep -rlF -e "$build" -e "$src/" "$libdir/cmake" "$libdir/pkgconfig" "$prefix/include"; then
    echo "FAIL: the files above refer to silk's build or source tree"
    exit 1
fi

# Nothing of silk's source or build tree may be used from here on: the user's builds see the
# prefix only (and the package registry is off, so CMake cannot find the build tree).
step "CMake: find_package(silk) + silk_generate()"
"$cmake" -S "$project" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/cfg.log" 2>&1 || {
    cat "$tmp/cfg.log"
    exit 1
}
"$cmake" --build "$tmp/cmake-build" -j 4 >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log"
    exit 1
}
if grep -rqF -e "$build" -e "$src/proto" -e "$src/runtime" "$tmp/cmake-build/CMakeFiles" \
    "$tmp/cmake-build/CMakeCache.txt"; then
    echo "FAIL: the user's build refers to silk's build or source tree:"
    grep -rlF -e "$build" -e "$src/proto" -e "$src/runtime" "$tmp/cmake-build" | head
    exit 1
fi
mkdir "$tmp/run1"
"$tmp/cmake-build/greeter" "$tmp/run1"

step "pkg-config: silkc, then cc \$(pkg-config --cflags --libs silk) (libsilk.so)"
gen=$tmp/pc-gen
(cd "$project" && "$prefix/bin/silkc" -I proto --out "$gen" proto/greet/v1/greeter.proto \
    proto/greet/v1/types.proto)
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion silk)" = "$("$prefix/bin/silkc" --version | cut -d' ' -f2)" ]
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra -I"$gen" -o "$tmp/greeter-pc" "$project/main.c" \
    "$gen"/greet/v1/*.c $(pkg-config --cflags --libs silk) -Wl,-rpath,"$libdir"
mkdir "$tmp/run2"
"$tmp/greeter-pc" "$tmp/run2"
echo "install test: ok"
