/**
 * The README's standalone usage, type-checked with the package (`tsc -b packages/chroma`); not run by the tests.
 */
import * as ChromaStore from "@polysaga/chroma"
import { Operation } from "@polysaga/store"
import { Config, Effect, Option, Redacted } from "effect"

const program = Effect.gen(function*() {
  const store = yield* ChromaStore.ChromaStore
  const op = yield* Operation.parse({
    operation: "upsert",
    from: { type: "vector", tag: "user-behavior", entity: "behaviors" },
    data: { id: "user_123_purchase", vector: [0.12, 0.56, 0.33], metadata: { action: "purchase", amount: 99.99 } }
  })
  yield* store.validate(op)
  const outcome = yield* store.execute(op)
  yield* store.undo(outcome.undo)
})

export const a = program.pipe(
  Effect.provide(ChromaStore.layer({ url: Redacted.make("http://127.0.0.1:8000"), dimension: 3 }))
)
export const b = ChromaStore.layerConfig({
  url: Config.redacted("CHROMA_URL"),
  token: Config.option(Config.redacted("CHROMA_TOKEN")).pipe(Config.map(Option.getOrUndefined)),
  dimension: Config.integer("CHROMA_DIMENSION")
})
