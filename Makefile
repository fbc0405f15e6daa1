# silk's two front doors: `make demo` and `make test`. Everything else is CMake in build/.
BUILD_DIR ?= build
SANITIZE ?=
JOBS ?= $(shell nproc)

# Every Debian package the build, the tests and the demo use (the benchmarks add
# BENCH_DEB_PACKAGES, below). npm is added when there is no npm command: NodeSource's nodejs
# carries its own and conflicts with Debian's npm package.
DEB_PACKAGES := build-essential cmake pkg-config clang-format \
	protobuf-compiler libprotobuf-dev libprotoc-dev protobuf-c-compiler libprotobuf-c-dev \
	libnng-dev libwslay-dev libev-dev libhttp-parser-dev libjansson-dev libssl-dev \
	libhiredis-dev redis-server libcmocka-dev libjwt-dev python3 python3-websockets \
	python3-jwt python3-cryptography openssl curl valgrind file iproute2 redis-tools nodejs \
	chromium

# SANITIZE=1 builds with ASan+UBSan into a tree of its own, BUILD_DIR-sanitize.
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo
ifneq ($(SANITIZE),)
CMAKE_FLAGS += -DSILK_SANITIZE=ON
TREE := $(BUILD_DIR)-sanitize
else
CMAKE_FLAGS += -DSILK_SANITIZE=OFF
TREE := $(BUILD_DIR)
endif

.PHONY: all deps deb-deps openapi-deps browser-deps js-deps build test demo package format format-check clean bench

all: build

# deps installs what the build and the tests need: the Debian packages, then the OpenAPI
# test's validators and the browser test's puppeteer-core.
deps: deb-deps openapi-deps browser-deps

# deb-deps installs only what is missing: `apt-get update` once, then one `apt-get install -y`.
deb-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done; command -v npm >/dev/null 2>&1 || echo npm); \
	if [ -n "$$missing" ]; then \
		echo "make deb-deps: installing" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else \
		echo "make deb-deps: every package is installed"; \
	fi

# npm_ci_deps (target, source folder, build-tree folder, a package it installs, what is
# skipped without it) installs the npm packages the folder's package-lock.json pins, exact
# versions, with `npm ci` into the build-tree folder, never into the source tree, and again
# only when the lock file changed. Without npm (after trying Debian's) or the registry it says
# so and goes on: the test then skips itself (77). PUPPETEER_SKIP_DOWNLOAD: no browser of its own.
define npm_ci_deps
	@command -v npm >/dev/null 2>&1 || $(MAKE) deb-deps DEB_PACKAGES="nodejs npm" || true
	@mkdir -p $(3)
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "make $(1): no npm; $(5) will be skipped"; \
	elif ! cmp -s $(2)/package-lock.json $(3)/package-lock.json || \
	    [ ! -f $(3)/node_modules/$(4)/package.json ]; then \
		cp $(2)/package.json $(2)/package-lock.json $(3)/ && \
		(cd $(3) && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund) || { \
			rm -f $(3)/package-lock.json; \
			echo "make $(1): npm ci failed; $(5) will be skipped"; }; \
	else \
		echo "make $(1): $(4) is installed in $(3)"; \
	fi
endef

# openapi-deps: the validators of tests/openapi (@redocly/cli and Ajv) into TREE/openapi.
OPENAPI_NODE_DIR = $(TREE)/openapi
openapi-deps:
	$(call npm_ci_deps,openapi-deps,tests/openapi,$(OPENAPI_NODE_DIR),@redocly/cli,the OpenAPI test)

# browser-deps: puppeteer-core into TREE/browser, for tests/browser; it drives Debian's
# chromium (DEB_PACKAGES) and downloads no browser.
BROWSER_NODE_DIR = $(TREE)/browser
browser-deps:
	$(call npm_ci_deps,browser-deps,tests/browser,$(BROWSER_NODE_DIR),puppeteer-core,the browser test)

build:
	cmake -S . -B $(TREE) $(CMAKE_FLAGS)
	cmake --build $(TREE) -j $(JOBS)

# js-deps: the ws package silk.js's tests use (ctest clients_js), pinned by
# clients/js/test/package-lock.json, installed with npm ci into TREE/clients-js, never into the
# source tree; again only when the lock file changed. Without the npm registry it says why and
# goes on: clients_js then skips (77).
JS_DEPS_DIR = $(TREE)/clients-js
js-deps: deps
	@mkdir -p $(JS_DEPS_DIR)
	@if cmp -s clients/js/test/package-lock.json $(JS_DEPS_DIR)/package-lock.json && \
	    [ -f $(JS_DEPS_DIR)/node_modules/ws/package.json ]; then \
		echo "make js-deps: ws is installed in $(JS_DEPS_DIR)"; \
	elif ! command -v npm >/dev/null 2>&1; then \
		echo "make js-deps: no npm; ctest clients_js will be skipped"; \
	else \
		cp clients/js/test/package.json clients/js/test/package-lock.json $(JS_DEPS_DIR)/; \
		if ! (cd $(JS_DEPS_DIR) && npm ci --no-audit --no-fund --fetch-retries=1 --fetch-timeout=30000); then \
			rm -f $(JS_DEPS_DIR)/package-lock.json; \
			echo "make js-deps: npm ci failed (no network or no registry?);" \
			     "ctest clients_js will be skipped"; \
		fi; \
	fi

