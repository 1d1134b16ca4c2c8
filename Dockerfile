# syntax=docker/dockerfile:1
# GPT_API in a container: a release binary on debian:bookworm-slim, non-root, no shell tools
# added, no config baked in (mount one: see README "Docker"). Builds for linux/amd64 and
# linux/arm64 from either kind of builder without emulation (the build stage cross-compiles).
#
#   docker build -t gpt-api .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/gpt-api .
#   docker build --build-arg TARGET_CPU=x86-64-v3 -t gpt-api .          # tuned, runs only there
#   docker build --build-arg TARGET_CPU=amd64=x86-64-v3,arm64=tsv110 ...  # per arch
#   docker run -p 8080:8080 --stop-timeout 30 \
#     -v $PWD/scripts/docker/gpt_api.toml:/etc/gpt-api/gpt_api.toml:ro -v gpt-api-data:/var/lib/gpt-api gpt-api
ARG RUST_VERSION=1.95

# --- recipe: the manifests and lock file, with every target's source replaced by a stub, so
# the dependency layer below is rebuilt only when they change (cargo-chef's idea, done with
# `cargo metadata`, which finds the workspace members wherever they live, src/ included).
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS recipe
WORKDIR /src
COPY . .
RUN scripts/docker/build.sh recipe /recipe

# --- build: dependencies from the recipe (cached), then the sources.
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
# One CPU for the image's arch, or per arch (amd64=x86-64-v3,arm64=tsv110). Empty: a CPU every
# host of the arch has (x86-64-v2, or generic armv8-a), so the image runs anywhere.
ARG TARGET_CPU=
WORKDIR /src
COPY scripts/docker/build.sh /usr/local/bin/gpt-api-build
RUN gpt-api-build toolchain
COPY --from=recipe /recipe ./
RUN --mount=type=cache,target=/usr/local/cargo/registry gpt-api-build dependencies
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry gpt-api-build release /out

# --- runtime: glibc and libgcc from bookworm-slim (the binary needs nothing else: TLS roots
# are compiled in, migrations embedded). No RUN here, so no emulation for foreign arches.
FROM debian:bookworm-slim
COPY --from=build /out/gpt-api /usr/local/bin/gpt-api
COPY --from=build --chown=10001:10001 /out/data /var/lib/gpt-api
USER 10001:10001
WORKDIR /var/lib/gpt-api
VOLUME ["/var/lib/gpt-api"]
ENV GPT_API_CONFIG=/etc/gpt-api/gpt_api.toml
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/gpt-api", "health"]
ENTRYPOINT ["/usr/local/bin/gpt-api"]
