/**
 * Applying undo records (idempotent; the undo log collection and the undo marker field are this module's).
 *
 * - `DeleteCreated`: `deleteOne` by `_id` (idempotent by nature).
 * - `Reinsert`: `insertOne` of the image; on a duplicate key, an existing record equal to the image is a no-op,
 *   a different one a `Conflict`.
 * - `Revert`, without multi-document transactions (FerretDB has none), one document at a time:
 *   1. read the document; if it carries this undo's id in its marker field, the inverse is already written:
 *      go to 4;
 *   2. if the undo log holds `(undo id, entity, _id)`, it was applied before: done;
 *   3. plan from the document just read (checked restores: current = after → before, current = before → skip,
 *      else `Conflict`; relative inverses: `$inc` by the opposite amount, the last occurrence of the pushed
 *      value removed) and write it with ONE `updateOne` whose filter pins every field it touches to the value
 *      read and requires the marker not to hold the undo id, adding the undo id to the marker in the same
 *      write (single-document atomic). If the filter no longer matches (another writer came in between), go
 *      back to 1 (bounded, with jitter): no concurrent write is ever lost;
 *   4. log `(undo id, entity, _id)` in the undo log collection, then remove the marker from the document.
 *
 * A crash between 3 and 4 leaves the marker in the document until the undo is applied again (compensations
 * are retried), which only finishes 4. The one window left: a duplicate application that read the document
 * before the first one's step 3 and writes after its step 4 is refused by the pins, unless another writer
 * restored exactly the pinned values in between.
 */
import { Identifier, Operation, type StoreError, type Undo } from "@polysaga/store"
import * as Effect from "effect/Effect"
import type { Collection, Document } from "mongodb"
import { stepField } from "./barrier.js"
import {
  absent,
  byId,
  canonical,
  checkField,
  decode,
  decodeValue,
  encodeField,
  encodeWhole,
  isAbsent,
  type Query,
  same
} from "./compile.js"
import { call, type Env, fail, isDuplicateKey } from "./connection.js"

const join = Operation.joinPath

/** The field that holds the ids of undo records being applied to a document. */
export const markerField = "_polysaga_undo"

/** An entry of the undo log: this undo record's `Revert` was applied to this document. */
export interface LogEntry {
  readonly _id: string
  readonly undo: string
  readonly entity: string
  readonly at: Date
}

const maxAttempts = 40

const keyOf = (entity: string, key: Undo.Image, path: string): Effect.Effect<unknown, StoreError> =>
  key["_id"] === undefined
    ? Effect.fail(fail("Validation", "an undo key holds the record's _id", { entity, path }))
    : Effect.succeed(decodeValue(key["_id"]))

const deleteCreated = (env: Env, collection: Collection, entity: string, key: Undo.Image, path: string) =>
  Effect.flatMap(
    keyOf(entity, key, path),
    (id) => env.lock(entity, id, call(entity, "deleteOne", () => collection.deleteOne(byId(id))))
  )

const reinsert = (env: Env, collection: Collection, entity: string, image: Undo.Image, path: string) =>
  Effect.gen(function*() {
    const doc = decode(image)
    const id = yield* keyOf(entity, image, path)
    yield* env.lock(entity, id, call(entity, "insertOne", () => collection.insertOne(doc))).pipe(
      Effect.catchIf(
        (e) => isDuplicateKey(e.cause),
        (e) =>
          Effect.flatMap(
            call(entity, "findOne", () => collection.findOne(byId(id))),
            (existing) =>
              existing !== null && same(encodeWhole(existing), image)
                ? Effect.void
                : Effect.fail(
                  fail(
                    "Conflict",
                    existing === null
                      ? "cannot re-insert the deleted record: another record holds one of its unique keys"
                      : "cannot re-insert the deleted record: another record with its _id exists and differs",
                    { entity, path, cause: e.cause }
                  )
                )
          )
      )
    )
  })

const markersOf = (doc: Document): ReadonlyArray<unknown> => {
  const markers = doc[markerField]
  return Array.isArray(markers) ? markers : []
}

/** The field as read, as a filter: the write only happens if it still holds it. */
const pin = (doc: Document, field: string): Query =>
  field in doc && doc[field] !== undefined ? { [field]: { $eq: doc[field] } } : { [field]: { $exists: false } }

type Revert = Extract<Undo.UndoAction, { _tag: "Revert" }>

interface Plan {
  readonly update: Record<string, Record<string, unknown>>
  readonly pins: ReadonlyArray<Query>
}

