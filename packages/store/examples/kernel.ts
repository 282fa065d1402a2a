/**
 * The README's store built on the kernel, run by `tools/readme`: a read-only engine (every select answers nothing,
 * every write is refused), checked below through the `Store` the kernel makes.
 */
// #region readme
import { Capabilities, Store } from "@polysaga/store"
import * as Effect from "effect/Effect"

const store = Store.make({
  name: "example",
  capabilities: Capabilities.full({ sourceTypes: ["database"], maxRecordsPerOperation: 100 }),
  prepare: () => Effect.void,
  transaction: (_entity, use) => use(undefined),
  write: (_unit, _prepared, operation, context) =>
    operation.kind === "select"
      ? Effect.succeed({ records: [], actions: [] })
      : Effect.fail(context.fail("UnsupportedOperator", "read-only")),
  undo: () => Effect.void,
  ping: Effect.void
})
// #endregion readme

import { Operation } from "@polysaga/store"

const from = { type: "database", tag: "example", entity: "items" } as const
const [selected, inserted] = await Effect.gen(function*() {
  const select = yield* store.execute(yield* Operation.parse({ operation: "select", from, where: { id: "a" } }))
  const insert = yield* store.execute(yield* Operation.parse({ operation: "insert", from, data: { id: "a" } })).pipe(
    Effect.flip
  )
  return [select, insert] as const
}).pipe(Effect.runPromise)
console.log("select:", selected.records, "insert:", inserted.reason, inserted.message)
if (selected.records.length !== 0 || inserted.reason !== "UnsupportedOperator") throw new Error("unexpected")
