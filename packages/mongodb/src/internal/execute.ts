/**
 * Running an operation (the kernel's `write`). Every multi-document write goes one document at a time (FerretDB has no
 * multi-document transactions): the matching `_id`s are read first (at most the bound + 1, so `TooManyRecords`
 * is detected before any write), then each document is written with `findOneAndUpdate` / `findOneAndDelete`
 * (`returnDocument: "before"`) on `{ _id, ...where }`: one command returns the before-image and writes (atomic
 * on MongoDB; on FerretDB only against this store's own writes, see `connection.ts`), and a document changed
 * meanwhile so that it no longer matches is skipped. The after-image is computed from the before-image with
 * MongoDB's operator semantics (`compile.ts`). If a write fails part-way, the documents already written are
 * rolled back with the undo built so far before the error is returned.
 */
import {
  type Filter,
  Operation,
  type Outcome,
  StoreError,
  Undo,
  type Update,
  type WriteContext,
  type Written
} from "@polysaga/store"
import * as Effect from "effect/Effect"
import { type Collection, type Document, MongoBulkWriteError, ObjectId } from "mongodb"
import * as Barrier from "./barrier.js"
import {
  absent,
  and,
  applyChanges,
  byId,
  compileFilter,
  compileUpdate,
  encode,
  encodeWhole,
  findOptions,
  type Query,
  strip
} from "./compile.js"
import { call, engine, type Env, fail, isDuplicateKey } from "./connection.js"
import * as UndoLog from "./undo.js"

const join = Operation.joinPath

type Row = Record<string, unknown>

const keyOf = (doc: Document): Undo.Image => ({ _id: encode({ _id: doc["_id"] })["_id"]! })

/** The `Revert` of one updated document; a field the before-image lacked is restored by removing it. */
const revertOf = (changes: ReadonlyArray<Update.Change>, before: Document, after: Document): Undo.UndoAction => {
  const b = encode(before), a = encode(after)
  const action = Undo.revert(keyOf(before), changes, b, a)
  const restore = Object.fromEntries(
    Object.entries(action.restore).map(([field, r]) => [field, {
      before: field in b ? r.before : absent,
      after: field in a ? r.after : absent
    }])
  )
  return { ...action, restore }
}

const outcome = (entity: string, records: ReadonlyArray<Row>, actions: ReadonlyArray<Undo.UndoAction>): Outcome => ({
  records,
  affected: records.length,
  undo: Undo.make(engine, entity, actions)
})

/**
 * A step's barrier, as a write sees it: the marker field its documents get, the undo id its outcome carries, and
 * how to claim its entry with the documents it will touch, before the first document write (see `barrier.ts`).
 */
interface Mark {
  readonly field: string
  readonly undo: string
  readonly claim: (touched: Omit<Barrier.Touched, "entity" | "operation">) => Effect.Effect<void, StoreError>
}

/** Only documents without the step's marker (its own earlier write, or a fence), when the write has a step. */
const unmarkedBy = (mark: Mark | undefined): ReadonlyArray<Query> =>
  mark === undefined ? [] : [Barrier.unmarked(mark.field)]

