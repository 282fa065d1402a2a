/**
 * Undo on Chroma: the companion collection of applied undo ids (`markerCollection`), and the two-phase apply of an
 * undo record (plan every write first, failing with `Conflict` before writing anything; then write).
 */
import { Store, type StoreError, Undo } from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Catalog } from "./catalog.js"
import { flatten, RecordImage, sameRecord, unflatten, userPart } from "./compile.js"
import type { ChromaRecord, Connection, Stored, Write } from "./connection.js"
import { engine, markerKey, own, sameField, stepKey, stepPrefix } from "./connection.js"

export interface Env {
  readonly conn: Connection
  readonly catalog: Catalog
  /** The companion collection of applied undo ids. */
  readonly markerCollection: string
}

const decodeImage = (image: unknown, entity: string): Effect.Effect<ChromaRecord, StoreError> =>
  Schema.decodeUnknown(RecordImage)(image).pipe(
    Effect.mapError((cause) =>
      Store.fail(engine, "Validation", "undo record: not an image of a Chroma record", { entity, path: "undo", cause })
    )
  )

export interface UndoLog {
  /** Applies an undo record (the caller serializes writes to its collection). */
  readonly apply: (record: Undo.UndoRecord) => Effect.Effect<void, StoreError>
  /** The ids of the records an undo record touches. */
  readonly ids: (record: Undo.UndoRecord) => ReadonlyArray<string>
  /** Applied-undo records older than `olderThan` (by `at_ms`) removed; how many. */
  readonly prune: (cutoff: number) => Effect.Effect<number, StoreError>
}

