#!/usr/bin/env bash
# `make test`: installs what is missing, starts a local stack of its own
# (ports apart from `make dev`'s), then checks formatting, lints the code and
# the SAM template, runs every test against the stack, and checks the
# documentation pages in a headless browser. Stops the stack on exit.
set -euo pipefail
# shellcheck source=infra/apt.sh
. "$(dirname "$0")/apt.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash infra/setup.sh

# ACM-requested certificates read ISSUED after this many seconds in moto.
export MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-2}
# AWS's rates and waits modelled in front of the local AWS
# (infra/local-server/src/aws_rules/), a hundredth of AWS's own here: a
# 30 s pacing window is 300 ms, CloudFront's 5-minute deploy is 3 s, a
# DynamoDB index 10 ms behind its table.
export LOCAL_AWS_TIME_SCALE=${LOCAL_AWS_TIME_SCALE:-0.01}
bash infra/stack.sh up test
trap 'bash infra/stack.sh down test' EXIT

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cfn-lint template.yaml
# The local DynamoDB's Query on candidates (infra/local/moto_server.py)
# answers as moto's own Query does.
python3 infra/local/moto_query_check.py

# The suite records every AWS call each function makes, with its resource
# ARN (see shared/tests/api/support/aws_calls.rs), while every call is
# checked against its function's policy (infra/local-server/src/iam); after
# it, the template's policies are compared with those calls: every action
# called is granted, every grant is used, and removing any one action or
# resource from a policy refuses a recorded call.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rm -f "$target_dir/tmp/aws-calls.tsv"
# The crash tests run the local server as a process of its own.
cargo build --locked -q -p local-server
cargo test --locked --workspace
cargo test --locked -p custom-domains --test api -- --ignored --exact \
  template::policies_match_recorded_calls template::every_part_of_every_policy_is_needed_by_a_recorded_request

# The documentation pages (/docs, /redoc) in a real browser: headless
# Chromium and its driver (Debian packages) and selenium (pip), installed if
# missing, against the local server on the test stack. Screenshots go to
# target/browser/.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "test: installing chromium and chromium-driver (apt)"
  apt_install chromium chromium-driver
fi
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import selenium' >/dev/null 2>&1 || "$PYTHON" -m pip install -q --disable-pip-version-check selenium
(
  set -a
  # shellcheck disable=SC1091
  . .local/test/env
  set +a
  # The browser checks' frontend page is served from 127.0.0.1:9181 (an
  # allowed origin) and 127.0.0.1:9182 (not allowed).
  export LOCAL_ADDR=127.0.0.1:9180 LOCAL_SWEEP_INTERVAL_MS=0 CORS_ALLOWED_ORIGINS=http://127.0.0.1:9181
  "$target_dir/debug/local-server" >.local/test/browser-server.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -s -o /dev/null http://127.0.0.1:9180/openapi.json && break
    sleep 0.1
  done
  # make smoke's whole life of a hostname, over the local server's HTTP API
  # only, as against a deployment (without the TLS step).
  python3 infra/smoke.py --api http://127.0.0.1:9180 --timeout 300 \
    --token-command "$target_dir/debug/local-server token {org}" \
    --publish-txt "curl -sf -X POST $CHALLTESTSRV_URL/set-txt -d '{\"host\": \"{name}.\", \"value\": \"{value}\"}'"
  token=$("$target_dir/debug/local-server" token org-browser)
  "$PYTHON" infra/browser_test.py http://127.0.0.1:9180 "$token" "$target_dir/browser" \
    http://127.0.0.1:9181 http://127.0.0.1:9182
)
