import { assert, layer } from "@effect/vitest"
import { Operation } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Neo4j from "../src/index.js"
import { config, nodes, query, rawDriver, reset } from "./utils.js"

const Live = Neo4j.layer(config())

const setup = Effect.gen(function*() {
  const driver = yield* rawDriver
  yield* reset(driver, "neo4j_barrier")
  yield* query(driver, "CREATE (:neo4j_barrier {id: 'a', n: 10})")
  return driver
})

const decrement = Effect.runSync(Operation.parse({
  operation: "update",
  from: { type: "graph", tag: "graph", entity: "neo4j_barrier" },
  data: { n: { $decrement: 1 } },
  where: { id: "a" }
}))

layer(Layer.mergeAll(Live), { excludeTestServices: true, timeout: "60 seconds" })("neo4j step barrier", (it) => {
  it.scoped("a step run again (or concurrently) applies once and returns its recorded outcome", () =>
    Effect.gen(function*() {
      const driver = yield* setup
      const store = yield* Neo4j.Neo4jStore
      const context = { sagaId: crypto.randomUUID(), stepId: "step_0" }
      const outcomes = yield* Effect.all(
        [store.execute(decrement, context), store.execute(decrement, context), store.execute(decrement, context)],
        { concurrency: 3 }
      )
      assert.deepStrictEqual(yield* nodes(driver, "neo4j_barrier"), [{ id: "a", n: 9 }])
      assert.isTrue(outcomes.every((o) => o.undo.id === outcomes[0]!.undo.id))
      const resolved = yield* store.resolve!(context)
      assert.isTrue(resolved._tag === "Some" && resolved.value.undo.id === outcomes[0]!.undo.id)
      if (resolved._tag === "Some") yield* store.undo(resolved.value.undo)
      assert.deepStrictEqual(yield* nodes(driver, "neo4j_barrier"), [{ id: "a", n: 10 }])
    }))

  it.scoped("resolving a step that never applied fences it: it is refused when it arrives late", () =>
    Effect.gen(function*() {
      const driver = yield* setup
      const store = yield* Neo4j.Neo4jStore
      const context = { sagaId: crypto.randomUUID(), stepId: "step_2" }
      assert.strictEqual((yield* store.resolve!(context))._tag, "None")
      const late = yield* Effect.flip(store.execute(decrement, context))
      assert.strictEqual(late.reason, "Conflict")
      assert.deepStrictEqual(yield* nodes(driver, "neo4j_barrier"), [{ id: "a", n: 10 }])
      assert.strictEqual((yield* store.resolve!(context))._tag, "None")
    }))

  it.scoped("prune removes barrier records and undo markers past the retention", () =>
    Effect.gen(function*() {
      const driver = yield* setup
      const store = yield* Neo4j.Neo4jStore
      const context = { sagaId: crypto.randomUUID(), stepId: "step_5" }
      const outcome = yield* store.execute(decrement, context)
      yield* store.undo(outcome.undo)
      yield* store.prune!("1 hour")
      assert.strictEqual((yield* store.resolve!(context))._tag, "Some", "a fresh record stays")
      assert.isAtLeast(yield* store.prune!("0 millis"), 2, "the step's record and the undo's marker")
      assert.strictEqual((yield* store.resolve!(context))._tag, "None", "the step's record is gone")
      assert.deepStrictEqual(yield* nodes(driver, "neo4j_barrier"), [{ id: "a", n: 10 }])
    }))

  it.scoped("a step id that comes back with another operation is refused, not answered with the first outcome", () =>
    Effect.gen(function*() {
      const driver = yield* setup
      const store = yield* Neo4j.Neo4jStore
      const context = { sagaId: crypto.randomUUID(), stepId: "step_0" }
      yield* store.execute(decrement, context)
      const other = yield* Operation.parse({
        operation: "update",
        from: decrement.source.type === "graph"
          ? { type: "graph", tag: "graph", entity: decrement.entity }
          : { type: "database", tag: "db", entity: decrement.entity },
        data: { n: { $decrement: 5 } },
        where: { id: decrement.source.type === "graph" ? "a" : 1 }
      })
      const refused = yield* Effect.flip(store.execute(other, context))
      assert.strictEqual(refused.reason, "Conflict")
      assert.include(refused.message, "already ran another operation")
      assert.deepStrictEqual(yield* nodes(driver, "neo4j_barrier"), [{ id: "a", n: 9 }])
    }))
})
