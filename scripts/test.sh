#!/usr/bin/env bash
# The test command: on a fresh machine it installs everything, starts the four real stores on loopback,
# then type-checks, lints and runs every test. Exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/setup-browser.sh
pnpm stack:up
echo "test: type check"
pnpm check
echo "test: lint"
pnpm lint
echo "test: vitest"
pnpm test