export const make = (env: Env): UndoLog => {
  /** The companion collection of applied undo ids (one 1-dimensional record per applied undo record). */
  const markers = env.markerCollection
  const { catalog, conn } = env
  const { create, open } = catalog
  const { add, read, remove, replace } = conn

  const isDone = (id: string) =>
    Effect.flatMap(open(markers), (collection) =>
      Option.isNone(collection)
        ? Effect.succeed(false)
        : Effect.map(read(markers, collection.value, { ids: [id], where: undefined }), (rows) => rows.length > 0))

  const markDone = (record: Undo.UndoRecord) =>
    Effect.gen(function*() {
      const existing = yield* open(markers)
      const collection = Option.isSome(existing) ? existing.value : yield* create(markers, 1)
      yield* conn.post("mark undo applied", markers, collection.id, "add", {
        ids: [record.id],
        embeddings: [[0]],
        metadatas: [{ engine, entity: record.entity, at: new Date().toISOString(), at_ms: Date.now() }]
      })
    })

  const keyOf = (action: Undo.UndoAction): unknown => action._tag === "Reinsert" ? action.image.id : action.key.id

  /**
   * The undo of records a step created (nothing else): one read of them, then one `delete`. A record carrying the
   * step's marker (`polysaga:step:<undo id>`, kept until `prune`) is the step's own and is deleted — by a `delete`
   * whose `where` requires that marker, so a retry, or a record re-created meanwhile, is never deleted by mistake: no
   * applied-undo record is needed. A record carrying another step's marker (or a fence tombstone) was written by
   * someone else after this undo ran: it is spared. A record without any step marker (added by `execute` without a
   * step, or before markers were kept) takes the applied-undo path: skipped when the undo id is recorded, else
   * deleted and the undo id recorded.
   */
  const deleteCreated = (record: Undo.UndoRecord, ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const entity = record.entity
      const collection = yield* open(entity)
      if (Option.isNone(collection) || ids.length === 0) return
      const step = stepKey(record.id)
      const rows = yield* conn.read(entity, collection.value, { ids, where: undefined })
      const mine = rows.filter((r) => r.own[step] === 1).map((r) => r.record.id)
      const unmarked = rows.filter((r) => !r.markers.some((key) => key.startsWith(stepPrefix)))
        .map((r) => r.record.id)
      if (mine.length > 0) yield* remove(entity, collection.value, mine, own(step))
      if (unmarked.length > 0 && !(yield* isDone(record.id))) {
        yield* remove(entity, collection.value, unmarked)
        yield* markDone(record)
      }
    })

  /**
   * Applies an undo record. One that only deletes records the step created is `deleteCreated`. Otherwise: an undo id
   * found in the companion collection makes the whole undo a no-op (but for leftover undo markers, removed). Else
   * every record it touches is read and every write planned, failing with `Conflict` before writing anything when a
   * record no longer holds this step's after-image. Then it writes: relative inverses carry the marker key
   * `polysaga:undo:<id>` in the same request (so a retry after a crash never applies them twice); then the undo id
   * goes into the companion collection, then the undo marker keys are removed. The step's own marker stays on the
   * records it wrote (until `prune`): its barrier entry is answered from it.
   */
  const applyUndo = (record: Undo.UndoRecord): Effect.Effect<void, StoreError> =>
    Effect.gen(function*() {
      const entity = record.entity
      const marker = markerKey(record.id)
      const ids = record.actions.map(keyOf)
      const bad = ids.find((id) => typeof id !== "string")
      if (bad !== undefined) {
        return yield* Store.fail(engine, "Validation", "undo record: a Chroma key is { id: string }", {
          entity,
          path: "undo"
        })
      }
      if (record.actions.every((a) => a._tag === "DeleteCreated")) {
        return yield* deleteCreated(record, ids as Array<string>)
      }
      const done = yield* isDone(record.id)
      if (done && !record.actions.some((a) => a._tag === "Revert")) return
      const collection = yield* open(entity)
      const current = new Map<string, Stored>()
      if (Option.isSome(collection) && ids.length > 0) {
        for (const row of yield* read(entity, collection.value, { ids: ids as Array<string>, where: undefined })) {
          current.set(row.record.id, row)
        }
      }
      /** Removes this undo's markers (relative inverses it wrote) once the undo id is recorded. */
      const cleanup = (target: Collection, ids: ReadonlyArray<string>) =>
        ids.length === 0 ? Effect.void : conn.post("remove undo markers", entity, target.id, "update", {
          ids,
          metadatas: ids.map(() => ({ [marker]: null }))
        })
      // records carrying this undo's marker: an earlier attempt wrote their inverse
      const marked = [...current.values()].filter((s) => s.markers.includes(marker)).map((s) => s.record.id)
      if (done) {
        if (Option.isSome(collection)) yield* cleanup(collection.value, marked)
        return
      }
      const conflict = (id: string, message: string) =>
        Store.fail(engine, "Conflict", `record ${JSON.stringify(id)} ${message}: nothing was undone`, {
          entity,
          path: "undo"
        })
      const deletes: Array<string> = []
      const adds: Array<ChromaRecord> = []
      const writes: Array<Write> = []
      for (const action of [...record.actions].reverse()) {
        switch (action._tag) {
          case "DeleteCreated": {
            const id = action.key.id as string
            if (current.has(id)) deletes.push(id)
            break
          }
          case "Reinsert": {
            const image = yield* decodeImage(action.image, entity)
            const stored = current.get(image.id)
            if (stored === undefined) adds.push(image)
            else if (!sameRecord(stored.record, userPart(image))) {
              return yield* conflict(image.id, "was re-created with other contents since it was deleted")
            }
            break
          }
          case "Revert": {
            const id = action.key.id as string
            const stored = current.get(id)
            if (stored === undefined) return yield* conflict(id, "was deleted since it was updated")
            const applied = stored.markers.includes(marker)
            const flat = flatten(stored.record)
            if (!applied) {
              for (const inverse of action.inverse) {
                if (inverse._tag !== "Increment") {
                  return yield* Store.fail(
                    engine,
                    "Validation",
                    "undo record: Chroma metadata holds no arrays to pop",
                    {
                      entity,
                      path: "undo"
                    }
                  )
                }
                const value = flat[inverse.field]
                if (typeof value !== "number") return yield* conflict(id, `holds no number in ${inverse.field}`)
                // a field the step created goes away when nothing else changed it since
                if (inverse.absent === true && value + inverse.by === 0) delete flat[inverse.field]
                else flat[inverse.field] = value + inverse.by
              }
            }
            for (const [field, { after, before }] of Object.entries(action.restore)) {
              const value = flat[field] ?? null
              if (sameField(field, value, after)) {
                if (before === undefined) delete flat[field]
                else flat[field] = before
              } else if (before === undefined ? field in flat : !sameField(field, value, before)) {
                return yield* conflict(id, `no longer holds this step's value of ${field}`)
              }
            }
            const after = unflatten(id, flat)
            const relative = action.inverse.length > 0 && !applied
            if (relative) marked.push(id)
            // the step's own marker stays (until `prune`): the step's barrier still answers that it applied
            if (relative || !sameRecord(after, stored.record)) {
              writes.push({
                before: stored.record,
                after,
                markers: relative ? { [marker]: 1 } : {}
              })
            }
            break
          }
        }
      }
      let target = collection
      if (Option.isNone(target) && adds.length > 0) {
        target = Option.some(yield* create(entity, adds[0]!.vector.length))
      }
      if (Option.isSome(target)) {
        yield* remove(entity, target.value, deletes)
        yield* add(entity, target.value, adds)
        yield* replace(entity, target.value, writes)
      }
      yield* markDone(record)
      if (Option.isSome(target)) yield* cleanup(target.value, marked)
    })

  const prune = (cutoff: number) =>
    Effect.gen(function*() {
      const collection = yield* open(markers)
      if (Option.isNone(collection)) return 0
      const old = yield* read(markers, collection.value, { ids: undefined, where: { at_ms: { $lt: cutoff } } })
      yield* remove(markers, collection.value, old.map((row) => row.record.id))
      return old.length
    })

  const ids = (record: Undo.UndoRecord) => record.actions.map(keyOf).filter((id) => typeof id === "string")

  return { apply: applyUndo, ids, prune }
}
