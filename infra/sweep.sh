#!/usr/bin/env bash
# `make sweep`: one renewal sweep against the running `make dev` stack, as
# the `renewal-sweep` function's schedule runs it in AWS; prints what
# it did (due hostnames, renewed, waiting for DNS, failed, items read).
# `make drift-check` (infra/sweep.sh drift-check): one round of DNS drift
# checks, as `drift-check` runs in AWS. `infra/sweep.sh renew <hostname>`:
# the platform's renew-now of any tenant's hostname (the renewal-sweep
# function invoked with {"renew_now": "<hostname>"}).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f .local/dev/env ] || { echo "start the local stack first: make dev" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. .local/dev/env
set +a
cargo run -q --locked -p local-server -- "${@:-sweep}"
