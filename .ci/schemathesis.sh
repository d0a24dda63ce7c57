#!/usr/bin/env bash
# Property-based API testing of the REST API against its own OpenAPI
# document: builds and starts the all-in-one `livechat` (debug) on a fresh
# SQLite file, logs in as admin, and runs schemathesis over
# /api/v1/openapi.json looking for server errors (5xx) and responses that do
# not match the documented schemas. Exits non-zero on any failure.
#
# Knobs (environment):
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 20)
#   SCHEMATHESIS_TIMEOUT       hard limit of the schemathesis run, seconds (default 280)
#   SCHEMATHESIS_SEED          seed for a reproducible run (default: random)
#   SCHEMATHESIS_ARGS          extra arguments for `schemathesis run`
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# -- schemathesis ------------------------------------------------------------
if ! command -v schemathesis >/dev/null 2>&1; then
  log "installing schemathesis"
  python3 -m pip install --quiet schemathesis
fi
schemathesis --version

# -- build -------------------------------------------------------------------
log "cargo build -p livechat"
cargo build -p livechat
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/livechat"

# -- start -------------------------------------------------------------------
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP_WORKDIR:-}" == "1" ]]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
HTTP_PORT="$(free_port)"
GRPC_PORT="$(free_port)"
while [[ "$GRPC_PORT" == "$HTTP_PORT" ]]; do GRPC_PORT="$(free_port)"; done
BASE="http://127.0.0.1:$HTTP_PORT"
ADMIN_PASSWORD="schemathesis-admin-$RANDOM$RANDOM"

log "starting livechat on $BASE (gRPC 127.0.0.1:$GRPC_PORT)"
LIVECHAT_DATABASE_URL="sqlite://$WORK/livechat.db?mode=rwc" \
LIVECHAT_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
LIVECHAT_LISTEN="127.0.0.1:$HTTP_PORT" \
LIVECHAT_GRPC_LISTEN="127.0.0.1:$GRPC_PORT" \
LIVECHAT_LOGIN_RATE_PER_MIN=100000 \
LIVECHAT_LOGIN_FAILURES_PER_USER=100000 \
LIVECHAT_LOGIN_FAILURES_PER_ADDRESS=100000 \
LIVECHAT_API_RATE_PER_SEC=1000000 \
LIVECHAT_ROOMS_PER_IP_PER_MIN=1000000 \
LIVECHAT_OPEN_ROOMS_PER_IP=1000000 \
LIVECHAT_LOG_FORMAT=json \
RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "livechat exited while starting:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
if [[ -z "$ready" ]]; then
  echo "livechat did not become ready at $BASE/readyz within 60 s" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

# -- token -------------------------------------------------------------------
TOKEN="$(
  curl -fsS -X POST "$BASE/api/v1/auth/login" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
)"
[[ -n "$TOKEN" ]] || { echo "admin login returned no token" >&2; exit 1; }

# -- run ---------------------------------------------------------------------
log "schemathesis run $BASE/api/v1/openapi.json"
seed_args=()
if [[ -n "${SCHEMATHESIS_SEED:-}" ]]; then seed_args=(--seed "$SCHEMATHESIS_SEED"); fi
# shellcheck disable=SC2086
set +e
timeout --signal=INT --kill-after=20 "${SCHEMATHESIS_TIMEOUT:-280}" \
  schemathesis run "$BASE/api/v1/openapi.json" \
    --url "$BASE" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-20}" \
    --request-timeout 15 \
    --workers 2 \
    --no-color \
    --generation-database none \
    --report junit --report-dir "$WORK/report" \
    "${seed_args[@]}" \
    ${SCHEMATHESIS_ARGS:-}
status=$?
set -e

if [[ $status -eq 124 || $status -eq 130 ]]; then
  echo "schemathesis did not finish within ${SCHEMATHESIS_TIMEOUT:-280} s" >&2
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "livechat died during the run:" >&2
  tail -50 "$WORK/server.log" >&2
  status=1
fi
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
  echo "the server logged errors during the run:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" | head -20 >&2
fi

if [[ $status -ne 0 ]]; then
  log "schemathesis FAILED (exit $status)"
  exit "$status"
fi
log "schemathesis ok"
