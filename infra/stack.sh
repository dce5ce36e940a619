#!/usr/bin/env bash
# The local stack: Pebble (ACME), pebble-challtestsrv (DNS) and moto (AWS),
# on loopback ports, plus the resources a deployment would create, made in
# moto (table, KMS key, CloudFront distribution, HTTP API).
#
#   infra/stack.sh up   dev|test   start (or reuse) and write .local/<profile>/env
#   infra/stack.sh down dev|test   stop
#
# Profiles use separate ports so tests can run while `make dev` is serving:
#   dev:  ACME 14000 (management 15000), DNS 8053 (management 8055), AWS 5000
#   test: ACME 14100 (management 15100), DNS 8153 (management 8155), AWS 5100
# MOTO_ACM_VALIDATION_WAIT from the caller's environment is passed to moto
# (seconds before an ACM-requested certificate reads ISSUED).
set -euo pipefail

action=${1:?usage: infra/stack.sh up|down dev|test}
profile=${2:?usage: infra/stack.sh up|down dev|test}
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local/$profile"

case "$profile" in
  dev)  acme=14000 acme_mgmt=15000 dns=8053 dns_mgmt=8055 aws=5000 ;;
  test) acme=14100 acme_mgmt=15100 dns=8153 dns_mgmt=8155 aws=5100 ;;
  *) echo "unknown profile $profile" >&2; exit 2 ;;
esac

stop() {
  for name in pebble challtestsrv moto; do
    pidfile="$state/$name.pid"
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

wait_for() { # url, what, [curl options]
  local url=$1 what=$2; shift 2
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$@" "$url"; then return 0; fi
    sleep 0.1
  done
  echo "stack: $what did not start; see $state/*.log" >&2
  exit 1
}

if [ "$action" = down ]; then stop; exit 0; fi
[ "$action" = up ] || { echo "unknown action $action" >&2; exit 2; }

stop
mkdir -p "$state"

# A throwaway CA and a leaf for 127.0.0.1/localhost, for Pebble's HTTPS.
# The CA is trusted by the product's ACME client only (ACME_CA_BUNDLE).
if [ ! -f "$state/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=custom-domains local ACME CA" -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$state/pebble.key" -out "$state/pebble.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$state/leaf.ext"
  openssl x509 -req -in "$state/pebble.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" -CAcreateserial \
    -days 30 -extfile "$state/leaf.ext" -out "$state/pebble.pem" 2>/dev/null
fi
# The local server's token signing key (HS256), standing in for the
# identity provider whose tokens API Gateway's JWT authorizer verifies.
[ -f "$state/jwt-secret" ] || openssl rand -hex 32 >"$state/jwt-secret"

cat >"$state/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$acme",
  "managementListenAddress": "127.0.0.1:$acme_mgmt",
  "certificate": "$state/pebble.pem",
  "privateKey": "$state/pebble.key",
  "httpPort": 0, "tlsPort": 0,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false
}}
JSON

pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$dns_mgmt" \
  -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv6 "" -defaultIPv4 127.0.0.1 \
  >"$state/challtestsrv.log" 2>&1 &
echo $! >"$state/challtestsrv.pid"

# Validation without random sleeps, no authorization reuse; a few nonces are
# rejected in tests (the client must retry), none in dev.
nonce_reject=0; [ "$profile" = test ] && nonce_reject=${PEBBLE_WFE_NONCEREJECT:-10}
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=$nonce_reject PEBBLE_AUTHZREUSE=0 \
  pebble -config "$state/pebble.json" -dnsserver "127.0.0.1:$dns" >"$state/pebble.log" 2>&1 &
echo $! >"$state/pebble.pid"

MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-60} \
  python3 "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$aws" >"$state/moto.log" 2>&1 &
echo $! >"$state/moto.pid"

wait_for "http://127.0.0.1:$dns_mgmt/" "pebble-challtestsrv" -X POST
wait_for "https://127.0.0.1:$acme/dir" "Pebble" --cacert "$state/ca.pem"
wait_for "http://127.0.0.1:$aws/moto-api/" "moto"

export AWS_ENDPOINT_URL="http://127.0.0.1:$aws" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=${AWS_REGION:-eu-west-1}
resources=$(python3 "$root/infra/local/resources.py")

cat >"$state/env" <<ENV
AWS_REGION=$AWS_REGION
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
ACME_DIRECTORY_URL=https://127.0.0.1:$acme/dir
ACME_CA_BUNDLE=$state/ca.pem
ACME_CONTACT_EMAIL=admin@example.com
ACME_POLL_INTERVAL_MS=20
DNS_PRECHECK_RESOLVERS=127.0.0.1:$dns
CHALLTESTSRV_URL=http://127.0.0.1:$dns_mgmt
PEBBLE_MANAGEMENT_URL=https://127.0.0.1:$acme_mgmt
LOCAL_JWT_SECRET_FILE=$state/jwt-secret
PLATFORM_DOMAINS=platform.example,app.platform.example
$resources
ENV
