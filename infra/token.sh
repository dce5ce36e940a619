#!/usr/bin/env bash
# Prints a bearer token for a tenant, valid a day, signed with the running
# `make dev` stack's local signing key: what the platform's identity
# provider would issue in production.   TOKEN=$(bash infra/token.sh org-1)
# With --operator <name>, a platform operator's token (the operator claim,
# OPERATOR_CLAIM, and no tenant) for the /operator routes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -ge 1 ] || { echo "usage: infra/token.sh <tenant> | --operator <name>" >&2; exit 2; }
[ -f .local/dev/env ] || { echo "start the local stack first: make dev" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. .local/dev/env
set +a
cargo run -q --locked -p local-server -- token "$@"
