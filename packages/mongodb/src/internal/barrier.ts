/**
 * The step barrier on MongoDB / FerretDB: the kernel's `Barrier` (`Store.make` owns the protocol), kept as markers
 * (`StepBarrier` of `@polysaga/store`), since FerretDB has no multi-document transaction.
 *
 * - The entry: one document per (saga, step) in the barrier collection, `_id` = the step's key. The step's write
 *   claims it (`claimStep`) before its first document write, by inserting it (unique `_id`) with the undo id its
 *   outcome carries and what it will touch: the `_id`s its inserts will use (decided first), the `_id`s of the records
 *   it will update or delete (read first; with their images for deletes). After the write the kernel's
 *   `claimWithOutcome` records the outcome on it and removes the markers — but for an insert: its entry already lists
 *   every document it writes, so the documents are its record (a retried insert is answered from them).
 * - The marker: a field `_polysaga_step_<undo id>` written by the same single-document write as the data: `1` on a
 *   document the step inserted with an `_id` it was given (one it generated needs none: nobody else can have
 *   inserted it), the `Revert` that undoes the step on a document it updated, `"fence"` on a document a resolution
 *   fenced. Writes of the step only match documents without it; a fence tombstone `{ _id, _polysaga_fence }`
 *   occupies the `_id` of an insert that never arrived. An insert's markers stay until `prune` (or the undo).
 * - Records and images never show these fields (`strip` removes every `_polysaga` field) and queries never match
 *   tombstones (`visible`).
 * - Retention (`prune`) removes entries, markers, tombstones and undo log entries past the journal's.
 */
import {
  type Barrier,
  type Outcome,
  type Step,
  StepBarrier,
  type StepContext,
  type StoreError,
  type Undo,
  Undo as UndoModule
} from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Collection, Document } from "mongodb"
import { byId, encode, encodeWhole, type Query, strip } from "./compile.js"
import { call, engine, type Env, fail, isDuplicateKey } from "./connection.js"

/** The step barrier's marker field of the step whose outcome carries this undo id. */
export const stepField = (undoId: string): string => `_polysaga_step_${StepBarrier.undoMarker(undoId)}`

/** A barrier entry as stored. */
export interface EntryDoc {
  readonly _id: string
  readonly sagaId: string
  readonly kind: "action" | "fence"
  readonly fingerprint: string | null
  readonly undo?: string
  readonly entity?: string
  readonly operation?: string
  /** The `_id`s the step inserts (insert, upsert). */
  readonly keys?: ReadonlyArray<unknown>
  /** The `_id`s among `keys` the step generated: its documents there carry no marker. */
  readonly generated?: ReadonlyArray<unknown>
  /** The `_id`s the step updates or deletes. */
  readonly ids?: ReadonlyArray<unknown>
  /** The documents a delete removes, as read before. */
  readonly images?: ReadonlyArray<Document>
  readonly outcome?: string
  readonly at: Date
}

/** The tombstone field: a document holding it is a fence, never a user's record. */
export const fenceField = "_polysaga_fence"

/** Queries of user records never match fence tombstones. */
export const visible: Query = { [fenceField]: { $exists: false } }

/** A write of the step matches only documents that carry no marker of it (neither its write nor a fence). */
export const unmarked = (field: string): Query => ({ [field]: { $exists: false } })

/** Documents that carry the marker. */
const marked = (field: string): Query => ({ [field]: { $exists: true } })

const where = (entity: string | undefined) => ({ engine, entity })

const encodeKey = (id: unknown): unknown => encode({ v: id })["v"]

/** An entry that is still an unfinished claim: `action` without an outcome. */
const open = (key: string): Query => ({ _id: key, kind: "action", outcome: { $exists: false } })

const read = (env: Env, context: StepContext): Effect.Effect<EntryDoc | null, StoreError> =>
  call(undefined, "findOne (step barrier)", () => env.steps.findOne({ _id: StepBarrier.key(context) }))

