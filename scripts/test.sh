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
# The consumer test's first half (build, pack, npm install into a fresh project, tsc: no store, about 4 minutes) runs
# beside the Node 20 suite at the lowest CPU priority (nice 19: it takes only what the tests leave idle); its output is
# printed before the second half, at the end.
consumer_work="$(mktemp -d "${TMPDIR:-/tmp}/polysaga-consumer.XXXXXX")"
CONSUMER_STAGE=prepare CONSUMER_WORK="$consumer_work" setsid nice -n 19 bash scripts/consumer-test.sh \
  >"$consumer_work.log" 2>&1 &
consumer_prepare=$!
consumer_prepared=false
# shellcheck disable=SC2317 # run by the trap
stop_consumer_prepare() {
  $consumer_prepared || kill -- "-$consumer_prepare" 2>/dev/null || true
  rm -rf "$consumer_work" "$consumer_work.log"
}
trap stop_consumer_prepare EXIT
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
status=0
wait "$consumer_prepare" || status=$?
consumer_prepared=true
cat "$consumer_work.log"
if [ "$status" != 0 ]; then
  echo "test: the consumer test's first half failed (exit $status)" >&2
  exit 1
fi
NODE_BINS="node $node24" CONSUMER_STAGE=run CONSUMER_WORK="$consumer_work" bash scripts/consumer-test.sh
