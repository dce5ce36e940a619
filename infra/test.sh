#!/usr/bin/env bash
# `make test`: installs what is missing, starts a local stack of its own
# (ports apart from `make dev`'s), then checks formatting, lints the code and
# the SAM template, and runs every test against the stack. Stops the stack
# on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash infra/setup.sh
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# ACM-requested certificates read ISSUED after this many seconds in moto.
export MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-2}
bash infra/stack.sh up test
trap 'bash infra/stack.sh down test' EXIT

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cfn-lint template.yaml

# The suite records every AWS call each function makes (see
# shared/tests/api/support/aws_calls.rs); after it, the template's policies
# are compared with those calls.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rm -f "$target_dir/tmp/aws-calls.tsv"
cargo test --locked --workspace
cargo test --locked -p custom-domains --test api -- --ignored --exact template::policies_match_recorded_calls
