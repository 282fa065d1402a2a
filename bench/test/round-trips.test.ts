/**
 * The round-trip budget, counted on the wire (requests, not times): what one step of W4 and its undo send to
 * PostgreSQL, Neo4j, Chroma and MongoDB, and the PostgreSQL journal's statements per saga. A change that adds a
 * round trip fails here; one that removes one updates the budget.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { beforeAll } from "vitest"
import * as RoundTrips from "../src/roundtrips.js"
import * as W4 from "../src/w4.js"

describe("round trips per step", () => {
  beforeAll(async () => {
    const raw = await W4.openRaw()
    try {
      await W4.setup(raw)
    } finally {
      await raw.close()
    }
  })

  it.scoped("PostgreSQL: a step (validate + execute) and its undo cost the raw driver's requests", () =>
    Effect.gen(function*() {
      const raw = (yield* RoundTrips.rawPerWrite()).postgres
      const count = yield* RoundTrips.perStep("postgres")
      // one statement: the barrier row looked up, the INSERT, the barrier row inserted with the recorded write, in
      // data-modifying CTEs (the catalog is kept); undo: the undo-log row and the DELETE in one statement
      assert.deepStrictEqual({ step: count.step, undo: count.undo }, { step: 1, undo: 1 }, JSON.stringify(count.kinds))
      assert.deepStrictEqual({ step: count.step, undo: count.undo }, raw, "the raw driver's requests")
    }))

  it.scoped("PostgreSQL: an update and a delete, and their undos, are one statement each", () =>
    Effect.gen(function*() {
      for (const kind of ["update", "delete"] as const) {
        const count = yield* RoundTrips.perStep("postgres", { write: RoundTrips.postgresWrite(kind) })
        // the step: the barrier, the locked before-image and the write in one statement; the undo: the row locked
        // and checked against the step's after-image (or, for a delete, its key found free), the undo id claimed in
        // the undo log only when the check holds, and the restore gated on that claim, in one statement
        assert.deepStrictEqual(
          { kind, step: count.step, undo: count.undo },
          { kind, step: 1, undo: 1 },
          JSON.stringify(count.kinds)
        )
      }
    }))

  it.scoped("Neo4j: a step and its undo", () =>
    Effect.gen(function*() {
      const count = yield* RoundTrips.perStep("neo4j")
      // the raw write's BEGIN, RUN, COMMIT: the CREATE carries the barrier's MERGE with the outcome; undo: BEGIN, one
      // RUN (the undo marker's MERGE, the node found by its element id, locked, checked against what the step wrote
      // and deleted), COMMIT
      assert.deepStrictEqual({ step: count.step, undo: count.undo }, { step: 3, undo: 3 }, JSON.stringify(count.kinds))
    }))

  it.scoped("Chroma: a step and its undo cost the raw client's requests plus at most one", () =>
    Effect.gen(function*() {
      const raw = (yield* RoundTrips.rawPerWrite()).chroma
      const count = yield* RoundTrips.perStep("chroma")
      // the upsert (by id, creating) is keyed: the get of the record (its before-image, and the step's proof: a retry
      // finds its marker there, a resolution's fence there), the record's add carrying the step's marker — no barrier
      // entry is claimed, nothing is written after (the collection handles are kept); undo: the get of the record
      // (does it carry the step's marker?), the delete guarded by it
      const kinds = JSON.stringify(count.kinds)
      assert.deepStrictEqual({ step: count.step, undo: count.undo }, { step: 2, undo: 2 }, kinds)
      assert.isAtMost(count.step, raw.step + 1, `step: ${count.step} requests, raw ${raw.step}: ${kinds}`)
      assert.isAtMost(count.undo, raw.undo + 1, `undo: ${count.undo} requests, raw ${raw.undo}: ${kinds}`)
    }))

  it.scoped("Chroma: an update, an upsert by key and a delete", () =>
    Effect.gen(function*() {
      const counts = yield* Effect.forEach(
        RoundTrips.chromaOperations,
        (kind) =>
          Effect.map(RoundTrips.perStep("chroma", { write: RoundTrips.chromaWrite(kind) }), (c) => [kind, c] as const)
      )
      const steps = Object.fromEntries(counts.map(([kind, count]) => [kind, count.step]))
      // an update (by id or by where) and an upsert by key are marked like a keyed step: one get reads what the step
      // matches (its before-images) and, in the same request, the records carrying its marker or its fence (by its ids
      // and fence id, or `$or` with its saga's key), then the write carries the marker — the raw write plus the read
      // its before-image needs (Chroma's update takes ids and cannot increment). A read made before the records' locks
      // is kept when no write on the collection ended meanwhile. A delete keeps its barrier entry (its records are gone
      // after it: their before-images must be durable first): the get, the entry's add and its read-back (the claim),
      // the delete guarded by the fence
      assert.deepStrictEqual(
        steps,
        { "update by id": 2, "update by where": 2, "upsert by key": 2, "delete by id": 4 },
        JSON.stringify(Object.fromEntries(counts.map(([kind, count]) => [kind, count.kinds.step])))
      )
    }), { timeout: 60_000 })

  it.scoped("MongoDB: a step and its undo cost the raw driver's requests plus at most one", () =>
    Effect.gen(function*() {
      const raw = (yield* RoundTrips.rawPerWrite()).mongodb
      const count = yield* RoundTrips.perStep("mongodb")
      // the step's barrier entry claimed with the _id the insert will use, then the insert (a generated _id needs no
      // marker; an insert's documents are its record, so no outcome is written after it); undo: the delete
      const kinds = JSON.stringify(count.kinds)
      assert.isAtMost(count.step, raw.step + 1, `step: ${count.step} requests, raw ${raw.step}: ${kinds}`)
      assert.isAtMost(count.undo, raw.undo + 1, `undo: ${count.undo} requests, raw ${raw.undo}: ${kinds}`)
    }))

  it.scoped("the PostgreSQL journal: statements per saga", () =>
    Effect.gen(function*() {
      const count = yield* RoundTrips.journalPerSaga()
      // the plan and the end: every W4 step's store has a barrier, so the steps are journaled by the saga's plan
      // (written before the first step acts) and write no intent; their outcomes ride with the end. The failing W4:
      // the same two — its 5th step failed without doubt, so recovery could never find every step applied and the
      // compensations need no intent (their outcomes ride with the end too)
      assert.deepStrictEqual({ w4: count.w4, failing: count.failing }, { w4: 2, failing: 2 })
    }), { timeout: 60_000 })
})
