#!/usr/bin/env bash
# The long fuzz run: 10,000 generated requests (FUZZ_REQUESTS; FUZZ_SEED repeats a run) against the warehouse
# service on the four real stores, started like the tests start them. Prints the status counts; fails on any 5xx,
# a 4xx without a JSON code, a saga unknown to the journal, or a store count off from what completed transactions
# wrote. `./scripts/test.sh` runs the same suite with 1,000 requests.
# shellcheck source=stack-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-ready.sh"
export FUZZ_REQUESTS="${FUZZ_REQUESTS:-10000}"
exec pnpm vitest run apps/server/test/fuzz.test.ts
