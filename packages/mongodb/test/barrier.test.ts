/**
 * The step barrier on a real FerretDB when a write is cut off part way: an update of three documents whose reply to
 * the second document's write is lost (FerretDB applied it, the client's connection is cut). The step fails in
 * doubt; `resolve` reads the markers and answers what really applied; the rest is fenced, so a late arrival of the
 * step is refused; undoing the answer leaves the documents exactly as before; `prune` removes what the barrier left.
 */
import { assert, layer } from "@effect/vitest"
import { Operation, type Store } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { MongoClient } from "mongodb"
import * as MongoStore from "../src/index.js"
import { database, rawClient, url } from "./harness.js"

class Env extends Context.Tag("Env")<Env, {
  readonly store: Store
  readonly client: MongoClient
  readonly proxy: LossyProxy.LossyProxy
}>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function*() {
    const target = new URL(url())
    const proxy = yield* LossyProxy.make({ host: target.hostname, port: Number(target.port) })
    const store = yield* MongoStore.make({
      url: Redacted.make(`mongodb://127.0.0.1:${proxy.port}/?directConnection=true`),
      database
    })
    return { store, client: yield* rawClient, proxy }
  })
)

const entity = "barrier_cut"

/** The BSON element `_id: "<id>"` as the query of a single-document write carries it (plain equality). */
const idElement = (id: string) => {
  const value = Buffer.from(`${id}\0`)
  const length = Buffer.alloc(4)
  length.writeInt32LE(value.length)
  return Buffer.concat([Buffer.from([0x02]), Buffer.from("_id\0"), length, value])
}

