import { TestStore } from "@polysaga/testing"
import { Conformance } from "@polysaga/testing/conformance"
import * as Effect from "effect/Effect"

// The proof that the kernel is complete: an in-memory store built only from `Store.make` primitives passes the
// whole conformance suite (barrier included).
Conformance.run({
  name: "TestStore",
  sourceType: "database",
  schemaful: false,
  atomicRelativeUndo: true,
  numRuns: 40,
  make: Effect.gen(function*() {
    const store = yield* TestStore.make({ maxRecordsPerOperation: 20 })
    return {
      store,
      reset: store.reset,
      snapshot: store.snapshot,
      fromRow: (row) => {
        const r = row as Record<string, any>
        return { id: r.id, name: r.name, qty: r.qty, price: r.price, tags: r.tags, active: r.active, note: r.note }
      }
    }
  })
})
