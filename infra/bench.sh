#!/usr/bin/env bash
# `make bench`: the issuance benchmark (shared/benches/issuance.rs) against
# a fresh test stack, optimised build. `make bench-sweep` (`infra/bench.sh
# sweep`): the renewal sweep benchmark (shared/benches/sweep.rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash infra/setup.sh
# No rejected nonces here: the figure is the product's own speed.
export PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0}
bash infra/stack.sh up test
trap 'bash infra/stack.sh down test' EXIT
bench=${1:-issuance}
RUST_LOG=${RUST_LOG:-warn} cargo bench --locked -p custom-domains --bench "$bench"
