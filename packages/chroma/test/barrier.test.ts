/**
 * The step barrier on a real Chroma when a write's reply or request is lost (a loopback proxy cuts the connection):
 * the step fails in doubt, a retry or `resolve` reads the markers and answers what really applied, the rest is fenced,
 * and undoing the answer leaves the records as before; `prune` removes what the barrier left.
 */
import { assert, layer } from "@effect/vitest"
import { Operation, type Store, Undo } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChromaStore from "../src/index.js"
import { keyedUndoId, markers } from "../src/internal/barrier.js"
import { config, rawClient, reset, url } from "./harness.js"

class Env extends Context.Tag("Env")<Env, { readonly store: Store; readonly proxy: LossyProxy.LossyProxy }>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function*() {
    const target = new URL(url)
    const proxy = yield* LossyProxy.make({ host: target.hostname, port: Number(target.port) })
    const store = yield* ChromaStore.make(config({ url: Redacted.make(`http://127.0.0.1:${proxy.port}`) }))
    return { store, proxy }
  })
)

const entity = "barrier_cut"
const from = { type: "vector", tag: "vec", entity } as const
const seed = [
  { id: "c1", vector: [1, 0, 0], metadata: { qty: 10 } },
  { id: "c2", vector: [0, 1, 0], metadata: { qty: 10 } }
]

/** Every record as the raw client reads it: id, qty, and the adapter's own keys. */
const held = Effect.promise(async () => {
  const collection = await rawClient().getCollection({ name: entity })
  const got = await collection.get({ include: ["metadatas"] })
  return got.ids.map((id, i) => ({ id, metadata: got.metadatas[i] ?? {} })).sort((a, b) => a.id < b.id ? -1 : 1)
})

const setup = Effect.gen(function*() {
  const { store } = yield* Env
  yield* reset(rawClient(), entity)
  yield* store.execute(yield* Operation.parse({ operation: "insert", from, data: seed }))
})

/**
 * Runs `input` as a fresh step (after `setup`) with the proxy armed to lose the next message matching `pattern` (the
 * request's reply, or the request itself): the step fails in doubt.
 */
const cutOff = (input: unknown, lose: "reply" | "request", pattern: string) =>
  Effect.gen(function*() {
    const { proxy, store } = yield* Env
    yield* setup
    const operation = yield* Operation.parse(input)
    const context = { sagaId: `cut-${crypto.randomUUID()}`, stepId: "step_0" }
    const before = proxy.lost()
    if (lose === "reply") proxy.loseReply(pattern)
    else proxy.loseRequest(pattern)
    const error = yield* Effect.flip(store.execute(operation, context))
    assert.strictEqual(proxy.lost() - before, 1, `the ${lose} was lost`)
    assert.isTrue(error.inDoubt === true, `in doubt: ${error.message}`)
    return { operation, context, store }
  })