/** What a step's write claims its entry with, before its first document write. */
export interface Touched {
  readonly entity: string
  readonly operation: string
  readonly keys?: ReadonlyArray<unknown>
  readonly generated?: ReadonlyArray<unknown>
  readonly ids?: ReadonlyArray<unknown>
  readonly images?: ReadonlyArray<Document>
}

/** A step's unit: whether its write claimed the step's entry (`claimStep`). */
export interface Unit {
  claimed: boolean
}

/**
 * The write's claim of the step's entry, with the undo id naming its markers and what the write will touch. An entry
 * already there (an earlier attempt, a fence) fails the claim, and the kernel answers from it (`read`).
 */
export const claimStep = (env: Env, unit: Unit, step: Step, touched: Touched): Effect.Effect<void, StoreError> =>
  call(touched.entity, "insertOne (step barrier)", () =>
    env.steps.insertOne({
      _id: StepBarrier.key(step),
      sagaId: step.sagaId,
      kind: "action",
      fingerprint: step.fingerprint,
      undo: step.undoId,
      ...touched,
      at: new Date()
    })).pipe(Effect.map(() => {
      unit.claimed = true
    }))

/**
 * Removes a step's marker from documents. On MongoDB one `updateMany` (each document's write is atomic); where this
 * store serializes its writes per document (FerretDB v1, whose write-back could lose a concurrent change), one
 * document at a time under its lock.
 */
const removeMarker = (env: Env, entity: string, field: string, ids: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    if (ids.length === 0) return
    const collection = env.db.collection(entity)
    if (!env.serialized) {
      yield* call(entity, "updateMany (step markers)", () =>
        collection.updateMany({ _id: { $in: ids as Array<never> }, ...marked(field) }, { $unset: { [field]: "" } }))
      return
    }
    for (const id of ids) {
      yield* env.lock(
        entity,
        id,
        call(entity, "updateOne (step marker)", () =>
          collection.updateOne(byId(id, marked(field)), { $unset: { [field]: "" } }))
      )
    }
  })

const idOf = (id: unknown) => JSON.stringify(encodeKey(id))

/**
 * The undo action of a document the step wrote: the one its marker holds, or — on a document the step inserted with
 * an `_id` it generated (`generated`) — its deletion; none for a fence or a document the step did not write.
 */
const actionOf = (doc: Document, field: string, generated: ReadonlySet<string>): Option.Option<Undo.UndoAction> => {
  const value = doc[field]
  if (value === 1 || (value === undefined && !(fenceField in doc) && generated.has(idOf(doc["_id"])))) {
    return Option.some({ _tag: "DeleteCreated", key: { _id: encodeKey(doc["_id"]) as Undo.Json } })
  }
  if (typeof value === "string" && value !== "fence") {
    try {
      return Option.some(JSON.parse(value) as Undo.UndoAction)
    } catch {
      return Option.none()
    }
  }
  return Option.none()
}

/** The documents with these `_id`s (one is looked up as `{ _id: v }`, which FerretDB answers from its index). */
const listed = (env: Env, entity: string, ids: ReadonlyArray<unknown>): Effect.Effect<Array<Document>, StoreError> => {
  const collection = env.db.collection(entity)
  return ids.length === 1
    ? Effect.map(call(entity, "findOne", () => collection.findOne(byId(ids[0]))), (doc) => doc === null ? [] : [doc])
    : call(entity, "find (step documents)", () => collection.find({ _id: { $in: ids as Array<never> } }).toArray())
}

/**
 * An insert's outcome, from its documents (it records none): every key its entry lists holds the document it wrote,
 * or `None` while one does not (the write was cut off, or has been undone).
 */
