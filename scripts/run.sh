#!/usr/bin/env bash
# The main job: on a fresh machine it installs everything and runs the saga example (the service comes later).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
pnpm example
