#!/usr/bin/env sh
# Prints a .env for docker-compose.yml with fresh random secrets and a new
# JWT signing key pair (needs OpenSSL):
#
#   deploy/compose-env.sh > .env
#
# ADMIN_EMAIL may be given in the environment; the admin password is in the
# output. Each PEM is written on one line with literal \n, which the nodes
# turn back into line breaks.
set -eu

secret() { openssl rand -hex 24; }
one_line() { awk 'BEGIN { ORS = "\\n" } { print }'; }

private_key=$(openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt)
public_key=$(printf '%s\n' "$private_key" | openssl ec -pubout 2>/dev/null)

cat <<ENV
MYSQL_ROOT_PASSWORD=$(secret)
MYSQL_PASSWORD=$(secret)
JWT_PRIVATE_KEY=$(printf '%s\n' "$private_key" | one_line)
JWT_PUBLIC_KEY=$(printf '%s\n' "$public_key" | one_line)
MESSAGE_SEALING_KEY=$(openssl rand -hex 32)
PAYMENT_GATEWAY_API_KEY=sk_test_$(secret)
PAYMENT_WEBHOOK_SECRET=whsec_$(secret)
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
ADMIN_PASSWORD=$(secret)
GRAFANA_ADMIN_PASSWORD=$(secret)
ENV