layer(EnvLive, { timeout: "60 seconds" })("a step cut off part way", (it) => {
  it.effect("resolve answers what applied from the markers, fences the rest, and its undo restores every document", () =>
    Effect.gen(function*() {
      const { client, proxy, store } = yield* Env
      const collection = client.db(database).collection<{ _id: string; qty: number }>(entity)
      yield* Effect.promise(() => collection.deleteMany({}))
      const seed = [{ _id: "c1", qty: 10 }, { _id: "c2", qty: 10 }, { _id: "c3", qty: 10 }]
      yield* Effect.promise(() => collection.insertMany(seed))
      const update = yield* Operation.parse({
        operation: "update",
        from: { type: "database", tag: "db", entity },
        where: { qty: 10 },
        data: { qty: 5 }
      })
      const context = { sagaId: `cut-${crypto.randomUUID()}`, stepId: "step_0" }
      const before = proxy.lost()
      proxy.loseReply(idElement("c2"))
      const error = yield* Effect.flip(store.execute(update, context))
      assert.strictEqual(proxy.lost() - before, 1, "the reply to c2's write was lost")
      assert.isTrue(error.inDoubt === true, `in doubt: ${error.message}`)
      const visible = yield* Effect.promise(() => collection.find({}, { sort: { _id: 1 } }).toArray())
      assert.deepStrictEqual(
        visible.find((d) => d._id === "c2")?.qty,
        5,
        "FerretDB applied the write whose reply was lost"
      )

      // a retry of the step is not applied again: it is in doubt until resolved
      const retried = yield* Effect.flip(store.execute(update, context))
      assert.isTrue(retried.inDoubt === true && retried.reason === "Conflict", retried.message)

      const resolved = yield* store.resolve!(context)
      assert.strictEqual(resolved._tag, "Some")
      if (resolved._tag !== "Some") return
      const applied = resolved.value.records.map((r) => r["_id"]).sort()
      const changed = visible.filter((d) => d.qty === 5).map((d) => d._id).sort()
      assert.deepStrictEqual(applied, changed, "the answer is exactly the documents the step changed")
      assert.isTrue(applied.includes("c2"))
      // asked again, the same answer
      const again = yield* store.resolve!(context)
      assert.isTrue(again._tag === "Some" && again.value.undo.id === resolved.value.undo.id)
      // the late step is answered from the resolution, never applied to the rest
      const late = yield* store.execute(update, context)
      assert.strictEqual(late.undo.id, resolved.value.undo.id)
      const unchanged = yield* Effect.promise(() => collection.find({}, { sort: { _id: 1 } }).toArray())
      assert.deepStrictEqual(unchanged.map((d) => d.qty), visible.map((d) => d.qty), "nothing more applied")
      yield* store.undo(resolved.value.undo)
      const after = yield* Effect.promise(() => collection.find({}, { sort: { _id: 1 } }).toArray())
      assert.deepStrictEqual(after.map((d) => ({ _id: d._id, qty: d.qty })), seed, "every document as before")
      // the fence markers on the documents the step never reached go with prune
      const removed = yield* store.prune!(0)
      assert.isAtLeast(removed, 1)
      const pruned = yield* Effect.promise(() => collection.find({}, { sort: { _id: 1 } }).toArray())
      assert.deepStrictEqual(pruned, seed, "no barrier field left")
    }))

  it.effect("an insert whose reply was lost is answered applied; one whose request was lost is fenced", () =>
    Effect.gen(function*() {
      const { client, proxy, store } = yield* Env
      const collection = client.db(database).collection(entity)
      yield* Effect.promise(() => collection.deleteMany({}))
      const insert = (id: string) =>
        Operation.parse({
          operation: "insert",
          from: { type: "database", tag: "db", entity },
          data: [{ _id: id, qty: 1 }, { _id: `${id}-b`, qty: 2 }]
        })
      const lostReply = { sagaId: `ins-${crypto.randomUUID()}`, stepId: "step_0" }
      proxy.loseReply(idElement("r1"))
      const first = yield* Effect.flip(store.execute(yield* insert("r1"), lostReply))
      assert.isTrue(first.inDoubt === true, first.message)
      const applied = yield* store.resolve!(lostReply)
      // the insert applied (or the adapter's own rollback removed it first): the answer matches the store
      const held = (yield* Effect.promise(() => collection.find({ qty: { $exists: true } }).toArray())).map((d) =>
        d["_id"]
      ).sort()
      assert.deepStrictEqual(
        applied._tag === "Some" ? applied.value.records.map((r) => r["_id"]).sort() : [],
        held,
        "the answer is what the store holds"
      )
      if (applied._tag === "Some") yield* store.undo(applied.value.undo)

      const lostRequest = { sagaId: `ins-${crypto.randomUUID()}`, stepId: "step_0" }
      proxy.loseRequest(idElement("q1"))
      const second = yield* Effect.flip(store.execute(yield* insert("q1"), lostRequest))
      assert.isTrue(second.inDoubt === true, second.message)
      const none = yield* store.resolve!(lostRequest)
      assert.strictEqual(none._tag, "None", "nothing applied")
      // the keys the step announced are occupied: the same insert arriving late cannot write them
      const late = yield* Effect.promise(() =>
        collection.insertOne({ _id: "q1" as never, qty: 1 }).then(() => "inserted", () => "refused")
      )
      assert.strictEqual(late, "refused")
      const users = yield* store.execute(
        yield* Operation.parse({ operation: "select", from: { type: "database", tag: "db", entity }, where: {} })
      )
      assert.deepStrictEqual(users.records, [], "a fence tombstone is never returned")
      yield* store.prune!(0)
      assert.deepStrictEqual(yield* Effect.promise(() => collection.find({}).toArray()), [], "tombstones pruned")
    }))

  it.effect("an insert records no outcome: run again it is answered from its documents; a duplicate _id stays Constraint", () =>
    Effect.gen(function*() {
      const { client, store } = yield* Env
      const collection = client.db(database).collection(entity)
      yield* Effect.promise(() => collection.deleteMany({}))
      const from = { type: "database", tag: "db", entity } as const
      const insert = yield* Operation.parse({ operation: "insert", from, data: [{ qty: 1 }, { _id: "given", qty: 2 }] })
      const context = { sagaId: `again-${crypto.randomUUID()}`, stepId: "step_0" }
      const first = yield* store.execute(insert, context)
      const again = yield* store.execute(insert, context)
      assert.strictEqual(again.undo.id, first.undo.id, "answered with the first attempt's outcome")
      assert.deepStrictEqual(again.undo.actions, first.undo.actions)
      assert.deepStrictEqual(again.records.map((r) => String(r["_id"])), first.records.map((r) => String(r["_id"])))
      assert.strictEqual(yield* Effect.promise(() => collection.countDocuments({})), 2, "applied once")
      const resolved = yield* store.resolve!(context)
      assert.isTrue(resolved._tag === "Some" && resolved.value.undo.id === first.undo.id, "resolve answers it too")
      // this attempt's own claim is not an earlier attempt: a duplicate `_id` fails with its own error
      const duplicate = yield* Effect.flip(store.execute(
        yield* Operation.parse({ operation: "insert", from, data: { _id: "given", qty: 3 } }),
        { sagaId: `dup-${crypto.randomUUID()}`, stepId: "step_0" }
      ))
      assert.strictEqual(duplicate.reason, "Constraint", duplicate.message)
      assert.notStrictEqual(duplicate.inDoubt, true)
      yield* store.undo(first.undo)
      assert.strictEqual(yield* Effect.promise(() => collection.countDocuments({})), 0, "undone")
    }))
})
