#!/usr/bin/env bash
# Runs livechat-bench against a fresh deployment on this machine, as in
# BENCHMARKS.md. Release build.
#
#   tests/bench/run.sh all-in-one  <bench flags>   # livechat: SQLite, in-process bus
#   tests/bench/run.sh distributed <bench flags>   # core-service + ws-gateway + http-gateway
#                                                  # on PostgreSQL and RabbitMQ
# distributed reads LIVECHAT_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres,
# where a fresh database is created) and LIVECHAT_BENCH_AMQP_URL (default guest@127.0.0.1).
# CPU and RSS are read from the process that serves WebSockets (the all-in-one, or the ws-gateway);
# the core's CPU per delivered message over the same window, and its CPU time over the whole run,
# are printed in a distributed run.
# LIVECHAT_SERVER_CPUS / LIVECHAT_BENCH_CPUS (taskset lists, e.g. 0 and 1) pin the server
# processes and the load generator to their own cores.
# LIVECHAT_BENCH_WEBHOOK=<url> registers a webhook endpoint for every room and message event
# before the run (its network allowed): a dead or slow receiver shows what webhooks cost the chat.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
mode="${1:?usage: run.sh all-in-one|distributed <livechat-bench flags>}"; shift
cargo build -q --release -p livechat -p livechat-bench --manifest-path "$root/Cargo.toml"
bin="${LIVECHAT_BIN:-$target/release/livechat}"
# A/B runs: LIVECHAT_BIN and LIVECHAT_BENCH_BIN point at other builds.
bench="${LIVECHAT_BENCH_BIN:-$target/release/livechat-bench}"
if [ -n "${LIVECHAT_SERVER_CPUS:-}" ]; then bin_cmd=(taskset -c "$LIVECHAT_SERVER_CPUS" "$bin"); else bin_cmd=("$bin"); fi
if [ -n "${LIVECHAT_BENCH_CPUS:-}" ]; then bench=(taskset -c "$LIVECHAT_BENCH_CPUS" "$bench"); else bench=("$bench"); fi
register_webhook() {
  [ -n "${LIVECHAT_BENCH_WEBHOOK:-}" ] || return 0
  local api="http://127.0.0.1:$1/api/v1" json='content-type: application/json' token
  token=$(curl -fs -XPOST "$api/auth/login" -H "$json" -d '{"username":"admin","password":"bench-admin-1"}' \
    | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
  curl -fs -XPUT "$api/workspace-settings" -H "$json" -H "authorization: Bearer $token" \
    -d '{"webhook_allowed_networks":["127.0.0.0/8"]}' >/dev/null
  curl -fs -XPOST "$api/webhooks" -H "$json" -H "authorization: Bearer $token" -d "{\"url\":\"$LIVECHAT_BENCH_WEBHOOK\",\
\"events\":[\"room.queued\",\"room.accepted\",\"room.transferred\",\"room.closed\",\"room.expired\",\"message.created\"]}" >/dev/null
  echo "webhook registered: $LIVECHAT_BENCH_WEBHOOK"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "port $1 never became ready" >&2; exit 1; }
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
# The run's SQLite database and logs can take gigabytes: gone on exit.
trap 'cleanup; rm -rf "$work"' EXIT
export RUST_LOG=warn LIVECHAT_LOG_FORMAT=json LIVECHAT_ADMIN_PASSWORD=bench-admin-1
export LIVECHAT_LOGIN_RATE_PER_MIN=100000 LIVECHAT_API_RATE_PER_SEC=100000 LIVECHAT_WS_MESSAGES_PER_SEC=60000 LIVECHAT_WS_TYPING_PER_SEC=60000 LIVECHAT_ROOMS_PER_IP_PER_MIN=1000000 LIVECHAT_OPEN_ROOMS_PER_IP=1000000 LIVECHAT_WS_CONNECTIONS_PER_ADDRESS=1000000

case "$mode" in
all-in-one)
  web=$(free_port)
  LIVECHAT_DATABASE_URL="sqlite://$work/livechat.db?mode=rwc" LIVECHAT_LISTEN="127.0.0.1:$web" \
  LIVECHAT_GRPC_LISTEN="127.0.0.1:$(free_port)" "${bin_cmd[@]}" >"$work/livechat.log" 2>&1 &
  pids+=($!); ws_pid=$!; wait_ready "$web"; register_webhook "$web"
  "${bench[@]}" --url "http://127.0.0.1:$web" --admin-password bench-admin-1 --pid "$ws_pid" "$@"
  ;;
distributed)
  db_url="${LIVECHAT_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  db_name="lc_bench_$(date +%s)_$$"
  psql "$db_url" -qc "CREATE DATABASE $db_name"
  db="${db_url%/*}/$db_name"
  grpc=$(free_port); ws=$(free_port); api=$(free_port)
  LIVECHAT_DATABASE_URL="$db" LIVECHAT_AMQP_URL="${LIVECHAT_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}" \
  LIVECHAT_AMQP_EXCHANGE="livechat.bench.$db_name" LIVECHAT_GRPC_LISTEN="127.0.0.1:$grpc" \
  LIVECHAT_JWT_SECRET="bench-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")" \
    "${bin_cmd[@]}" core-service >"$work/core.log" 2>&1 &
  pids+=($!); core_pid=$!
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$grpc") 2>/dev/null && break; sleep 0.2; done
  LIVECHAT_CORE_URL="http://127.0.0.1:$grpc" LIVECHAT_LISTEN="127.0.0.1:$ws" "${bin_cmd[@]}" ws-gateway >"$work/ws.log" 2>&1 &
  pids+=($!); ws_pid=$!
  LIVECHAT_CORE_URL="http://127.0.0.1:$grpc" LIVECHAT_LISTEN="127.0.0.1:$api" "${bin_cmd[@]}" http-gateway >"$work/http.log" 2>&1 &
  pids+=($!)
  wait_ready "$ws"; wait_ready "$api"; register_webhook "$api"
  ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  core_before=$(ticks "$core_pid")
  "${bench[@]}" --url "http://127.0.0.1:$api" --ws-url "ws://127.0.0.1:$ws" \
    --admin-password bench-admin-1 --pid "$ws_pid" --core-pid "$core_pid" "$@" || status=$?
  core_after=$(ticks "$core_pid")
  echo "core-service CPU during the whole run (setup's password hashing included): $(( (core_after - core_before) * 1000 / $(getconf CLK_TCK) )) ms"
  cleanup; pids=()
  psql "$db_url" -qc "DROP DATABASE $db_name" || true
  # The run's durable dead-letter queue (its exchanges are harmless and left).
  if command -v rabbitmqctl >/dev/null; then
    rabbitmqctl -q delete_queue "livechat.bench.$db_name.dead-letters" >/dev/null 2>&1 || true
  fi
  exit "${status:-0}"
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