const plan = (entity: string, doc: Document, action: Revert, path: string): Effect.Effect<Plan, StoreError> => {
  const set: Record<string, unknown> = {}
  const unset: Record<string, ""> = {}
  const inc: Record<string, number> = {}
  const pins: Array<Query> = []
  for (const [field, restore] of Object.entries(action.restore)) {
    const { after } = restore, before = restore.before === undefined ? absent : restore.before
    const current = encodeField(doc, field)
    if (same(current, after)) {
      if (same(before, after)) continue
      if (isAbsent(before)) unset[field] = ""
      else set[field] = decodeValue(before)
      pins.push(pin(doc, field))
    } else if (!same(current, before)) {
      return Effect.fail(
        fail(
          "Conflict",
          `${field} holds ${canonical(current)}, neither this step's ${canonical(after)} nor ${
            canonical(before)
          }: another writer changed it, nothing was overwritten`,
          { entity, path: join(path, field) }
        )
      )
    }
  }
  for (const inverse of action.inverse) {
    const current = doc[inverse.field]
    const at = join(path, inverse.field)
    if (inverse._tag === "Increment") {
      if (inverse.by === 0) continue
      if (typeof current !== "number") {
        return Effect.fail(fail("Conflict", `${inverse.field} no longer holds a number`, { entity, path: at }))
      }
      // a field the step created goes away when nothing else changed it since
      if (inverse.absent === true && current + inverse.by === 0) unset[inverse.field] = ""
      else inc[inverse.field] = inverse.by
      pins.push(pin(doc, inverse.field))
    } else {
      if (current === undefined) continue
      if (!Array.isArray(current)) {
        return Effect.fail(fail("Conflict", `${inverse.field} no longer holds an array`, { entity, path: at }))
      }
      let index = current.length - 1
      while (index >= 0 && !same(encodeField({ v: current[index] }, "v"), inverse.value)) index--
      if (index < 0) continue
      const rest = current.filter((_, i) => i !== index)
      if (inverse.absent === true && rest.length === 0) unset[inverse.field] = ""
      else set[inverse.field] = rest
      pins.push(pin(doc, inverse.field))
    }
  }
  const update: Record<string, Record<string, unknown>> = {}
  if (Object.keys(set).length > 0) update["$set"] = set
  if (Object.keys(unset).length > 0) update["$unset"] = unset
  if (Object.keys(inc).length > 0) update["$inc"] = inc
  return Effect.succeed({ update, pins })
}

const revert = (env: Env, collection: Collection, undoId: string, entity: string, action: Revert, path: string) =>
  Effect.gen(function*() {
    for (const field of [...Object.keys(action.restore), ...action.inverse.map((i) => i.field)]) {
      yield* checkField(entity, field, join(path, field))
      if (field === "_id") return yield* fail("Validation", "_id is immutable", { entity, path: join(path, field) })
    }
    const id = yield* keyOf(entity, action.key, path)
    const logId = `${undoId}/${entity}/${canonical(action.key["_id"])}`
    const finish = Effect.gen(function*() {
      yield* call(
        entity,
        "insertOne (undo log)",
        () => env.log.insertOne({ _id: logId, undo: undoId, entity, at: new Date() })
      ).pipe(
        Effect.catchIf((e) => isDuplicateKey(e.cause), () => Effect.void)
      )
      yield* call(
        entity,
        "updateOne (marker)",
        // the step marker of the step this undoes goes with it: the document is left as it was before the step
        () =>
          collection.updateOne(byId(id), {
            $pull: { [markerField]: undoId },
            $unset: { [stepField(undoId)]: "" }
          } as Document)
      )
      yield* call(
        entity,
        "updateOne (marker)",
        () => collection.updateOne(byId(id, { [markerField]: { $size: 0 } }), { $unset: { [markerField]: "" } })
      )
    })
    const attempt = Effect.gen(function*() {
      const doc = yield* call(entity, "findOne", () => collection.findOne(byId(id)))
      if (doc !== null && markersOf(doc).includes(undoId)) return yield* finish
      const logged = yield* call(entity, "findOne (undo log)", () => env.log.findOne({ _id: logId }))
      if (logged !== null) return
      if (doc === null) {
        return yield* fail("Conflict", "the record this step updated was deleted by another writer", { entity, path })
      }
      const { pins, update } = yield* plan(entity, doc, action, path)
      if (Object.keys(update).length === 0) return yield* finish
      const result = yield* call(
        entity,
        "updateOne",
        () =>
          collection.updateOne(byId(id, { [markerField]: { $ne: undoId } }, ...pins), {
            ...update,
            $addToSet: { [markerField]: undoId }
          } as Document)
      )
      if (result.matchedCount === 1) return yield* finish
      return "retry" as const
    })
    for (let i = 0; i < maxAttempts; i++) {
      if (i > 0) yield* Effect.sleep(`${Math.round(2 + Math.random() * 8 * Math.min(i, 5))} millis`)
      if ((yield* env.lock(entity, id, attempt)) !== "retry") return
    }
    return yield* fail(
      "Deadlock",
      `the record kept changing while its undo was applied (${maxAttempts} attempts); retry`,
      { entity, path }
    )
  })

/** Applies an undo record: its actions in reverse order. */
export const apply = (env: Env, record: Undo.UndoRecord): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const entity = record.entity
    yield* Identifier.check(entity, "entity name", "entity")
    const collection = env.db.collection(entity)
    for (let i = record.actions.length - 1; i >= 0; i--) {
      const action = record.actions[i]!
      const path = `actions[${i}]`
      switch (action._tag) {
        case "DeleteCreated":
          yield* deleteCreated(env, collection, entity, action.key, path)
          break
        case "Reinsert":
          yield* reinsert(env, collection, entity, action.image, path)
          break
        case "Revert":
          yield* revert(env, collection, record.id, entity, action, path)
          break
      }
    }
  })
