import type { Overview } from "../Journal.js"
import type { SagaRow } from "./statements.js"

/**
 * The journal's overview from its counts by status (with the `failed` ones not resolved by hand), the sagas started
 * per minute of the last hour (`ago`: whole minutes before now) and the latency of the sagas that ended in it.
 * @internal
 */
export const overviewOf = (
  counts: ReadonlyArray<{ readonly status: SagaRow["status"]; readonly n: number; readonly open: number }>,
  minutes: ReadonlyArray<{ readonly ago: number; readonly n: number }>,
  ended: number,
  latency: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number } | undefined
): Overview => {
  const byStatus = { running: 0, completed: 0, compensated: 0, failed: 0 }
  let needsPerson = 0
  for (const row of counts) {
    byStatus[row.status] = row.n
    needsPerson += row.open
  }
  const startedPerMinute = Array.from({ length: 60 }, () => 0)
  for (const row of minutes) {
    if (row.ago >= 0 && row.ago < 60) startedPerMinute[59 - row.ago] = row.n
  }
  return {
    counts: byStatus,
    needsPerson,
    lastHour: { startedPerMinute, ended, ...(latency === undefined ? {} : { latency }) }
  }
}
