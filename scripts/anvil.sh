#!/usr/bin/env bash
# Installs anvil (Foundry's local Ethereum node), pinned, from the npm registry into
# .tools/anvil/ (git-ignored). The archive-builder tests (crates/fetch/tests) start it on
# 127.0.0.1. Idempotent: does nothing when the pinned version is already installed.
# Prints the path of the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

version="1.7.1"
package="@foundry-rs/anvil-linux-amd64"
prefix=".tools/anvil"
binary="$prefix/node_modules/$package/bin/anvil"

if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q "$version"; then
    echo "$binary"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "error: npm is needed to install anvil (apt-get install npm)" >&2
    exit 1
fi
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error \
    "$package@$version" >&2
chmod +x "$binary"
"$binary" --version >&2
echo "$binary"
