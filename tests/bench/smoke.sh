#!/usr/bin/env bash
# CI smoke run of livechat-bench: a small load against a real livechat that
# fails on any lost or duplicated message. The big runs are in BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build -q -p livechat -p livechat-bench --manifest-path "$root/Cargo.toml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port); grpc=$(free_port); work=$(mktemp -d)
LIVECHAT_DATABASE_URL="sqlite://$work/livechat.db?mode=rwc" LIVECHAT_ADMIN_PASSWORD=smoke-admin-1 \
LIVECHAT_LISTEN="127.0.0.1:$web" LIVECHAT_GRPC_LISTEN="127.0.0.1:$grpc" LIVECHAT_LOG_FORMAT=json RUST_LOG=warn \
LIVECHAT_LOGIN_RATE_PER_MIN=100000 LIVECHAT_API_RATE_PER_SEC=100000 LIVECHAT_WS_MESSAGES_PER_SEC=60000 LIVECHAT_WS_TYPING_PER_SEC=60000 LIVECHAT_ROOMS_PER_IP_PER_MIN=1000000 LIVECHAT_OPEN_ROOMS_PER_IP=1000000 LIVECHAT_WS_CONNECTIONS_PER_ADDRESS=1000000 \
  "$target/debug/livechat" >"$work/livechat.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$web/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
"$target/debug/livechat-bench" --url "http://127.0.0.1:$web" --admin-password smoke-admin-1 \
  --rooms 50 --agents 10 --rate 200 --duration 10 --pid "$pid" --strict