const insertedOutcome = (env: Env, entry: EntryDoc): Effect.Effect<Option.Option<Outcome>, StoreError> =>
  Effect.gen(function*() {
    const keys = entry.keys ?? []
    if (entry.entity === undefined || entry.undo === undefined || keys.length === 0) return Option.none()
    const field = stepField(entry.undo)
    const generated = new Set((entry.generated ?? []).map(idOf))
    const docs = new Map((yield* listed(env, entry.entity, keys)).map((doc) => [idOf(doc["_id"]), doc]))
    const records: Array<Document> = []
    const actions: Array<Undo.UndoAction> = []
    for (const key of keys) {
      const doc = docs.get(idOf(key))
      const action = doc === undefined ? Option.none() : actionOf(doc, field, generated)
      if (Option.isNone(action)) return Option.none()
      records.push(strip(doc!))
      actions.push(action.value)
    }
    return Option.some({
      records,
      affected: records.length,
      undo: UndoModule.make(engine, entry.entity, actions, entry.undo)
    })
  })

/**
 * The answer for a claim without an outcome: the documents carrying the step's marker are what it applied (its
 * undo rebuilt from the markers; deletes from the images of the entry whose documents are gone); the rest is fenced
 * (tombstones on insert keys, fence markers on records to update or delete); the rebuilt outcome (or a fence, when
 * nothing applied) is recorded so a late attempt is answered or refused.
 */
const settle = (env: Env, context: StepContext): Effect.Effect<Option.Option<Outcome>, StoreError> =>
  Effect.gen(function*() {
    const key = StepBarrier.key(context)
    const entry = yield* read(env, context)
    if (entry === null || entry.kind === "fence") return Option.none()
    if (entry.outcome !== undefined) {
      return Option.some(yield* StepBarrier.decodeOutcome(entry.outcome, where(entry.entity)))
    }
    const toFence = () =>
      Effect.flatMap(
        call(
          entry.entity,
          "updateOne (step barrier)",
          () => env.steps.updateOne(open(key), { $set: { kind: "fence" } })
        ),
        // a write recorded its outcome meanwhile: that is the answer
        (result) =>
          result.matchedCount === 1
            ? Effect.succeed(Option.none<Outcome>())
            : Effect.suspend(() => settle(env, context))
      )
    // a claim that lists nothing its write touches (none is made so): nothing applied
    if (entry.undo === undefined || entry.entity === undefined) return yield* toFence()
    const entity = entry.entity
    const undoId = entry.undo
    const collection = env.db.collection(entity)
    const field = stepField(undoId)
    const records: Array<Document> = []
    const actions: Array<Undo.UndoAction> = []
    const seen = new Set<string>()
    const generated = new Set((entry.generated ?? []).map(idOf))
    const take = (doc: Document) => {
      const id = idOf(doc["_id"])
      if (seen.has(id)) return
      const action = actionOf(doc, field, generated)
      if (Option.isNone(action)) return
      seen.add(id)
      records.push(strip(doc))
      actions.push(action.value)
    }
    const known = [...(entry.keys ?? []), ...(entry.ids ?? [])]
    if (known.length > 0) {
      for (const doc of yield* listed(env, entity, known)) take(doc)
    }
    if (entry.operation === "upsert") {
      // an upsert's updated documents are known only by their marker (their keys are matched as the upsert goes)
      for (const doc of yield* call(entity, "find (step markers)", () => collection.find(marked(field)).toArray())) {
        take(doc)
      }
    }
    // inserts that never arrived: occupy their keys, so a late insert fails on the unique _id
    for (const id of entry.keys ?? []) {
      if (seen.has(idOf(id))) continue
      yield* call(
        entity,
        "insertOne (fence)",
        () => collection.insertOne({ _id: id as never, [fenceField]: undoId, _polysaga_at: new Date() })
      ).pipe(
        Effect.catchIf(
          (e) => isDuplicateKey(e.cause),
          () =>
            Effect.flatMap(
              call(entity, "findOne", () => collection.findOne(byId(id))),
              (doc) => Effect.sync(() => doc !== null && take(doc))
            )
        )
      )
    }
    // records to update or delete that were not written: fence them; deleted ones are re-inserted from the entry
    const images = new Map((entry.images ?? []).map((image) => [idOf(image["_id"]), image]))
    for (const id of entry.ids ?? []) {
      if (seen.has(idOf(id))) continue
      const result = yield* env.lock(
        entity,
        id,
        call(
          entity,
          "updateOne (fence)",
          () => collection.updateOne(byId(id, unmarked(field)), { $set: { [field]: "fence" } })
        )
      )
      if (result.matchedCount === 1) continue
      const doc = yield* call(entity, "findOne", () => collection.findOne(byId(id)))
      if (doc !== null) take(doc)
      else if (entry.operation === "delete") {
        const image = images.get(idOf(id))
        if (image !== undefined) {
          records.push(strip(image))
          actions.push({ _tag: "Reinsert", image: encodeWhole(image) })
        }
      }
    }
    if (actions.length === 0) return yield* toFence()
    const outcome: Outcome = {
      records,
      affected: records.length,
      undo: UndoModule.make(engine, entity, actions, undoId)
    }
    const recorded = yield* call(
      entity,
      "updateOne (step barrier)",
      () => env.steps.updateOne(open(key), { $set: { outcome: StepBarrier.encodeOutcome(outcome) } })
    )
    return recorded.matchedCount === 1 ? Option.some(outcome) : yield* settle(env, context)
  })