test: deps build js-deps
	cd $(TREE) && ctest --output-on-failure -j $(JOBS)

demo: deps build
	BUILD_DIR=$(TREE) samples/wstest/demo.sh

# package: Debian packages of the build tree with CPack (cmake/SilkPackage.cmake) into
# TREE/packages/: libsilk0.1, libsilk-dev, silk-samples and silk-systemd (docs/deployment.md).
package: deps build
	rm -rf $(TREE)/packages
	cd $(TREE) && cpack -G DEB
	@echo "make package: in $(TREE)/packages:"; ls -1 $(TREE)/packages/*.deb

format:
	git ls-files '*.c' '*.h' '*.cc' ':!:codegen/tests/golden/*' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' '*.cc' ':!:codegen/tests/golden/*' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-sanitize

# The benchmarks run in a Release build of their own. bench-deps installs what they need
# beyond `make deps` (the tests never need it): gRPC C++ for bench-rpc, wrk for bench-http,
# libwebsockets and Node's `ws` (npm, pinned by bench/node/package-lock.json, installed into
# BENCH_BUILD_DIR/node) for bench-ws. BENCH_ARGS passes options to the scripts, e.g.
# `make bench-ws BENCH_ARGS="--repeat 3"` for the median of three runs.
BENCH_BUILD_DIR ?= build-bench
BENCH_ARGS ?=
BENCH_DEB_PACKAGES := libgrpc++-dev protobuf-compiler-grpc wrk libwebsockets-dev nodejs nginx \
	strace linux-perf
BENCH_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Release
BENCH_NODE_DIR := $(BENCH_BUILD_DIR)/node
.PHONY: bench-deps bench-configure bench-rpc bench-http bench-ws bench-cluster bench-hosts \
	bench-push10k bench-sessions100k bench-streams bench-account

bench-deps:
	$(MAKE) deb-deps DEB_PACKAGES="$(DEB_PACKAGES) $(BENCH_DEB_PACKAGES)"
	@command -v npm >/dev/null 2>&1 || $(MAKE) deb-deps DEB_PACKAGES=npm
	@mkdir -p $(BENCH_NODE_DIR)
	@if ! cmp -s bench/node/package-lock.json $(BENCH_NODE_DIR)/package-lock.json || \
	    [ ! -f $(BENCH_NODE_DIR)/node_modules/ws/package.json ]; then \
		cp bench/node/package.json bench/node/package-lock.json $(BENCH_NODE_DIR)/ && \
		cd $(BENCH_NODE_DIR) && npm ci --no-audit --no-fund; \
	else \
		echo "make bench-deps: ws is installed in $(BENCH_NODE_DIR)"; \
	fi

bench-configure:
	cmake -S . -B $(BENCH_BUILD_DIR) $(BENCH_CMAKE_FLAGS)

# bench-rpc: silk vs nng req/rep, gRPC C++ and a TCP ping-pong (bench/run_rpc.sh).
bench-rpc: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-rpc-programs
	BUILD_DIR=$(BENCH_BUILD_DIR) bench/run_rpc.sh $(BENCH_ARGS)

# bench-http: wrk through the gateway vs the same call over RPC (bench/run_http.sh).
bench-http: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-http-programs
	bench/run_http.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-ws: silk's gateway vs libwebsockets and Node ws (bench/run_ws.sh, issue 6).
bench-ws: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-ws-programs
	bench/run_ws.sh --no-build --build-dir $(BENCH_BUILD_DIR) \
		--node-modules $(BENCH_NODE_DIR)/node_modules $(BENCH_ARGS)

# bench-account: per call, on every path, context switches, wake-ups, syscalls, instructions,
# heap allocations and CPU, for the silk processes (bench/account.sh, issue 18; about 2 min).
bench-account: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-account-programs
	bench/account.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-cluster: a push's cost with 1, 4 and 16 gateways, Redis vs file registry
# (bench/run_cluster.sh, issue 15).
bench-cluster: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-ws-programs
	bench/run_cluster.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-hosts: three network-namespace hosts against one (bench/run_hosts.py, issue 15; root).
bench-hosts: bench-deps bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-ws-programs wstest-caller
	/usr/bin/python3 bench/run_hosts.py --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-push10k: one message to each of 10,000 sessions through SendToBusiness, the seed's
# Echo (a batch) and Echo one send at a time (bench/run_push10k.sh, issue 15).
bench-push10k: bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-push-programs
	bench/run_push10k.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-streams: pushes to 1,000 businesses with history on (Redis) and off, and the replay of
# 1,000 missed pushes (bench/run_streams.sh, issue 16).
bench-streams: bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-streams-programs
	bench/run_streams.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)

# bench-sessions100k: bytes per idle session on six gateways holding 100,000 sessions, before
# and after a push to each (bench/run_sessions100k.sh, issue 15; minutes, several GB).
bench-sessions100k: bench-configure
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target bench-push-programs
	bench/run_sessions100k.sh --no-build --build-dir $(BENCH_BUILD_DIR) $(BENCH_ARGS)
