#!/usr/bin/env bash
# The long fault runs: the service process SIGKILLed under load (embedded and PostgreSQL journals, then three
# instances on one PostgreSQL journal) and each store frozen / stopped under load, with more transactions, kills and
# longer outages than `./scripts/test.sh` runs (apps/server/test/faults; the sizes below can be overridden).
# Prints per-kill recovery times and torn / failed / in-doubt counts; fails on any torn transaction, a record applied
# twice, an answer or a store that disagrees with the journal, or a saga left unfinished.
# shellcheck source=stack-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-ready.sh"
export POLYSAGA_FAULTS_TRANSACTIONS="${POLYSAGA_FAULTS_TRANSACTIONS:-600}"
export POLYSAGA_FAULTS_KILLS="${POLYSAGA_FAULTS_KILLS:-30}"
export POLYSAGA_FAULTS_INSTANCE_KILLS="${POLYSAGA_FAULTS_INSTANCE_KILLS:-12}"
export POLYSAGA_OUTAGE_PHASE_MS="${POLYSAGA_OUTAGE_PHASE_MS:-10000}"
export POLYSAGA_OUTAGE_TIMEOUT_MS="${POLYSAGA_OUTAGE_TIMEOUT_MS:-20000}"
export POLYSAGA_OUTAGE_LONG="${POLYSAGA_OUTAGE_LONG:-all}"
exec pnpm vitest run apps/server/test/faults
