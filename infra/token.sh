#!/usr/bin/env bash
# Prints a bearer token for a tenant, valid a day, signed with the running
# `make dev` stack's local signing key: what the platform's identity
# provider would issue in production.   TOKEN=$(bash infra/token.sh org-1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tenant=${1:?usage: infra/token.sh <tenant>}
[ -f .local/dev/env ] || { echo "start the local stack first: make dev" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. .local/dev/env
set +a
cargo run -q --locked -p local-server -- token "$tenant"
