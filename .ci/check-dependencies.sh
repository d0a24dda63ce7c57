#!/usr/bin/env bash
# The stateless processes must not link the core's crates. The gateways
# talk to the core over gRPC and share only `livechat-proto` and
# `livechat-runtime`: no sea-orm, sqlx, lapin or livechat-core. The channel
# adapters talk to the core through RabbitMQ only: lapin, but no database
# crate and not the core. This fails when a normal (non-dev) dependency
# tree breaks its rule.
set -euo pipefail
cd "$(dirname "$0")/.."

database='sea-orm|sea-orm-migration|sqlx|sqlx-[a-z]+|livechat-core'
status=0
check() {
  local crate=$1 forbidden=$2 tree bad
  tree=$(cargo tree --locked -p "$crate" -e normal --prefix none --no-dedupe)
  if bad=$(grep -E "^($forbidden) " <<<"$tree" | sort -u) && [ -n "$bad" ]; then
    echo "$crate must not depend on the core's storage or broker crates, but links:" >&2
    sed 's/^/  /' <<<"$bad" >&2
    status=1
  else
    echo "$crate: none of ${forbidden//|/, } in its dependency tree"
  fi
}
check livechat-http "$database|lapin"
check livechat-ws "$database|lapin"
check livechat-adapter "$database"
exit $status
