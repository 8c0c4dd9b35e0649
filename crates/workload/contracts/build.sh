#!/usr/bin/env bash
# Rebuilds contracts/out/ from contracts/src/ with the pinned solc (npm package, no download).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.js