/** Inserts an entry; `false` when one is there already. */
const insertEntry = (env: Env, entity: string | undefined, entry: EntryDoc): Effect.Effect<boolean, StoreError> =>
  call(entity, "insertOne (step barrier)", () => env.steps.insertOne(entry)).pipe(
    Effect.as(true),
    Effect.catchIf((e) => isDuplicateKey(e.cause), () => Effect.succeed(false))
  )

/** The mark of an entry that was there when a claim was refused. */
const markThere = (env: Env, step: StepContext) =>
  Effect.flatMap(read(env, step), (entry) =>
    entry === null
      ? Effect.fail(fail("Unknown", `step barrier entry ${StepBarrier.key(step)} vanished while it was claimed`))
      : StepBarrier.markOf(entry, where(entry.entity)))

/**
 * The kernel's barrier on the entries of `env.steps`. A step's write claims its entry itself (`claimStep`); after the
 * write `claimWithOutcome` records the outcome on that claim (or, when the write touched nothing and so claimed
 * nothing, claims with the outcome); `read` answers an entry found there before.
 */
export const make = (env: Env): Barrier<Unit> => ({
  claim: (_, step, kind, fingerprint) =>
    Effect.gen(function*() {
      const claimed = yield* insertEntry(env, undefined, {
        _id: StepBarrier.key(step),
        sagaId: step.sagaId,
        kind,
        fingerprint,
        at: new Date()
      })
      return claimed ? Option.none() : Option.some(yield* markThere(env, step))
    }),
  claimWithOutcome: (unit, step, outcome) =>
    Effect.gen(function*() {
      const entity = outcome.undo.entity
      if (!unit.claimed) {
        const claimed = yield* insertEntry(env, entity, {
          _id: StepBarrier.key(step),
          sagaId: step.sagaId,
          kind: "action",
          fingerprint: step.fingerprint,
          undo: outcome.undo.id,
          entity,
          outcome: StepBarrier.encodeOutcome(outcome),
          at: new Date()
        })
        return claimed ? Option.none() : Option.some(yield* markThere(env, step))
      }
      // an insert's entry lists its documents, which are its record: nothing to add, no marker to remove (a given
      // `_id`'s marker stays until `prune`)
      if (outcome.undo.actions.every((action) => action._tag === "DeleteCreated")) return Option.none()
      const recorded = yield* call(entity, "updateOne (step barrier)", () =>
        env.steps.updateOne(open(StepBarrier.key(step)), { $set: { outcome: StepBarrier.encodeOutcome(outcome) } }))
      if (recorded.matchedCount !== 1) {
        return yield* StepBarrier.settledMeanwhile(step, where(entity))
      }
      // the entry answers for the step now: its markers leave the documents (a failure here changes nothing the
      // step did: the markers stay until `prune`)
      if (outcome.undo.actions[0]!._tag !== "Reinsert") {
        yield* Effect.ignore(removeMarker(
          env,
          entity,
          stepField(outcome.undo.id),
          outcome.records.map((r) =>
            r["_id"]
          )
        ))
      }
      return Option.none()
    }),
  read: (step) =>
    Effect.gen(function*() {
      const entry = yield* read(env, step)
      const own = entry?.undo === step.undoId
      // none yet, or this attempt's own unfinished claim: the write's own error stands
      if (entry === null || (own && entry.kind === "action" && entry.outcome === undefined)) return Option.none()
      const mark = yield* StepBarrier.markOf(entry, where(entry.entity))
      // this attempt's claim, resolved while it ran: the resolution counts (fenced: refused; answered: in doubt)
      if (own) return Option.some({ ...mark, outcome: Option.none() })
      if (entry.kind === "fence" || Option.isSome(mark.outcome) || entry.operation !== "insert") {
        return Option.some(mark)
      }
      return Option.some({ ...mark, outcome: yield* insertedOutcome(env, entry) })
    }),
  used: (_, sagaId) =>
    Effect.map(
      call(undefined, "findOne (step barrier)", () =>
        env.steps.findOne({ sagaId: { $eq: sagaId } }, { projection: { _id: 1 } })),
      (found) =>
        found !== null
    ),
  settle: (_, step) => settle(env, step)
})

