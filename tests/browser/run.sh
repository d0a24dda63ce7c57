#!/usr/bin/env bash
# Starts the real livechat (debug build) on free ports and drives its pages
# in headless Chromium. Installs Chromium (Debian) and playwright-core (npm)
# when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

if ! command -v chromium >/dev/null; then
  echo "installing chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi

cargo build -q -p livechat --manifest-path "$root/Cargo.toml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port); grpc=$(free_port)
work=$(mktemp -d)
export LIVECHAT_DATABASE_URL="sqlite://$work/livechat.db?mode=rwc"
export LIVECHAT_ADMIN_PASSWORD="browser-test-admin"
export LIVECHAT_LISTEN="127.0.0.1:$web" LIVECHAT_GRPC_LISTEN="127.0.0.1:$grpc" LIVECHAT_LOG_FORMAT=json

"$target/debug/livechat" >"$work/livechat.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$web/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
cd "$here"
LIVECHAT_URL="http://127.0.0.1:$web" ADMIN_PASSWORD="$LIVECHAT_ADMIN_PASSWORD" SCREENSHOT_DIR="$target/screenshots" node chat.test.mjs \
  || { echo "--- livechat log"; tail -50 "$work/livechat.log"; exit 1; }
