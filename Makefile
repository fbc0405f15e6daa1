# silk's two front doors: `make demo` and `make test`. Everything else is CMake in build/.
BUILD_DIR ?= build
SANITIZE ?=
JOBS ?= $(shell nproc)

# Every Debian package the build, the tests, the demo and the benchmarks use.
DEB_PACKAGES := build-essential cmake pkg-config clang-format \
	protobuf-compiler libprotobuf-dev libprotoc-dev protobuf-c-compiler libprotobuf-c-dev \
	libnng-dev libwslay-dev libev-dev libhttp-parser-dev libjansson-dev libssl-dev \
	libhiredis-dev redis-server libcmocka-dev python3 python3-websockets curl valgrind

# SANITIZE=1 builds with ASan+UBSan into a tree of its own, BUILD_DIR-sanitize.
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo
ifneq ($(SANITIZE),)
CMAKE_FLAGS += -DSILK_SANITIZE=ON
TREE := $(BUILD_DIR)-sanitize
else
CMAKE_FLAGS += -DSILK_SANITIZE=OFF
TREE := $(BUILD_DIR)
endif

.PHONY: all deps build test demo format format-check clean bench

all: build

# deps installs only what is missing: `apt-get update` once, then one `apt-get install -y`.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else \
		echo "make deps: every package is installed"; \
	fi

build:
	cmake -S . -B $(TREE) $(CMAKE_FLAGS)
	cmake --build $(TREE) -j $(JOBS)

test: deps build
	cd $(TREE) && ctest --output-on-failure -j $(JOBS)

demo: deps build
	BUILD_DIR=$(TREE) samples/wstest/demo.sh

format:
	git ls-files '*.c' '*.h' '*.cc' ':!:codegen/tests/golden/*' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' '*.cc' ':!:codegen/tests/golden/*' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-sanitize

# bench-rpc runs the RPC benchmark (bench/run_rpc.sh) in a Release build of its own, with
# gRPC's Debian packages installed as deps installs the rest. BENCH_ARGS passes options to
# the script, e.g. `make bench-rpc BENCH_ARGS="--repeat 3"` for the median of three runs.
BENCH_BUILD_DIR ?= build-bench
BENCH_ARGS ?=
.PHONY: bench-rpc
bench-rpc:
	$(MAKE) deps DEB_PACKAGES="$(DEB_PACKAGES) libgrpc++-dev protobuf-compiler-grpc"
	cmake -S . -B $(BENCH_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-rpc-programs
	BUILD_DIR=$(BENCH_BUILD_DIR) bench/run_rpc.sh $(BENCH_ARGS)
