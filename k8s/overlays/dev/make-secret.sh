#!/usr/bin/env bash
# Writes secret.env for the dev overlay with random values (once; it keeps
# an existing file). Apply with: kubectl apply -k k8s/overlays/dev
set -euo pipefail
cd "$(dirname "$0")"
if [ -f secret.env ]; then echo "secret.env exists; keeping it"; exit 0; fi
rand() { head -c "$1" /dev/urandom | base64 | tr -d '/+=\n' | head -c "$2"; }
pg=$(rand 32 24); mq=$(rand 32 24); admin=$(rand 32 16)
umask 077
cat > secret.env <<ENV
LIVECHAT_JWT_SECRET=$(rand 64 64)
LIVECHAT_ADMIN_PASSWORD=$admin
LIVECHAT_DATABASE_URL=postgres://livechat:$pg@postgres:5432/livechat
LIVECHAT_AMQP_URL=amqp://livechat:$mq@rabbitmq:5672/%2f
POSTGRES_PASSWORD=$pg
RABBITMQ_DEFAULT_PASS=$mq
ENV
echo "wrote secret.env; the console's admin password is: $admin"
