#!/usr/bin/env bash
# `make package`: builds every function for AWS Lambda (provided.al2023,
# arm64) with cargo-lambda, as `sam build` does, and reports each binary's
# size and its zipped size. Installs cargo-lambda, zig and the arm64 Rust
# target if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The api-docs function embeds Swagger UI and ReDoc, which setup fetches.
bash infra/setup.sh
PYTHON=${PYTHON:-python3}
if ! command -v cargo-lambda >/dev/null 2>&1 || ! "$PYTHON" -c 'import ziglang' >/dev/null 2>&1; then
  echo "package: installing cargo-lambda and ziglang (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check cargo-lambda ziglang
  command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
fi
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu

functions=$(ls functions)
packages=()
for f in $functions; do packages+=(-p "$f"); done
cargo lambda build --locked --release --arm64 --output-format zip "${packages[@]}"

target_dir=$(cargo metadata --format-version 1 --no-deps | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
printf '%-24s %12s %12s\n' function binary zipped
for f in $functions; do
  bin="$target_dir/aarch64-unknown-linux-gnu/release/$f"
  zip="$target_dir/lambda/$f/bootstrap.zip"
  printf '%-24s %12s %12s\n' "$f" "$(stat -c %s "$bin")" "$(stat -c %s "$zip")"
done
echo "zips: $target_dir/lambda/<function>/bootstrap.zip"
