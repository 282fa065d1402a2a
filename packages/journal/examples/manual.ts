/**
 * The journal README's "Manual intervention", run by `tools/readme` (an embedded SQLite journal in a temp dir, no
 * server): a saga whose refund fails ends `failed`; once refunds work again, the example's region lists the failed
 * sagas and retries their compensation; it checks that the saga ended `compensated`, and exits.
 */
import { SqliteJournal } from "@polysaga/journal"
import { Saga, Step } from "@polysaga/saga"
import { Data, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

class PaymentsDown extends Data.TaggedError("PaymentsDown")<{}> {}
class OutOfStock extends Data.TaggedError("OutOfStock")<{}> {}

// what the example needs: a saga that failed — its charge could not be refunded while payments were down
let paymentsDown = true
const refunds: Array<number> = []
const charge = Step.define({
  name: "charge",
  result: Schema.Number,
  compensate: (amount) => paymentsDown ? Effect.fail(new PaymentsDown()) : Effect.sync(() => void refunds.push(amount))
})
const registry = Step.registry(charge)
const order = Saga.make(
  "order",
  Effect.gen(function*() {
    yield* Saga.step(Step.fromDefinition(charge, Effect.succeed(10)))
    yield* Saga.step(Step.make({ name: "reserve", action: Effect.fail(new OutOfStock()) }))
  })
)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-readme-"))
const JournalLive = SqliteJournal.layer({ dir })

// #region readme
import { Journal } from "@polysaga/journal"
import { Effect } from "effect"

const retryFailed = Effect.gen(function*() {
  const failed = yield* Journal.failed() // [{ id, name, error, startedAt, endedAt, pending: [{ stepId, name, error? }], inDoubt }]
  for (const saga of failed) {
    const result = yield* Journal.retryCompensation(saga.id, registry) // compensated, or failed with the new error
    console.log(saga.name, saga.pending.map((step) => step.name), "→", result.status) // order [ 'charge' ] → compensated
  }
})
// #endregion readme

const outcome = await Effect.gen(function*() {
  const first = yield* Saga.execute(order)
  paymentsDown = false
  yield* retryFailed
  return { first: first.status, failedAfter: (yield* Journal.failed()).length }
}).pipe(Effect.provide(JournalLive), Effect.runPromise)
fs.rmSync(dir, { recursive: true, force: true })
if (outcome.first !== "failed" || outcome.failedAfter !== 0 || refunds.length !== 1) {
  throw new Error(`expected failed, then compensated once: ${JSON.stringify({ outcome, refunds })}`)
}
