# One image for every role: `livechat` (all-in-one), `livechat core-service`,
# `livechat ws-gateway`, `livechat http-gateway`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p livechat

FROM debian:bookworm-slim
RUN useradd --uid 10001 --no-create-home livechat
COPY --from=build /src/target/release/livechat /usr/local/bin/livechat
USER 10001
EXPOSE 8080 50051
ENTRYPOINT ["/usr/local/bin/livechat"]
