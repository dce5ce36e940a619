#!/usr/bin/env bash
# `make check`: the fast tier, without the local stack: formatting, clippy,
# the SAM template's lint, and the unit and property tests (the lifecycle's
# every-state-has-a-way-out property among them). Installs only what that
# needs (`infra/setup.sh check`). `make test` runs all of this and the
# end-to-end suite against the local stack.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/setup.sh check
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cfn-lint template.yaml
cargo test --locked --workspace --lib -q
