#!/usr/bin/env bash
# Installs what the local stack and the tests need, skipping what is present:
# Pebble and pebble-challtestsrv (Debian), ministack (PyPI, CloudFront), Knot DNS (knotd, the delegation
# zone's authoritative server taking RFC 2136 updates) and unbound (the
# recursive resolver Pebble validates through) (Debian), openssl and curl
# (Debian), moto server, boto3 and cfn-lint (PyPI). Safe to run again; quiet
# when nothing is missing. On a machine running systemd, the Debian packages
# also enable system-wide knot and unbound services (port 53); the local stack
# does not use them (`systemctl disable --now knot unbound` if they are in the
# way).
#
# `infra/setup.sh check` installs only what `make check` needs (no local
# stack): rustfmt and clippy, cfn-lint, and the documentation assets the
# api-docs crate embeds.
set -euo pipefail
# shellcheck source=infra/apt.sh
. "$(dirname "$0")/apt.sh"
mode=${1:-all}

for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

need_apt=()
if [ "$mode" = all ]; then
  command -v pebble >/dev/null 2>&1 || need_apt+=(pebble)
  command -v pebble-challtestsrv >/dev/null 2>&1 || need_apt+=(pebble)
  # knotd and unbound live in /usr/sbin, which a non-root PATH may lack.
  have_sbin() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
  have_sbin knotd || need_apt+=(knot)
  have_sbin unbound || need_apt+=(unbound)
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  apt_install "${need_apt[@]}"
fi

PYTHON=${PYTHON:-python3}
# PyYAML (a dependency of both moto[server] and cfn-lint) reads the table's
# definition from template.yaml for infra/local/resources.py.
if [ "$mode" = all ]; then
  if ! "$PYTHON" -c 'import moto.server, flask, boto3, yaml' >/dev/null 2>&1 || ! command -v cfn-lint >/dev/null 2>&1; then
    echo "setup: installing moto[server], boto3 and cfn-lint (pip)"
    "$PYTHON" -m pip install -q --disable-pip-version-check 'moto[server]>=5.1,<6' boto3 cfn-lint
    hash -r
  fi
elif ! command -v cfn-lint >/dev/null 2>&1; then
  echo "setup: installing cfn-lint (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check cfn-lint
  hash -r
fi
# pyenv and similar keep scripts behind shims that need a rehash.
command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true

# Swagger UI and ReDoc for the api-docs function, from their published npm
# packages at pinned versions (npm checks each tarball against the
# registry's integrity hash), into .local/docs-assets, where the api-docs
# crate embeds them from at build time.
docs_assets="$(cd "$(dirname "$0")/.." && pwd)/.local/docs-assets"
SWAGGER_UI_VERSION=5.35.0
REDOC_VERSION=2.5.4
if [ "$(cat "$docs_assets/VERSIONS" 2>/dev/null)" != "swagger-ui-dist@$SWAGGER_UI_VERSION redoc@$REDOC_VERSION" ]; then
  echo "setup: fetching swagger-ui-dist $SWAGGER_UI_VERSION and redoc $REDOC_VERSION (npm)"
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm
  fi
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI_VERSION" "redoc@$REDOC_VERSION" >/dev/null 2>&1)
  rm -rf "$docs_assets" && mkdir -p "$docs_assets"
  tar xzf "$work/swagger-ui-dist-$SWAGGER_UI_VERSION.tgz" -C "$work"
  cp "$work/package/swagger-ui-bundle.js" "$work/package/swagger-ui.css" \
     "$work/package/swagger-ui-standalone-preset.js" "$docs_assets/"
  cp "$work/package/LICENSE" "$docs_assets/swagger-ui-LICENSE"
  rm -rf "$work/package"
  tar xzf "$work/redoc-$REDOC_VERSION.tgz" -C "$work"
  # The one thing ReDoc's bundle loads from elsewhere is its logo (from its
  # CDN, with no option to turn it off): pointed at an empty data: URL
  # instead, so the page requests nothing from outside (its content security
  # policy would block it, and log an error).
  sed 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' \
    "$work/package/bundles/redoc.standalone.js" >"$docs_assets/redoc.standalone.js"
  grep -q 'cdn.redoc.ly' "$docs_assets/redoc.standalone.js" && { echo "setup: redoc still loads from its CDN" >&2; exit 1; }
  cp "$work/package/LICENSE" "$docs_assets/redoc-LICENSE"
  rm -rf "$work"
  echo "swagger-ui-dist@$SWAGGER_UI_VERSION redoc@$REDOC_VERSION" >"$docs_assets/VERSIONS"
fi

[ "$mode" = all ] || exit 0

# ministack serves CloudFront locally (moto has no distribution tenants or
# connection groups). It pins its own botocore, so it lives in a virtualenv
# of its own, beside the local stack's state.
ministack_venv="$(cd "$(dirname "$0")/.." && pwd)/.local/ministack"
MINISTACK_VERSION=1.5.33
if ! "$ministack_venv/bin/python" -c "import importlib.metadata as m; assert m.version('ministack') == '$MINISTACK_VERSION'" >/dev/null 2>&1; then
  echo "setup: installing ministack $MINISTACK_VERSION (pip, own virtualenv)"
  if ! "$PYTHON" -m venv --clear "$ministack_venv" >/dev/null 2>&1; then
    apt_install python3-venv
    "$PYTHON" -m venv --clear "$ministack_venv"
  fi
  "$ministack_venv/bin/python" -m pip install -q --disable-pip-version-check "ministack==$MINISTACK_VERSION"
fi
