# consumerd: `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Debian packages: the three C libraries we link, and the real Kafka clients
# and tools the tests check us against.
APT_PACKAGES := pkg-config librdkafka-dev libavro-dev libmicrohttpd-dev \
                kcat prometheus python3 python3-confluent-kafka curl
# The test tools' Python interpreter: Debian's, where python3-confluent-kafka lives.
PYTHON := /usr/bin/python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data
BUILD_FLAGS ?=

.PHONY: help deps build run test test-swift test-e2e openapi bench clean

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

test-swift:
	swift test --skip-build

# Starts the real binary and a `consumerd dev-broker`, drives them with
# curl-like HTTP, kcat and confluent-kafka, checks /metrics with promtool.
test-e2e:
	$(PYTHON) -m unittest discover -s Tests/e2e -p 'test_*.py' -v

bench: deps
	swift build -c release
	bench/run.sh

clean:
	rm -rf .build
