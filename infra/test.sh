#!/usr/bin/env bash
# `make test`: installs what is missing, starts a local stack of its own
# (ports apart from `make dev`'s), then checks formatting and lints and runs
# every test against it. Stops the stack on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash infra/setup.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

# ACM-requested certificates read ISSUED after this many seconds in moto.
export MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-2}
bash infra/stack.sh up test
trap 'bash infra/stack.sh down test' EXIT

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cargo test --locked --workspace
