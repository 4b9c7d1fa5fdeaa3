# syntax=docker/dockerfile:1
#
# Feedloop container image: the `feedloop` CLI (worker, replay, ...) on Debian 12.
#
#   docker build -t feedloop:local .
#   docker run --rm feedloop:local --help
#   docker compose up            # Kafka (KRaft) + topics + worker, see docker-compose.yml
#
# Three stages:
#   build       Swift toolchain + librdkafka, zlib and libzstd headers; a release build of the `feedloop` product with the
#               Swift runtime linked statically (no toolchain needed at run time).
#   librdkafka  the librdkafka shared library that the `confluent-kafka` wheel bundles (same source and
#               version as scripts/lib/runtime.sh uses for development and tests).
#   runtime     debian:bookworm-slim + the binary + that librdkafka, as an unprivileged user.
#
# Why not Debian's librdkafka1 (2.0.2) at run time: it skips every tagged protocol field one byte short
# (fixed upstream in 2.1.2, "Fix number of bytes skipped when receiving tags"). Apache Kafka's ApiVersions
# v3 response survives that by luck: the misaligned reads land on zero bytes (checked with a mock broker
# sending the response laid out as Kafka's schema defines it, against 2.0.2 and 2.16). A broker that lays
# out its tagged fields differently breaks it: Tansu, which sends FinalizedFeaturesEpoch = -1, gets
# "ApiVersionRequest failed: Local: Read underflow". The test suite runs against the wheel's librdkafka, so
# the image ships that same library rather than one that works by luck. The program is compiled against
# Debian's 2.0.2 headers (librdkafka-dev) and loads the newer library at run time (same soname,
# librdkafka.so.1; the ABI is backwards compatible).

# ---------------------------------------------------------------------------------------------------------
FROM swift:6.3.2-bookworm AS build

# Debian's package versions are fixed within a release; pinning them would only break on security updates.
# hadolint ignore=DL3008
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends librdkafka-dev zlib1g-dev libzstd-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# The manifest alone first: dependency resolution stays cached until Package.swift changes.
COPY Package.swift ./
RUN swift package resolve

# SwiftPM checks every declared target's folder, test targets included, before it builds a single product.
COPY Sources ./Sources
COPY Tests ./Tests

RUN swift build -c release --product feedloop --static-swift-stdlib \
    && mkdir -p /staging \
    && cp "$(swift build -c release --show-bin-path)/feedloop" /staging/feedloop \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/swift-backtrace

# ---------------------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS librdkafka

# confluent-kafka 2.16.1 bundles librdkafka 2.16 (self-contained: needs only libc). pip picks the wheel for
# the platform being built (x86_64 or aarch64).
ARG CONFLUENT_KAFKA_VERSION=2.16.1
RUN pip download --no-deps --only-binary=:all: --dest /wheel "confluent-kafka==${CONFLUENT_KAFKA_VERSION}" \
    && python -m zipfile -e /wheel/confluent_kafka-*.whl /unpacked \
    && mkdir -p /out \
    && cp /unpacked/confluent_kafka.libs/librdkafka-*.so.1 /out/librdkafka.so.1

# ---------------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# Unpinned apt versions, as in the build stage (fixed within a Debian release).
# hadolint ignore=DL3008
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends ca-certificates tzdata libstdc++6 zlib1g libzstd1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin feedloop \
    && mkdir -p /checkpoints \
    && chown feedloop:feedloop /checkpoints

# The wheel's library carries the soname librdkafka-<hash>.so.1, so ldconfig would index it under that
# name only; the binary asks for librdkafka.so.1, found through LD_LIBRARY_PATH (as in scripts/).
COPY --from=librdkafka /out/librdkafka.so.1 /usr/local/lib/feedloop/librdkafka.so.1
ENV LD_LIBRARY_PATH=/usr/local/lib/feedloop

COPY --from=build /staging/feedloop /usr/local/bin/feedloop
# Symbolicated crash backtraces without the toolchain.
COPY --from=build /staging/swift-backtrace /usr/local/libexec/swift-backtrace
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/libexec/swift-backtrace

# Default pipeline files; docker-compose.yml mounts ./pipelines over them read-only.
COPY pipelines /pipelines

# Fails the build if the binary cannot load (a missing shared library shows up here, not in production).
RUN feedloop --help >/dev/null

# Numeric, so orchestrators can verify non-root without reading /etc/passwd (uid 10001 = feedloop).
USER 10001:10001
WORKDIR /checkpoints
# Model checkpoints (snapshot + input offsets); keep them across container restarts.
VOLUME ["/checkpoints"]
# Prometheus metrics of `feedloop worker --metrics-host 0.0.0.0 --metrics-port 9464`.
EXPOSE 9464

ENTRYPOINT ["feedloop"]
CMD ["--help"]
