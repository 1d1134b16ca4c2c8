# Multi-stage build: a release binary on a slim Debian runtime, running as a non-root user.
# Build: docker build -t gpt-api .   Run: docker run -p 8080:8080 -v $PWD/gpt_api.toml:/etc/gpt-api/gpt_api.toml gpt-api
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY src src
COPY migrations migrations
COPY bench bench
RUN cargo build --release --locked -p gpt-api

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/gpt-api --create-home --shell /usr/sbin/nologin gpt-api
COPY --from=build /src/target/release/gpt-api /usr/local/bin/gpt-api
COPY migrations /usr/share/gpt-api/migrations
COPY gpt_api.example.toml /etc/gpt-api/gpt_api.toml
USER gpt-api
WORKDIR /var/lib/gpt-api
ENV GPT_API_CONFIG=/etc/gpt-api/gpt_api.toml
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/gpt-api"]
