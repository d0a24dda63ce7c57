#!/usr/bin/env bash
# The stateless gateways (and, once they exist, the channel adapters) must
# not link the core's storage or broker crates: they talk to the core over
# gRPC and share only `livechat-proto` and `livechat-runtime`. This fails
# when a normal (non-dev) dependency tree of one of them contains sea-orm,
# sqlx or lapin, or the core crate itself.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(sea-orm|sea-orm-migration|sqlx|sqlx-[a-z]+|lapin|livechat-core) '
stateless=(livechat-http livechat-ws)
[ -f adapters/Cargo.toml ] && stateless+=("$(sed -n 's/^name = "\(.*\)"/\1/p' adapters/Cargo.toml | head -1)")

status=0
for crate in "${stateless[@]}"; do
  tree=$(cargo tree --locked -p "$crate" -e normal --prefix none --no-dedupe)
  if bad=$(grep -E "$forbidden" <<<"$tree" | sort -u) && [ -n "$bad" ]; then
    echo "$crate must not depend on the core's storage or broker crates, but links:" >&2
    sed 's/^/  /' <<<"$bad" >&2
    status=1
  else
    echo "$crate: no sea-orm, sqlx, lapin or livechat-core in its dependency tree"
  fi
done
exit $status