layer(EnvLive, { timeout: "60 seconds" })("a Chroma write cut off", (it) => {
  it.effect("an update whose reply was lost is answered applied from its markers, and its undo restores both", () =>
    Effect.gen(function*() {
      // the update request (its records' metadata, in whatever order Chroma returned them)
      const { context, operation: update, store } = yield* cutOff(
        { operation: "update", from, where: { qty: 10 }, data: { qty: 5 } },
        "reply",
        `"metadatas":[{"qty":5,`
      )
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [5, 5], "Chroma applied the update")
      // a retry finds the claim of the attempt whose reply was lost, and both records carrying its marker
      const retried = yield* store.execute(update, context)
      assert.deepStrictEqual(retried.records.map((r) => r["id"]).sort(), ["c1", "c2"], "answered from the markers")
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [5, 5], "not applied twice")

      const resolved = yield* store.resolve!(context, update)
      assert.strictEqual(resolved._tag, "Some")
      if (resolved._tag !== "Some") return
      assert.deepStrictEqual(resolved.value.records.map((r) => r["id"]).sort(), ["c1", "c2"])
      assert.strictEqual(resolved.value.undo.id, retried.undo.id, "the retry's answer is the resolution's")
      yield* store.undo(resolved.value.undo)
      const after = yield* held
      assert.deepStrictEqual(after.map((r) => r.metadata["qty"]), [10, 10], "restored")
      // the step's marker stays until prune (its barrier entry is answered from it); nothing else is left
      assert.isTrue(
        after.every((r) => Object.keys(r.metadata).every((k) => k === "qty" || k.startsWith("polysaga:step:")))
      )
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "markers pruned")
    }))

  it.effect("a delete whose request was lost is answered not applied; the late delete spares the fenced records", () =>
    Effect.gen(function*() {
      // the delete request: the only one that spares fenced records
      const { context, operation: remove, store } = yield* cutOff(
        { operation: "delete", from, where: { qty: 10 } },
        "request",
        `"$ne":"fence"`
      )
      assert.strictEqual((yield* store.resolve!(context, remove))._tag, "None", "nothing applied")
      const fenced = yield* held
      assert.deepStrictEqual(fenced.map((r) => r.id), ["c1", "c2"])
      assert.isTrue(fenced.every((r) => Object.values(r.metadata).includes("fence")), "both records fenced")
      // the same delete arriving late (as Chroma would run it) spares the fenced records
      const key = Object.keys(fenced[0]!.metadata).find((k) => fenced[0]!.metadata[k] === "fence")!
      yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: entity })
        await collection.delete({ ids: ["c1", "c2"], where: { [key]: { $ne: "fence" } } })
      })
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "the late delete deleted nothing")
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "fences pruned")
    }))

  // keyed steps (an insert, an upsert by id) claim no entry: the step's proof is the marker its records carry

  it.effect("a keyed upsert whose reply was lost: a retry answers from its marker, resolve answers applied, undo removes it", () =>
    Effect.gen(function*() {
      // the record's add (the get before it names the id with no embeddings)
      const { context, operation: upsert, store } = yield* cutOff(
        { operation: "upsert", from, data: { id: "k1", vector: [0, 0, 1], metadata: { qty: 1 } } },
        "reply",
        `"ids":["k1"],"embeddings"`
      )
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2", "k1"], "Chroma applied the add")
      // without the step's operation the store cannot tell which records to read: it refuses, it never guesses
      assert.strictEqual((yield* Effect.flip(store.resolve!(context))).reason, "Validation")
      const retried = yield* store.execute(upsert, context)
      assert.deepStrictEqual(retried.records.map((r) => r["id"]), ["k1"], "answered from the record's marker")
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2", "k1"], "not applied twice")
      const resolved = yield* store.resolve!(context, upsert)
      assert.strictEqual(resolved._tag, "Some")
      if (resolved._tag !== "Some") return
      assert.deepStrictEqual(resolved.value.records.map((r) => r["id"]), ["k1"])
      assert.strictEqual(resolved.value.undo.id, retried.undo.id, "the retry's answer is the resolution's")
      assert.isTrue(yield* store.used!(context.sagaId), "a keyed step's saga is known from its records")
      yield* store.undo(resolved.value.undo)
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "undone")
      yield* store.undo(resolved.value.undo)
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "a second undo is a no-op")
    }))

  it.effect("a keyed insert whose request never arrived: resolve fences the generated ids, the late add and a retry apply nothing", () =>
    Effect.gen(function*() {
      // no ids: a keyed step's ids are derived from its saga, step and index, so resolve knows them
      const { context, operation: insert, store } = yield* cutOff(
        {
          operation: "insert",
          from,
          data: [{ vector: [0, 0, 1], metadata: { qty: 7 } }, { vector: [0, 1, 1], metadata: { qty: 8 } }]
        },
        "request",
        `{"qty":7,`
      )
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"])
      assert.strictEqual((yield* store.resolve!(context, insert))._tag, "None", "nothing applied")
      const fenced = (yield* held).filter((r) => r.metadata["polysaga:fence"] === true)
      assert.strictEqual(fenced.length, 2, "a tombstone on each id the step would have generated")
      // the same add arriving late (as Chroma would run it): the tombstones hold the ids, Chroma drops it
      yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: entity })
        await collection.add({
          ids: fenced.map((r) => r.id),
          embeddings: [[0, 0, 1], [0, 1, 1]],
          metadatas: [{ qty: 7 }, { qty: 8 }]
        })
      })
      assert.deepStrictEqual(
        (yield* held).filter((r) => r.metadata["qty"] !== undefined).map((r) => r.id),
        ["c1", "c2"],
        "the late add added nothing"
      )
      // the step again: refused (its ids hold its fence), nothing written
      const again = yield* Effect.flip(store.execute(insert, context))
      assert.strictEqual(again.reason, "Conflict", again.message)
      assert.notStrictEqual(again.inDoubt, true, "refused, not in doubt")
      assert.strictEqual((yield* store.resolve!(context, insert))._tag, "None", "the same answer")
      const visible = yield* store.execute(yield* Operation.parse({ operation: "select", from }))
      assert.deepStrictEqual(visible.records.map((r) => r["id"]).sort(), ["c1", "c2"], "tombstones are never read")
      assert.isAtLeast(yield* store.prune!(0), 2)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "tombstones pruned")
    }))

  it.effect("a keyed insert whose first read lost its reply fails not in doubt: nothing fenced, the step again applies", () =>
    Effect.gen(function*() {
      const { proxy, store } = yield* Env
      yield* setup
      const insert = yield* Operation.parse({
        operation: "insert",
        from,
        data: { id: "k9", vector: [0, 0, 1], metadata: { qty: 9 } }
      })
      const context = { sagaId: `read-${crypto.randomUUID()}`, stepId: "step_0" }
      const before = proxy.lost()
      // the step's own read of its id (its proof), sent before the add (the add names embeddings after the ids)
      proxy.loseReply(`"ids":["k9"],"include"`)
      const error = yield* Effect.flip(store.execute(insert, context))
      assert.strictEqual(proxy.lost() - before, 1, "the read's reply was lost")
      assert.strictEqual(error.inDoubt, false, `sent nothing of the write, so not in doubt: ${error.message}`)
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "nothing written, no tombstone")
      // the saga does not resolve such a step; the same step run again writes its record once
      const again = yield* store.execute(insert, context)
      assert.deepStrictEqual(again.records.map((r) => r["id"]), ["k9"])
      const k9 = (yield* held).filter((r) => r.id === "k9")
      assert.strictEqual(k9.length, 1)
      assert.strictEqual(k9[0]!.metadata["qty"], 9)
      assert.isUndefined(k9[0]!.metadata["polysaga:fence"])
    }))

  it.effect("a keyed step back with another operation on its records is refused; with its own, answered", () =>
    Effect.gen(function*() {
      const { store } = yield* Env
      yield* setup
      const upsert = (qty: number) =>
        Operation.parse({ operation: "upsert", from, data: { id: "k2", vector: [1, 1, 0], metadata: { qty } } })
      const context = { sagaId: `twice-${crypto.randomUUID()}`, stepId: "step_0" }
      const first = yield* store.execute(yield* upsert(1), context)
      const other = yield* Effect.flip(store.execute(yield* upsert(2), context))
      assert.strictEqual(other.reason, "Conflict", other.message)
      assert.include(other.message, "another operation")
      const again = yield* store.execute(yield* upsert(1), context)
      assert.strictEqual(again.undo.id, first.undo.id, "the recorded outcome")
      const k2 = (yield* held).find((r) => r.id === "k2")
      assert.strictEqual(k2?.metadata["qty"], 1, "written once, by the first operation")
    }))

  it.effect("a keyed upsert replacing a record, reply lost: resolve answers applied, undo restores, prune clears", () =>
    Effect.gen(function*() {
      // the record's update (its vector unchanged: no embeddings sent)
      const { context, operation: upsert, store } = yield* cutOff(
        { operation: "upsert", from, data: { id: "c1", vector: [1, 0, 0], metadata: { qty: 3 } } },
        "reply",
        `"ids":["c1"],"metadatas"`
      )
      const resolved = yield* store.resolve!(context, upsert)
      assert.strictEqual(resolved._tag, "Some", "applied: c1 carries the step's marker")
      if (resolved._tag !== "Some") return
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [3, 10])
      yield* store.undo(resolved.value.undo)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [10, 10], "restored")
      assert.isTrue(yield* store.used!(context.sagaId))
      assert.isFalse(yield* store.used!(`cut-${crypto.randomUUID()}`))
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "markers pruned")
      assert.isFalse(yield* store.used!(context.sagaId), "pruned with its markers")
    }))

  // every other step but a delete is marked too: its records carry its proof, found by its saga's key

  /** Runs `effect` with the proxy armed to lose the next message matching `pattern`; it fails in doubt. */
  const lost = <A>(lose: "reply" | "request", pattern: string, effect: Effect.Effect<A, unknown>) =>
    Effect.gen(function*() {
      const { proxy } = yield* Env
      const before = proxy.lost()
      if (lose === "reply") proxy.loseReply(pattern)
      else proxy.loseRequest(pattern)
      const error = yield* Effect.flip(effect)
      assert.strictEqual(proxy.lost() - before, 1, `the ${lose} was lost`)
      assert.isTrue((error as { inDoubt?: boolean }).inDoubt === true, `in doubt: ${String(error)}`)
    })

  it.effect("an update by where whose request was lost: resolve fences it, a retry is refused, a late arrival is answered by the next resolve", () =>
    Effect.gen(function*() {
      const { context, operation: update, store } = yield* cutOff(
        { operation: "update", from, where: { qty: 10 }, data: { qty: 4 } },
        "request",
        `"metadatas":[{"qty":4,`
      )
      assert.strictEqual((yield* store.resolve!(context, update))._tag, "None", "nothing applied")
      const tombstones = (yield* held).filter((r) => r.metadata["polysaga:fence"] === true)
      assert.strictEqual(tombstones.length, 1, "one tombstone holds the step's fence")
      const again = yield* Effect.flip(store.execute(update, context))
      assert.strictEqual(again.reason, "Conflict", again.message)
      assert.notStrictEqual(again.inDoubt, true, "refused, not in doubt")
      assert.deepStrictEqual(
        (yield* held).filter((r) => r.id === "c1" || r.id === "c2").map((r) => r.metadata["qty"]),
        [10, 10]
      )
      assert.strictEqual((yield* store.resolve!(context, update))._tag, "None", "the same answer")
      // the lost request arriving late, as the write sent it: Chroma updates unconditionally (best effort) — the
      // records then carry the step's marker, and the next resolve answers what applied, so it can be undone
      const undoId = keyedUndoId(context)
      const late = yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: entity })
        const got = await collection.get({ ids: ["c1", "c2"], include: ["metadatas", "embeddings"] })
        await collection.update({
          ids: got.ids,
          metadatas: got.ids.map((id, i) => {
            const before = { qty: 10, vector: got.embeddings[i] ?? [], document: null }
            const action = Undo.revert({ id }, update.kind === "update" ? update.changes : [], before, {
              ...before,
              qty: 4
            })
            return {
              qty: 4,
              ...markers({ sagaId: context.sagaId, undoId, fingerprint: "late", count: 2 }, JSON.stringify(action))
            }
          })
        })
      })
      void late
      const answered = yield* store.resolve!(context, update)
      assert.strictEqual(answered._tag, "Some", "the late update is found")
      if (answered._tag !== "Some") return
      assert.deepStrictEqual(answered.value.records.map((r) => r["id"]).sort(), ["c1", "c2"])
      yield* store.undo(answered.value.undo)
      assert.deepStrictEqual(
        (yield* held).filter((r) => r.id === "c1" || r.id === "c2").map((r) => r.metadata["qty"]),
        [10, 10]
      )
      assert.isAtLeast(yield* store.prune!(0), 3)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "tombstone pruned")
    }))

  it.effect("an upsert by key whose add was lost: resolve tombstones the id it would create; the late add and a retry apply nothing", () =>
    Effect.gen(function*() {
      const { context, operation: upsert, store } = yield* cutOff(
        {
          operation: "upsert",
          from,
          data: { vector: [0, 0, 1], metadata: { sku: "n1", qty: 1 } },
          options: { key: ["sku"] }
        },
        "request",
        `"embeddings":[[0,0,1]]`
      )
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "nothing added")
      assert.strictEqual((yield* store.resolve!(context, upsert))._tag, "None", "nothing applied")
      const fenced = (yield* held).filter((r) => r.metadata["polysaga:fence"] === true)
      assert.strictEqual(fenced.length, 1, "the id the step would have created holds a tombstone")
      yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: entity })
        await collection.add({ ids: [fenced[0]!.id], embeddings: [[0, 0, 1]], metadatas: [{ sku: "n1", qty: 1 }] })
      })
      assert.isFalse((yield* held).some((r) => r.metadata["sku"] === "n1"), "the late add added nothing")
      const again = yield* Effect.flip(store.execute(upsert, context))
      assert.strictEqual(again.reason, "Conflict", again.message)
      assert.notStrictEqual(again.inDoubt, true, "refused, not in doubt")
      const visible = yield* store.execute(yield* Operation.parse({ operation: "select", from }))
      assert.deepStrictEqual(visible.records.map((r) => r["id"]).sort(), ["c1", "c2"])
      assert.isTrue(yield* store.used!(context.sagaId), "the fenced saga is known from its tombstone")
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }])
    }))

  it.effect("an upsert by key applied in part (its update's reply lost, its add rolled back): in doubt, resolved to what applied", () =>
    Effect.gen(function*() {
      const { store } = yield* Env
      yield* setup
      yield* store.execute(
        yield* Operation.parse({
          operation: "insert",
          from,
          data: { id: "s1", vector: [1, 1, 1], metadata: { sku: "a", qty: 1 } }
        })
      )
      const upsert = yield* Operation.parse({
        operation: "upsert",
        from,
        data: [
          { vector: [1, 1, 1], metadata: { sku: "a", qty: 2 } },
          { vector: [0, 0, 1], metadata: { sku: "b", qty: 3 } }
        ],
        options: { key: ["sku"] }
      })
      const context = { sagaId: `part-${crypto.randomUUID()}`, stepId: "step_0" }
      yield* lost("reply", `"ids":["s1"],"metadatas"`, store.execute(upsert, context))
      const sku = Effect.map(held, (rows) => rows.filter((r) => typeof r.metadata["sku"] === "string"))
      assert.deepStrictEqual(
        (yield* sku).map((r) => [r.metadata["sku"], r.metadata["qty"]]),
        [["a", 2]],
        "b rolled back"
      )
      // its records hold one of the two writes it counts: a retry is not answered, it stays in doubt
      const again = yield* Effect.flip(store.execute(upsert, context))
      assert.isTrue(again.inDoubt === true, again.message)
      const resolved = yield* store.resolve!(context, upsert)
      assert.strictEqual(resolved._tag, "Some")
      if (resolved._tag !== "Some") return
      assert.deepStrictEqual(resolved.value.records.map((r) => r["id"]), ["s1"], "what applied")
      yield* store.undo(resolved.value.undo)
      assert.deepStrictEqual((yield* sku).map((r) => [r.metadata["sku"], r.metadata["qty"]]), [["a", 1]], "restored")
      assert.isFalse(
        (yield* held).some((r) => r.metadata["sku"] === "b"),
        "b never lands late: its id holds a tombstone"
      )
    }))

  it.effect("concurrent relative updates by where in one store lose no increment (a read is reused only when no write ended)", () =>
    Effect.gen(function*() {
      const { store } = yield* Env
      yield* setup
      const op = yield* Operation.parse({
        operation: "update",
        from,
        where: { qty: { $gte: 0 } },
        data: { qty: { $increment: 1 } }
      })
      yield* Effect.all(
        Array.from(
          { length: 8 },
          (_, i) => store.execute(op, { sagaId: `inc-${crypto.randomUUID()}`, stepId: `step_${i}` })
        ),
        { concurrency: 8 }
      )
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [18, 18])
    }))

  it.effect("used and prune search only the collections the store registered", () =>
    Effect.gen(function*() {
      const { store } = yield* Env
      const foreign = "barrier_foreign"
      yield* reset(rawClient(), foreign)
      // a record that looks marked (a step's time and saga key) in a collection this store never wrote
      const sagaId = `foreign-${crypto.randomUUID()}`
      const look = markers({ sagaId, undoId: "u" }, 1)
      yield* Effect.promise(async () => {
        const collection = await rawClient().createCollection({ name: foreign, embeddingFunction: null })
        await collection.add({ ids: ["f1"], embeddings: [[1, 0, 0]], metadatas: [{ qty: 1, ...look }] })
      })
      assert.isFalse(yield* store.used!(sagaId), "not searched")
      yield* store.prune!(0)
      const kept = yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: foreign })
        return (await collection.get({ include: ["metadatas"] })).metadatas[0]
      })
      assert.deepStrictEqual(kept, { qty: 1, ...look }, "not pruned")
      yield* reset(rawClient(), foreign)
    }))
})
