#!/usr/bin/env bash
# `make dev`: installs what is missing, starts the local stack (Pebble,
# pebble-challtestsrv, moto, and the deployment's resources in moto) and
# serves every route on http://127.0.0.1:9000 until interrupted, running the
# renewal sweep and the DNS drift checks every LOCAL_SWEEP_INTERVAL_MS
# (default 30 s here) as their EventBridge schedules do in AWS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash infra/setup.sh
echo "dev: building the local server"
cargo build --locked -q -p local-server
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bash infra/stack.sh up dev
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; bash infra/stack.sh down dev' EXIT
trap 'exit 130' INT TERM
set -a
# shellcheck disable=SC1091
. .local/dev/env
set +a
export LOCAL_SWEEP_INTERVAL_MS=${LOCAL_SWEEP_INTERVAL_MS:-30000}
# Renewals waiting for a TXT record are looked at again on every sweep.
export RENEWAL_DNS_RECHECK_SECONDS=${RENEWAL_DNS_RECHECK_SECONDS:-0}

cat <<TXT

Local stack is up (logs in .local/dev/):
  ACME (Pebble behind Boulder's order reuse) $ACME_DIRECTORY_URL
  DNS (challtestsrv)   ${DNS_PRECHECK_RESOLVERS}, management $CHALLTESTSRV_URL
  AWS (moto)           $AWS_ENDPOINT_URL
  CloudFront (ministack) $AWS_ENDPOINT_URL_CLOUDFRONT
  DynamoDB table       $DYNAMODB_TABLE
  KMS key              $KMS_KEY_ID
  Shared edge          $CLOUDFRONT_MULTI_TENANT_DISTRIBUTION_ID (multi-tenant: a distribution tenant per hostname)
  Classic distrib.     $CLOUDFRONT_DISTRIBUTION_ID (not used while there is a shared edge)
  HTTP API             $API_GATEWAY_ID

Every route needs a bearer token naming the caller's tenant; the local
server verifies it with the stack's signing key, as API Gateway would:
  TOKEN=\$(bash infra/token.sh org-1)

Try it (a domain from start to SSL_VALIDATED):
  curl -s -X POST http://127.0.0.1:9000/api/domain/start-certificate/org-1 -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"domain": "shop.example.com"}'
  # publish the TXT record it names, as the tenant would at their DNS host:
  curl -s -X POST $CHALLTESTSRV_URL/set-txt \\
       -d '{"host": "_acme-challenge.shop.example.com.", "value": "<txt_record_value>"}'
  curl -s -X POST http://127.0.0.1:9000/api/domain/complete-certificate/org-1 -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"domain": "shop.example.com"}'

Or delegate once instead of the TXT record (renewals then need nobody):
publish the CNAME start-certificate offers (cname_record_name → cname_record_value):
  curl -s -X POST $CHALLTESTSRV_URL/set-cname \\
       -d '{"host": "_acme-challenge.shop.example.com.", "target": "<cname_record_value>."}'

On the ACM path (ACM issues, API Gateway serves): request a name, publish
the CNAME it names (ACM issues only once it answers, and moto not before
MOTO_ACM_VALIDATION_WAIT seconds), then poll until CONFIGURED:
  curl -s -X POST http://127.0.0.1:9000/domains/request -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"domain": "client.example.com", "workspace_id": "org-1"}'
  curl -s -X POST $CHALLTESTSRV_URL/set-cname \\
       -d '{"host": "<validation_records[0].name>.", "target": "<validation_records[0].value>."}'
  curl -s "http://127.0.0.1:9000/domains/status/<request_id>?domain=client.example.com" -H "authorization: Bearer \$TOKEN"

Where it stands (its "dns" object: does the name point at its edge?), and a
renewal on demand (the sweep and the drift checks run every
$((LOCAL_SWEEP_INTERVAL_MS / 1000)) s; \`make sweep\` and \`make drift-check\` run one by hand):
  curl -s "http://127.0.0.1:9000/api/domain/status/org-1?domain=shop.example.com" -H "authorization: Bearer \$TOKEN"
  curl -s -X POST http://127.0.0.1:9000/api/domain/renew-certificate/org-1 -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"domain": "shop.example.com"}'
  curl -s "http://127.0.0.1:9000/domains" -H "authorization: Bearer \$TOKEN"

The metric lines (CloudWatch Embedded Metric Format, as the functions write
them in Lambda: lines starting {"_aws":...) print here after every call and
every scheduled run.

Serving every route on http://127.0.0.1:9000 (Ctrl-C stops it and the stack).
TXT
"$target_dir/debug/local-server" &
server=$!
wait "$server"
