/**
 * The README's examples of the store alone, run by `tools/readme` against the stack (`.stack/env`): an upsert
 * validated, executed and undone, then the layer from configuration. Each exits by itself.
 */
// #region readme:alone
import * as ChromaStore from "@polysaga/chroma"
import { Operation } from "@polysaga/store"
import { Effect, Redacted } from "effect"

const program = Effect.gen(function*() {
  const store = yield* ChromaStore.ChromaStore
  const op = yield* Operation.parse({
    operation: "upsert",
    from: { type: "vector", tag: "user-behavior", entity: "readme_behaviors" },
    data: { id: "user_123_purchase", vector: [0.12, 0.56, 0.33], metadata: { action: "purchase", amount: 99.99 } }
  })
  yield* store.validate(op) // nothing written: operators, identifiers, record shape, vector dimension
  const outcome = yield* store.execute(op) // { records, affected, undo }
  // … a later step failed:
  yield* store.undo(outcome.undo) // deletes the record if the upsert created it, else restores the old one
  return outcome.affected
})

const affected = await program.pipe(
  Effect.provide(ChromaStore.layer({ url: Redacted.make(process.env.POLYSAGA_CHROMA_URL!), dimension: 3 })),
  Effect.runPromise
)
console.log(`upserted ${affected}, then undone`)
// #endregion readme:alone

process.env.CHROMA_URL = process.env.POLYSAGA_CHROMA_URL
process.env.CHROMA_DIMENSION = "3"
// #region readme:config
import { Config, Option } from "effect"

const ChromaLive = ChromaStore.layerConfig({
  url: Config.redacted("CHROMA_URL"),
  token: Config.option(Config.redacted("CHROMA_TOKEN")).pipe(Config.map(Option.getOrUndefined)),
  dimension: Config.integer("CHROMA_DIMENSION")
})
// #endregion readme:config

await program.pipe(Effect.provide(ChromaLive), Effect.runPromise)
console.log("the layer from configuration works the same")
