# consumerd: `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Debian packages: the C libraries we link, the real Kafka clients and tools
# the tests check us against, and the servers the sink tests start themselves
# (PostgreSQL and Redis, on Unix sockets in temporary directories).
APT_PACKAGES := pkg-config librdkafka-dev libavro-dev libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libpq-dev libhiredis-dev libyaml-dev libzstd-dev libsqlite3-dev zlib1g-dev libssl-dev \
                kcat wrk prometheus python3 python3-venv python3-confluent-kafka curl ca-certificates \
                postgresql redis-server openssl chromium
# Test tools from PyPI (Tests/requirements.txt, pinned) live in a project-local
# virtual environment on Debian's python3, which also sees python3-confluent-kafka.
VENV := .venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data
BUILD_FLAGS ?=

.PHONY: help deps build run test test-swift test-e2e test-asan test-bench-smoke openapi bench bench-decode bench-sinks bench-scale clean

help:
	@echo "make run    install what is missing, build, start 'consumerd serve --dev' on $(LISTEN)"
	@echo "make test   the full suite: unit, integration (embedded Kafka) and end-to-end"
	@echo "make bench  throughput against raw librdkafka and the seeds' Python consumer"

# Installs only what is missing (apt-get as root, or through sudo).
deps:
	@command -v swift >/dev/null || { echo "swift is not on PATH: install a Swift 6 toolchain (https://www.swift.org/install/linux/)"; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(MAKE) --no-print-directory $(VENV)/.installed

$(VENV)/.installed: Tests/requirements.txt
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/requirements.txt
	touch $@

# The binary serves GET /openapi.yaml from this generated copy; a test fails
# when it is out of date.
openapi: Sources/ControlPlane/OpenAPIDocument.swift
Sources/ControlPlane/OpenAPIDocument.swift: openapi.yaml
	@{ printf '// Generated from openapi.yaml by `make openapi`; do not edit.\n\n'; \
	   printf '/// The OpenAPI document served at GET /openapi.yaml.\nenum OpenAPIDocument {\n    static let yaml = #"""\n'; \
	   cat openapi.yaml; printf '\n"""#\n}\n'; } > $@

build: deps openapi
	swift build $(BUILD_FLAGS)

run: build
	swift run $(BUILD_FLAGS) consumerd serve --dev --listen $(LISTEN) --data-dir $(DATA_DIR) --log-format text

test: deps openapi
	swift build --build-tests
	$(MAKE) test-swift
	$(MAKE) test-e2e
	$(MAKE) test-bench-smoke
	$(MAKE) test-asan

# bench/run.py on a few thousand records with the debug binary: seconds,
# no timing asserted; only that the benchmark still runs.
test-bench-smoke:
	CONSUMERD_BINARY=$(CURDIR)/.build/debug/consumerd $(PYTHON) bench/run.py --smoke --out .build/bench-smoke
	CONSUMERD_BINARY=$(CURDIR)/.build/debug/consumerd $(PYTHON) bench/scale.py --smoke --out .build/bench-smoke

# The test tools' interpreter for the Swift suites (fastavro, openapi-spec-validator).
# Broker faults run last, alone in their own process (see FaultInjectionTests).
TEST_ENV := CONSUMERD_TEST_PYTHON=$(CURDIR)/$(PYTHON) OPENAPI_PYTHON=$(CURDIR)/$(PYTHON)
test-swift:
	$(TEST_ENV) swift test --skip-build
	$(TEST_ENV) CONSUMERD_ISOLATED=FaultInjectionTests swift test --skip-build --filter FaultInjectionTests

# Starts the real binary and a `consumerd dev-broker`, drives them with
# curl-like HTTP, kcat and confluent-kafka, checks /metrics with promtool.
test-e2e:
	$(PYTHON) -m unittest discover -s Tests/e2e -p 'test_*.py' -v

# The whole benchmark (bench/run): throughput against kcat, raw librdkafka and
# the seeds' Python pattern, the control plane under paced load, the scale run.
bench:
	bench/run

# 1,000 consumers on one server: memory, threads, start/restart times, API sizes.
bench-scale: deps
	swift build -c release --product consumerd
	$(PYTHON) bench/scale.py

# Records/s through each sink, release build, servers started by the script.
bench-sinks: deps
	swift build -c release --product consumerd
	$(PYTHON) bench/sinks.py

# Decode cost per record: JSON validated, JSON parsed, Avro (bench/decode).
bench-decode: deps
	swift build -c release --product decode-bench
	.build/release/decode-bench

# The Avro decoder tests (conformance and hostile bytes) under AddressSanitizer
# and LeakSanitizer, in their own build folder.
test-asan: deps
	swift build --build-tests --sanitize=address --scratch-path .build-asan
	CONSUMERD_SANITIZER=address CONSUMERD_TEST_PYTHON=$(CURDIR)/$(PYTHON) \
		ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp \
		.build-asan/debug/consumerdPackageTests.xctest --testing-library swift-testing --filter AvroTests

clean:
	rm -rf .build .build-asan $(VENV)
