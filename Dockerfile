# syntax=docker/dockerfile:1
# Build with the Swift toolchain, run on a slim Debian with the C libraries it links.

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config librdkafka-dev libavro-dev libmicrohttpd-dev libgnutls28-dev \
       libcurl4-openssl-dev libpq-dev libhiredis-dev libyaml-dev libzstd-dev libsqlite3-dev zlib1g-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies in their own layer so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY openapi.yaml ./
RUN swift build -c release --product consumerd --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/consumerd" /out/consumerd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka1 libavro23 libmicrohttpd12 libgnutls30 \
       libcurl4 libpq5 libhiredis0.14 libyaml-0-2 libzstd1 libsqlite3-0 zlib1g libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/consumerd --create-home consumerd
COPY --from=build /out/consumerd /usr/local/bin/consumerd
USER consumerd:consumerd
WORKDIR /var/lib/consumerd
VOLUME ["/var/lib/consumerd"]
EXPOSE 8080
# Point at real Kafka with KAFKA_BOOTSTRAP_SERVERS (or --bootstrap-servers). Listening on
# 0.0.0.0 needs an API token: CONSUMERD_API_TOKEN or --api-token-file (see README, Security).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
ENTRYPOINT ["/usr/local/bin/consumerd"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/consumerd"]
