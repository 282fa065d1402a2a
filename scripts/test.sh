#!/usr/bin/env bash
# The test command: on a fresh machine it installs everything, starts the four real stores on loopback,
# then type-checks, lints and runs every test on Node 20, most of them again on Node 24 (see below),
# and the consumer test (scripts/consumer-test.sh: packed tarballs in a fresh npm project, on Node 20 and 24).
# Exits non-zero on any failure.
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
echo "test: vitest on Node $(node --version)"
pnpm test
# the bench's bounded version, so it cannot rot: it prints ratios, it asserts no timing (about 1.5 minutes)
echo "test: bench (quick)"
pnpm bench --quick
node24="$(bash scripts/node24.sh)"
# Node 24 runs every project but the three slowest (journal, neo4j, server: ~4.5 of the ~7 minutes on Node 20);
# the consumer test below runs the packed packages on Node 24 too.
# The adapters' own suites run on Node 20 only: on Node 24 the warehouse's tests drive all four adapters on the
# real stores, and the engine, model and test-kit suites run whole.
echo "test: vitest on Node $("$node24" --version) (saga, store, testing, warehouse)"
"$node24" node_modules/vitest/vitest.mjs run --project @polysaga/saga --project @polysaga/store \
  --project @polysaga/testing --project @polysaga/warehouse
echo "test: consumer (packed packages in a fresh npm project)"
NODE_BINS="node $node24" bash scripts/consumer-test.sh