/** The index `used` looks entries up by. */
export const ensure = (env: Env): Effect.Effect<void, StoreError> =>
  Effect.asVoid(call(undefined, "createIndex (step barrier)", () => env.steps.createIndex({ sagaId: 1 })))

/** Entries older than `cutoff`, with the markers and tombstones they left in user collections; how many entries. */
const pruneSteps = (env: Env, cutoff: Date): Effect.Effect<number, StoreError> =>
  Effect.gen(function*() {
    let removed = 0
    while (true) {
      const old = yield* call(undefined, "find (step barrier)", () =>
        env.steps.find({ at: { $lt: cutoff } }, { limit: 500 }).toArray())
      if (old.length === 0) {
        return removed
      }
      for (const entry of old) {
        if (entry.entity === undefined || entry.undo === undefined) {
          continue
        }
        const collection: Collection = env.db.collection(entry.entity)
        const field = stepField(entry.undo)
        // an upsert's updated documents are known only by their marker; every other step lists its documents
        const ids = entry.operation === "upsert"
          ? (yield* call(entry.entity, "find (step markers)", () =>
            collection.find(marked(field), { projection: { _id: 1 } }).toArray())).map((d) =>
              d["_id"]
            )
          : [...(entry.keys ?? []), ...(entry.ids ?? [])]
        yield* removeMarker(env, entry.entity, field, ids)
        if ((entry.keys ?? []).length > 0) {
          yield* call(entry.entity, "deleteMany (fences)", () =>
            collection.deleteMany({ _id: { $in: entry.keys as Array<never> }, [fenceField]: { $eq: entry.undo } }))
        }
      }
      const result = yield* call(undefined, "deleteMany (step barrier)", () =>
        env.steps.deleteMany({
          _id: {
            $in: old.map((e) =>
              e._id
            )
          }
        }))
      removed += result.deletedCount
      if (old.length < 500) {
        return removed
      }
    }
  })

/** Retention of the undo log and of the step barrier (entries, markers, fences) older than `olderThan`. */
export const prune = (env: Env) => (olderThan: Duration.DurationInput): Effect.Effect<number, StoreError> =>
  Effect.gen(function*() {
    const cutoff = new Date(Date.now() - Duration.toMillis(Duration.decode(olderThan)))
    const undone = yield* call(undefined, "deleteMany (undo log)", () => env.log.deleteMany({ at: { $lt: cutoff } }))
    return undone.deletedCount + (yield* pruneSteps(env, cutoff))
  }).pipe(Effect.withSpan("MongoStore.prune"))
