#!/usr/bin/env bash
# Sourced (not run) by the scripts that run something on the stack (serve.sh, fuzz.sh, faults.sh): strict mode, the
# repository root as the working directory (`$root`), everything installed (scripts/setup.sh) and the four stores up
# on loopback (`pnpm stack:up`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
pnpm stack:up
