/**
 * The journal README's first example (the core alone), run by `tools/readme` against the stack (`.stack/env`): a
 * saga of two journal-able steps on a PostgreSQL journal in a database of its own (`JOURNAL_URL`), with the
 * recovery runner; it checks that the journal holds the saga, ended, and exits.
 */
import * as Redacted from "effect/Redacted"

// what the example needs: the database of its journal
process.env.JOURNAL_URL = Redacted.value(
  await Effect.runPromise(PostgresJournal.createDatabase(process.env.POLYSAGA_PG_URL!, "polysaga_readme_journal"))
)

// #region readme
import { Journal, PostgresJournal, Recovery } from "@polysaga/journal"
import { Saga, Step } from "@polysaga/saga"
import { Config, Effect, Layer, Schema } from "effect"

// The StepDefinitions your sagas use: a restarted process rebuilds their compensations from the journal.
const reservation = Step.define({
  name: "reserve",
  result: Schema.Struct({ sku: Schema.String, quantity: Schema.Number }),
  compensate: (r) => Effect.log(`release ${r.quantity} × ${r.sku}`)
})
const payment = Step.define({ name: "charge", result: Schema.Number, compensate: (n) => Effect.log(`refund ${n}`) })
const registry = Step.registry(reservation, payment)

const JournalLive = PostgresJournal.layerConfig({ url: Config.redacted("JOURNAL_URL") })
// or, without a server: SqliteJournal.layer({ dir: "./data/journal" })

const AppLive = Recovery.layer(registry).pipe(Layer.provideMerge(JournalLive))

const order = Saga.make(
  "order",
  Effect.gen(function*() {
    yield* Saga.step(Step.fromDefinition(reservation, Effect.succeed({ sku: "apple", quantity: 2 })))
    yield* Saga.step(Step.fromDefinition(payment, Effect.succeed(10)))
  })
)

const program = Effect.gen(function*() {
  const result = yield* Saga.execute(order) // Saga.run / Saga.execute journal to it
  const [saga] = yield* Journal.list({ limit: 1 })
  return { result, saga }
})
const { result, saga } = await program.pipe(Effect.provide(AppLive), Effect.runPromise)
console.log(result.status, saga?.id === result.id, saga?.status) // completed true completed
// #endregion readme

if (result.status !== "completed" || saga?.id !== result.id || saga.status !== "completed") {
  throw new Error(`expected the journal to hold the completed saga ${result.id}, got ${JSON.stringify(saga)}`)
}
