/**
 * A node insert's barrier in its own statement, and its undo in one statement, on the real Neo4j: a step run again
 * (or three times at once) creates its nodes once and answers the outcome recorded with their element ids; `resolve`
 * answers the same; a fenced step's late insert is refused; the undo deletes exactly the nodes the step created, once,
 * and refuses (nothing deleted) when another writer changed one (even 1 → 1.0) or attached a relationship to it.
 */
import { assert, layer } from "@effect/vitest"
import { Operation, type Outcome, type Store } from "@polysaga/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type { Driver } from "neo4j-driver"
import * as Neo4j from "../src/index.js"
import { config, nodes, query, rawDriver, reset } from "./utils.js"

class Env extends Context.Tag("Env")<Env, { readonly store: Store; readonly driver: Driver }>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function*() {
    return { store: yield* Neo4j.make(config(20)), driver: yield* rawDriver }
  })
)

const label = "BarrierInsert"

const insert = (data: unknown) =>
  Operation.parse({ operation: "insert", from: { type: "graph", tag: "g", entity: label }, data })

const freshStep = () => ({ sagaId: `neo4j-barrier-${crypto.randomUUID()}`, stepId: "step_1" })

const reasonOf = <A>(exit: Exit.Exit<A, { readonly reason?: string }>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.reason : "no failure"

/** The outcome as it travels (a journal keeps it as JSON). */
const json = (outcome: Outcome) => JSON.parse(JSON.stringify(outcome)) as unknown

layer(EnvLive, { timeout: "60 seconds" })("neo4j: a node insert's barrier and undo", (it) => {
  it.effect("a step run again, or three times at once, creates its nodes once and answers the recorded outcome", () =>
    Effect.gen(function*() {
      const { driver, store } = yield* Env
      yield* reset(driver, label)
      const op = yield* insert([{ name: "a", qty: 1, at: new Date("2026-01-02T03:04:05.678Z") }, {
        name: "b",
        qty: 2.5
      }])
      const context = freshStep()
      const outcomes = yield* Effect.all(
        [store.execute(op, context), store.execute(op, context), store.execute(op, context)],
        { concurrency: 3 }
      )
      const again = yield* store.execute(op, context)
      assert.strictEqual((yield* nodes(driver, label)).length, 2, "created once")
      const ids = (yield* query(driver, `MATCH (n:${label}) RETURN elementId(n) AS id`)).map((r) => r.id).sort()
      const first = outcomes.find((o) => o.records.every((r) => r.at === undefined || r.at instanceof Date))!
      assert.deepStrictEqual(first.records.map((r) => r._elementId).sort(), ids)
      for (const o of [...outcomes, again]) assert.deepStrictEqual(json(o), json(first), "one recorded outcome")
      const resolved = yield* store.resolve!(context)
      assert.isTrue(resolved._tag === "Some")
      if (resolved._tag === "Some") {
        assert.deepStrictEqual(json(resolved.value), json(first))
        yield* store.undo(resolved.value.undo)
      }
      assert.deepStrictEqual(yield* nodes(driver, label), [])
      yield* store.undo(first.undo)
      assert.deepStrictEqual(yield* nodes(driver, label), [], "a second undo changes nothing")
    }))

  it.effect("a fenced step's late insert is refused; a step id with another insert is refused", () =>
    Effect.gen(function*() {
      const { driver, store } = yield* Env
      yield* reset(driver, label)
      const fenced = freshStep()
      assert.strictEqual((yield* store.resolve!(fenced))._tag, "None")
      const late = yield* Effect.exit(store.execute(yield* insert({ name: "late" }), fenced))
      assert.strictEqual(reasonOf(late), "Conflict")
      assert.deepStrictEqual(yield* nodes(driver, label), [], "nothing written")
      const ran = freshStep()
      yield* store.execute(yield* insert({ name: "one" }), ran)
      const other = yield* Effect.exit(store.execute(yield* insert({ name: "two" }), ran))
      assert.strictEqual(reasonOf(other), "Conflict")
      assert.deepStrictEqual(yield* nodes(driver, label), [{ name: "one" }])
    }))

  it.effect("the undo refuses a node another writer changed (1 → 1.0) or attached to, deleting nothing", () =>
    Effect.gen(function*() {
      const { driver, store } = yield* Env
      yield* reset(driver, label)
      const changed = yield* store.execute(yield* insert([{ name: "c", qty: 1 }, { name: "d", qty: 3 }]), freshStep())
      yield* query(driver, `MATCH (n:${label} {name: "c"}) SET n.qty = 1.0`)
      assert.strictEqual(reasonOf(yield* Effect.exit(store.undo(changed.undo))), "Conflict")
      assert.strictEqual((yield* nodes(driver, label)).length, 2, "neither node deleted")
      // the refused undo left no marker: once the property is back, it applies
      yield* query(driver, `MATCH (n:${label} {name: "c"}) SET n.qty = 1`)
      yield* store.undo(changed.undo)
      assert.deepStrictEqual(yield* nodes(driver, label), [])

      const attached = yield* store.execute(yield* insert({ name: "e" }), freshStep())
      yield* query(driver, `MATCH (n:${label} {name: "e"}) CREATE (n)-[:BARRIER_LINK]->(:${label}Other)`)
      assert.strictEqual(reasonOf(yield* Effect.exit(store.undo(attached.undo))), "Conflict")
      assert.deepStrictEqual(yield* nodes(driver, label), [{ name: "e" }])
      yield* reset(driver, `${label}Other`)
    }))

  it.effect("the undo finds a node deleted and re-created by a later step's undo, and skips one already gone", () =>
    Effect.gen(function*() {
      const { driver, store } = yield* Env
      yield* reset(driver, label)
      const created = yield* store.execute(yield* insert([{ name: "f" }, { name: "g" }]), freshStep())
      const removed = yield* store.execute(
        yield* Operation.parse({
          operation: "delete",
          from: { type: "graph", tag: "g", entity: label },
          where: { name: "f" }
        }),
        freshStep()
      )
      yield* store.undo(removed.undo)
      const [recreated] = yield* query(driver, `MATCH (n:${label} {name: "f"}) RETURN elementId(n) AS id`)
      assert.notStrictEqual(recreated!.id, created.records.find((r) => r.name === "f")!._elementId, "a new element id")
      yield* query(driver, `MATCH (n:${label} {name: "g"}) DELETE n`)
      yield* store.undo(created.undo)
      assert.deepStrictEqual(yield* nodes(driver, label), [])
    }))
})
