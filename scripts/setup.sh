#!/usr/bin/env bash
# Installs what every other script needs on a fresh machine: pnpm (pinned) and the workspace's packages.
# Run by scripts/serve.sh and scripts/test.sh; safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want="$(node -p "require('$root/package.json').packageManager.split('@')[1]")"
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pnpm $want"
  # corepack's signature check fails against this registry; npm installs the same pinned version.
  npm install --global --no-fund --no-audit "pnpm@$want" >/dev/null
  hash -r
fi
echo "setup: pnpm install --frozen-lockfile"
(cd "$root" && pnpm install --frozen-lockfile)
