#!/usr/bin/env bash
# `make bench`: the issuance benchmark (shared/benches/issuance.rs) against
# a fresh test stack, optimised build. `make bench-sweep` (`infra/bench.sh
# sweep`): the renewal sweep benchmark (shared/benches/sweep.rs).
# `make bench-cold` (`infra/bench.sh cold`): cold starts and memory of every
# function beside a hello-world floor (shared/benches/cold_start.rs).
# `make bench-nonces` (`infra/bench.sh nonces`): issuances with Pebble
# rejecting 0, 10 and 50 % of nonces: how many succeed, how fast.
# `make bench-peers` (`infra/bench.sh peers`): the product's full issuance
# beside certbot's and lego's (Debian packages, installed if missing), on the
# same Pebble and challtestsrv, in one run (infra/bench_peers.py).
# `make bench-year` (`infra/bench.sh year`): a year of BENCH_HOSTNAMES
# hostnames in scaled time, ACME only beside managed with hand-off
# (shared/benches/year.rs).
set -euo pipefail
# shellcheck source=infra/apt.sh
. "$(dirname "$0")/apt.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash infra/setup.sh
# AWS's rates and waits modelled in front of the local AWS
# (infra/local-server/src/aws_rules/) at a hundredth of AWS's own figures,
# as in make test: one ACM import per 10 ms, CloudFront deploys in 3 s, an index is
# 10 ms behind its table.
export LOCAL_AWS_TIME_SCALE=${LOCAL_AWS_TIME_SCALE:-0.01}
if [ "${1:-}" = cold ]; then
  # `make bench-cold`: every function's release binary (and the hello-world
  # floor) under the runtime API emulator in shared/benches/cold_start.rs.
  packages=()
  for f in functions/*/; do packages+=(-p "$(basename "$f")"); done
  cargo build --locked --release -q "${packages[@]}"
  cargo build --locked --release -q -p custom-domains --example hello_lambda
  bash infra/stack.sh up test >/dev/null
  cargo bench --locked -q -p custom-domains --bench cold_start 2>/dev/null | grep -v '^$'
  bash infra/stack.sh down test
  exit 0
fi
if [ "${1:-}" = year ]; then
  # One simulated day is BENCH_DAY_SECONDS wall seconds; the short-lived
  # CA's certificates last Let's Encrypt's 64 days of them.
  day=${BENCH_DAY_SECONDS:-2}
  export BENCH_DAY_SECONDS=$day
  PEBBLE_SHORT_VALIDITY_SECONDS=$(python3 -c "print(round(64 * $day))") PEBBLE_WFE_NONCEREJECT=0 \
    bash infra/stack.sh up test >/dev/null
  trap 'bash infra/stack.sh down test' EXIT
  BENCH_AWS_TIMES=1 AWS_CALLS_RECORD=/dev/null RUST_LOG=${RUST_LOG:-error} \
    cargo bench --locked -q -p custom-domains --bench year 2>.local/test/bench-year.log | grep --line-buffered -v -e '^$' -e '^{"_aws"'
  exit 0
fi
if [ "${1:-}" = nonces ]; then
  # `make bench-nonces`: 50 issuances at each share of rejected nonces.
  for rate in 0 10 50; do
    PEBBLE_WFE_NONCEREJECT=$rate bash infra/stack.sh up test >/dev/null
    BENCH_NONCES=1 PEBBLE_WFE_NONCEREJECT=$rate RUST_LOG=${RUST_LOG:-error} \
      cargo bench --locked -q -p custom-domains --bench issuance 2>/dev/null | grep -v '^$'
  done
  bash infra/stack.sh down test
  exit 0
fi
if [ "${1:-}" = peers ]; then
  missing=()
  command -v certbot >/dev/null 2>&1 || missing+=(certbot)
  command -v lego >/dev/null 2>&1 || missing+=(lego)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-peers: installing ${missing[*]} (apt)"
    apt_install "${missing[@]}"
  fi
  n=${BENCH_PEER_ISSUANCES:-10}
  [ "$n" -ge 1 ] || { echo "bench-peers: BENCH_PEER_ISSUANCES must be at least 1" >&2; exit 1; }
  PEBBLE_WFE_NONCEREJECT=0 bash infra/stack.sh up test >/dev/null
  trap 'bash infra/stack.sh down test' EXIT
  out=$(BENCH_ISSUANCES=$n BENCH_EDGES=own RUST_LOG=${RUST_LOG:-error} \
    cargo bench --locked -q -p custom-domains --bench issuance 2>.local/test/bench-peers.log) ||
    { echo "bench-peers: the product's benchmark failed (see .local/test/bench-peers.log)" >&2; exit 1; }
  echo "$out" | grep -v '^$'
  median=$(echo "$out" | sed -n 's/^own distribution (alias): full issuance.*median=\([0-9.]*\) ms.*/\1/p')
  [ -n "$median" ] || { echo "bench-peers: the product's benchmark gave no median" >&2; exit 1; }
  python3 infra/bench_peers.py "$median" "$n"
  exit 0
fi
# No rejected nonces here: the figure is the product's own speed.
export PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0}
bash infra/stack.sh up test
trap 'bash infra/stack.sh down test' EXIT
bench=${1:-issuance}
RUST_LOG=${RUST_LOG:-warn} cargo bench --locked -p custom-domains --bench "$bench"