/** The engine's `write` on `env`: the records written, read or matched, and the undo actions. */
export const write = (env: Env) => {
  const max = env.maxRecordsPerOperation
  const collection = (entity: string): Collection => env.db.collection(entity)

  /**
   * Undoes what a failed operation already wrote, then fails with its error. With a step barrier the rollback
   * carries the step's undo id (its markers leave the documents with it, so resolving the step later finds nothing
   * applied); a rollback that fails too leaves the step in doubt.
   */
  const failAfterRollback =
    (entity: string, actions: ReadonlyArray<Undo.UndoAction>, mark?: Mark) => (error: StoreError) =>
      actions.length === 0 ?
        Effect.fail(error) :
        UndoLog.apply(env, Undo.make(engine, entity, actions, mark?.undo)).pipe(
          Effect.matchEffect({
            onFailure: (rollback) =>
              Effect.fail(
                new StoreError({
                  reason: error.reason,
                  engine,
                  entity,
                  path: error.path,
                  message:
                    `${error.message}; undoing the ${actions.length} records already written failed too: ${rollback.message}`,
                  cause: error.cause,
                  ...(mark === undefined ? {} : { inDoubt: true })
                })
              ),
            onSuccess: () => Effect.fail(error)
          })
        )

  const noMatch = (operation: Extract<Operation.Operation, { where: Filter.Filter }>) =>
    operation.options.allowNoMatch === true
      ? Effect.succeed(outcome(operation.entity, [], []))
      : Effect.fail(
        fail("NoMatch", `no ${operation.entity} record matches where`, { entity: operation.entity, path: "where" })
      )

  /** The documents matching `query`, at most the bound; more is `TooManyRecords`. */
  const candidates = (entity: string, query: Query, projection?: Document) =>
    Effect.flatMap(
      call(entity, "find", () =>
        collection(entity).find(and(query, Barrier.visible), { limit: max + 1, ...(projection ? { projection } : {}) })
          .toArray()),
      (docs) =>
        docs.length > max
          ? Effect.fail(fail("TooManyRecords", `more than ${max} records match where`, { entity, path: "where" }))
          : Effect.succeed(docs)
    )

  /**
   * With a barrier, the `_id`s are decided and claimed before the write; a document with a given `_id` is written
   * with the step's marker (one with a generated `_id` needs none: nobody else can have inserted it).
   */
  const insert = (entity: string, records: ReadonlyArray<Row>, mark?: Mark) =>
    Effect.gen(function*() {
      const docs = records.map((r): Document => ({ _id: new ObjectId(), ...r }))
      const keys = new Set(docs.map((d) => JSON.stringify(keyOf(d))))
      if (keys.size !== docs.length) {
        return yield* fail("Constraint", "two records have the same _id", { entity, path: "data" })
      }
      const given = (i: number) => records[i]!["_id"] !== undefined
      if (mark !== undefined) {
        yield* mark.claim({
          keys: docs.map((d) => d["_id"]),
          generated: docs.filter((_, i) => !given(i)).map((d) => d["_id"])
        })
      }
      const marked = mark === undefined ? docs : docs.map((d, i) => given(i) ? { ...d, [mark.field]: 1 } : d)
      yield* call(entity, "insertMany", () => collection(entity).insertMany(marked, { ordered: true })).pipe(
        Effect.catchAll((error) => {
          // Ordered: the records before the first failing one were written. Without a write error, only the
          // records with a generated `_id` can be known to be ours.
          const written = error.cause instanceof MongoBulkWriteError
            ? docs.slice(0, error.cause.insertedCount)
            : docs.filter((_, i) => !given(i))
          return failAfterRollback(entity, written.map((d) => ({ _tag: "DeleteCreated", key: keyOf(d) })), mark)(error)
        })
      )
      return outcome(entity, docs, docs.map((d) => ({ _tag: "DeleteCreated" as const, key: keyOf(d) })))
    })

  /** Writes the matched documents one at a time, each under its lock; a failure undoes those already written. */
  const writeEach = (
    operation: Extract<Operation.Operation, { where: Filter.Filter }>,
    ids: ReadonlyArray<unknown>,
    what: string,
    write: (id: unknown) => Promise<Document | null>,
    result: (before: Document) => readonly [Row, Undo.UndoAction],
    mark: Mark | undefined
  ) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const records: Array<Row> = []
      const actions: Array<Undo.UndoAction> = []
      for (const id of ids) {
        const before = yield* env.lock(entity, id, call(entity, what, () => write(id))).pipe(
          Effect.catchAll(failAfterRollback(entity, actions, mark))
        )
        if (before === null) continue
        const [record, action] = result(before)
        records.push(record)
        actions.push(action)
      }
      return records.length === 0 ? yield* noMatch(operation) : outcome(entity, records, actions)
    })

  /** The after-image of a document under the update's changes, and the `Revert` that undoes them. */
  const updated = (changes: ReadonlyArray<Update.Change>, before: Document): readonly [Row, Undo.UndoAction] => {
    const applied = applyChanges(changes, before)
    const after = applied._tag === "Right" ? applied.doc : before
    return [strip(after), revertOf(changes, before, after)]
  }

  /**
   * With a barrier each document's write also sets the step's marker to its `Revert` (computed from the document
   * as read), and only matches a document without the marker.
   */
  const update = (operation: Extract<Operation.Operation, { kind: "update" }>, mark?: Mark) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const query = compileFilter(operation.where)
      const found = yield* candidates(entity, query)
      if (found.length === 0) return yield* noMatch(operation)
      for (const doc of found) {
        const checked = applyChanges(operation.changes, doc)
        if (checked._tag === "Left") return yield* fail("Validation", checked.message, { entity, path: "data" })
      }
      const changes = compileUpdate(operation.changes)
      if (mark !== undefined) yield* mark.claim({ ids: found.map((d) => d["_id"]) })
      const read = new Map<unknown, Document>(found.map((d) => [d["_id"], d]))
      const withMarker = (id: unknown): Document =>
        mark === undefined ? changes : {
          ...changes,
          $set: {
            ...(changes["$set"] as Document | undefined),
            [mark.field]: JSON.stringify(updated(operation.changes, read.get(id) ?? {})[1])
          }
        }
      return yield* writeEach(
        operation,
        found.map((d) => d["_id"]),
        "findOneAndUpdate",
        (id) =>
          collection(entity).findOneAndUpdate(byId(id, query, ...unmarkedBy(mark)), withMarker(id), {
            returnDocument: "before"
          }),
        (before) => updated(operation.changes, before),
        mark
      )
    })

  /** With a barrier the entry keeps the documents' images as read, and a fenced document is never deleted. */
  const remove = (operation: Extract<Operation.Operation, { kind: "delete" }>, mark?: Mark) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const query = compileFilter(operation.where)
      const found = yield* candidates(entity, query, mark === undefined ? { _id: 1 } : undefined)
      if (mark !== undefined && found.length > 0) {
        yield* mark.claim({ ids: found.map((d) => d["_id"]), images: found })
      }
      return yield* writeEach(
        operation,
        found.map((d) => d["_id"]),
        "findOneAndDelete",
        (id) => collection(entity).findOneAndDelete(byId(id, query, ...unmarkedBy(mark))),
        (
          before
        ) => [strip(before), { _tag: "Reinsert", image: mark === undefined ? encode(before) : encodeWhole(before) }],
        mark
      )
    })

  /** One upsert: update the one record the key matches (only its given fields), or insert it. */
  const upsertOne = (entity: string, record: Row, query: Query, path: string, mark?: Mark, newId?: unknown) =>
    Effect.gen(function*() {
      const { _id: givenId, ...fields } = record
      const changes = Object.keys(fields).map((field): Update.Change => ({
        op: "set",
        field,
        value: fields[field],
        path: join(path, field)
      }))
      for (let attempt = 0; attempt < 3; attempt++) {
        const found = yield* call(
          entity,
          "find",
          () => collection(entity).find(and(query, Barrier.visible), { limit: 2 }).toArray()
        )
        if (found.length > 1) {
          return yield* fail("Conflict", "the upsert key matches more than one record", { entity, path })
        }
        const existing = found[0]
        if (existing !== undefined) {
          if (givenId !== undefined && JSON.stringify(keyOf(existing)) !== JSON.stringify(keyOf(record))) {
            return yield* fail("Conflict", "the matching record has another _id", { entity, path: join(path, "_id") })
          }
          if (changes.length === 0) return { record: strip(existing), action: undefined }
          const marker = mark === undefined ? {} : {
            [mark.field]: JSON.stringify(revertOf(changes, existing, { ...existing, ...fields }))
          }
          const before = yield* env.lock(
            entity,
            existing["_id"],
            call(entity, "findOneAndUpdate", () =>
              collection(entity).findOneAndUpdate(
                byId(existing["_id"], query, ...unmarkedBy(mark)),
                { $set: { ...fields, ...marker } },
                { returnDocument: "before" }
              ))
          )
          if (before === null) {
            continue
          }
          const after = { ...before, ...fields }
          return { record: strip(after), action: revertOf(changes, before, after) }
        }
        const doc: Document = { _id: givenId ?? newId ?? new ObjectId(), ...fields }
        const inserted = yield* call(
          entity,
          "insertOne",
          () => collection(entity).insertOne(mark === undefined ? doc : { ...doc, [mark.field]: 1 })
        ).pipe(
          Effect.as(true),
          Effect.catchIf((e) => isDuplicateKey(e.cause) && attempt < 2, () => Effect.succeed(false))
        )
        if (inserted) return { record: doc, action: { _tag: "DeleteCreated", key: keyOf(doc) } as Undo.UndoAction }
      }
      return yield* fail("Deadlock", "the record kept changing during the upsert; retry", { entity, path })
    })

  /** With a barrier, the `_id` each record would be inserted with is decided and claimed before the write. */
  const upsert = (operation: Extract<Operation.Operation, { kind: "upsert" }>, mark?: Mark) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const many = operation.records.length > 1
      const records: Array<Row> = []
      const actions: Array<Undo.UndoAction> = []
      const newIds = operation.records.map((record) => record["_id"] ?? new ObjectId())
      if (mark !== undefined) yield* mark.claim({ keys: newIds })
      for (const [i, record] of operation.records.entries()) {
        const key = operation.options.key
        const query = operation.where !== undefined
          ? compileFilter(operation.where)
          : key !== undefined
          ? and(...key.map((field) => ({ [field]: { $eq: record[field] } })))
          : byId(record["_id"])
        const done = yield* upsertOne(entity, record, query, many ? join("data", i) : "data", mark, newIds[i]).pipe(
          Effect.catchAll(failAfterRollback(entity, actions, mark))
        )
        records.push(done.record)
        if (done.action !== undefined) actions.push(done.action)
      }
      return outcome(entity, records, actions)
    })

  /** At most `readLimit` documents (the kernel decides the bound). */
  const select = (operation: Extract<Operation.Operation, { kind: "select" }>, context: WriteContext) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const docs = yield* call(
        entity,
        "find",
        () =>
          collection(entity).find(
            and(compileFilter(operation.where), Barrier.visible),
            findOptions(operation, context.readLimit)
          ).toArray()
      )
      return outcome(entity, docs.map(strip), [])
    })

  /** The write's marker, named after the undo id the kernel decided for the step (see `barrier.ts`). */
  const markOf = (unit: Barrier.Unit, operation: Operation.Operation, context: WriteContext): Mark | undefined => {
    const step = context.step
    if (step === undefined) return undefined
    return {
      field: Barrier.stepField(step.undoId),
      undo: step.undoId,
      claim: (touched) =>
        Barrier.claimStep(env, unit, step, { entity: operation.entity, operation: operation.kind, ...touched })
    }
  }

  const run = (
    unit: Barrier.Unit,
    operation: Operation.Operation,
    context: WriteContext
  ): Effect.Effect<Outcome, StoreError> =>
    Effect.gen(function*() {
      const mark = markOf(unit, operation, context)
      switch (operation.kind) {
        case "insert":
          return yield* insert(operation.entity, operation.records, mark)
        case "update":
          return yield* update(operation, mark)
        case "delete":
          return yield* remove(operation, mark)
        case "upsert":
          return yield* upsert(operation, mark)
        case "select":
          return yield* select(operation, context)
      }
    })

  return (
    unit: Barrier.Unit,
    operation: Operation.Operation,
    context: WriteContext
  ): Effect.Effect<Written, StoreError> =>
    Effect.map(run(unit, operation, context), (o) => ({ records: o.records, actions: o.undo.actions }))
}
