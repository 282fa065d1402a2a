/**
 * Running an operation on Chroma: what can be checked without the server (`prepare`), the dimension check of
 * `validate`, and the writes — each a read of the records it matches (their before-images), then one request per
 * kind of change. With a step, every record is written with the step's marker in the same request, after its ids
 * were announced on the step's barrier entry (see `barrier.ts`).
 */
import type { StoreError, WriteContext, Written } from "@polysaga/store"
import { Filter, type Operation, Store, Undo, Update } from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Announce, StepBarrierOf } from "./barrier.js"
import { type Catalog, checkDimensions, checkEntity } from "./catalog.js"
import {
  applyChanges,
  checkChanges,
  checkSearch,
  compile,
  type Compiled,
  type Draft,
  flatImage,
  flatten,
  join,
  nResults,
  parseRow,
  present,
  type RecordImage,
  searchOf,
  toImage,
  wholeImage,
  within
} from "./compile.js"
import type { ChromaRecord, Connection, Stored, Write } from "./connection.js"
import { engine, sameField, stepKey } from "./connection.js"
import type { UndoLog } from "./undo.js"

export interface Env {
  readonly conn: Connection
  readonly catalog: Catalog
  /** The most records one operation may write or match. */
  readonly max: number
  readonly undoLog: UndoLog
  readonly barrier: StepBarrierOf
  /** Serializes writes to one collection in this process. */
  readonly locked: (entity: string) => <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

export interface Prepared {
  readonly drafts: ReadonlyArray<Draft>
  readonly compiled: Compiled | undefined
}

export const make = (env: Env) => {
  const { barrier, catalog, conn, locked, max, undoLog } = env
  const { dimensionOf, open, target } = catalog
  const { add, nearest, read, remove, replace, scan } = conn

  /** Records matching a compiled filter, refusing more than the bound. */
  const matching = (entity: string, collection: Collection, compiled: Compiled, path: string) =>
    Effect.gen(function*() {
      const rows = yield* scan(entity, collection, compiled, max + 1)
      if (rows.length > max) {
        return yield* Store.fail(engine, "TooManyRecords", `where matches more than ${max} records`, {
          entity,
          path: join(path, "where")
        })
      }
      return rows
    })

  // ---- validation ----------------------------------------------------------------------------------------

  /** Everything that can be checked without the server. */
  const prepare = (operation: Operation.Operation, path: string): Effect.Effect<Prepared, StoreError> =>
    Effect.gen(function*() {
      const entity = yield* checkEntity(operation.entity, join(path, "from.entity"))
      const compiled = "where" in operation && operation.where !== undefined
        ? yield* compile(operation.where, entity).pipe(Effect.mapError((e) => prefix(e, path)))
        : undefined
      yield* checkSearch(operation, compiled, entity).pipe(Effect.mapError((e) => prefix(e, path)))
      if (operation.kind === "update") {
        yield* checkChanges(operation.changes, entity).pipe(Effect.mapError((e) => prefix(e, path)))
      }
      if (operation.kind !== "insert" && operation.kind !== "upsert") return { drafts: [], compiled }
      const data = join(path, "data")
      const drafts = yield* Effect.forEach(
        operation.records,
        (row, i) => parseRow(row, operation.records.length === 1 ? data : join(data, i), entity)
      )
      const seen = new Set<string>()
      for (const draft of drafts) {
        if (draft.id === undefined) continue
        if (seen.has(draft.id)) {
          return yield* Store.fail(engine, "Validation", `id ${JSON.stringify(draft.id)} appears twice`, {
            entity,
            path: join(draft.path, "id")
          })
        }
        seen.add(draft.id)
      }
      if (operation.kind === "upsert" && operation.where === undefined && operation.options.key !== undefined) {
        for (const draft of drafts) {
          for (const key of operation.options.key) {
            if (key === "id" ? draft.id === undefined : !(key in draft.metadata)) {
              return yield* Store.fail(engine, "Validation", `the upsert key ${key} is missing`, {
                entity,
                path: draft.path
              })
            }
          }
        }
      }
      yield* checkDimensions(
        entity,
        undefined,
        drafts.map((d) => ({ vector: d.vector, path: join(d.path, "vector") }))
      )
      return { drafts, compiled }
    })

  const prefix = (error: StoreError, path: string): StoreError =>
    path === "" || error.path === undefined
      ? error
      : Store.fail(engine, error.reason, error.message.slice(error.path.length + 2), {
        entity: error.entity,
        path: join(path, error.path),
        cause: error.cause
      })

  /** Vectors an operation writes, with their paths. */
  const vectorsOf = (operation: Operation.Operation, prepared: Prepared, path: string) =>
    operation.kind === "update"
      ? operation.changes.flatMap((c) =>
        c.field === "vector" && c.op === "set"
          ? [{ vector: c.value as ReadonlyArray<number>, path: join(path, c.path) }]
          : []
      )
      : operation.kind === "select"
      ? [searchOf(operation)].flatMap((search) =>
        search === undefined ? [] : [{ vector: search.vector, path: join(join(path, search.path), "vector") }]
      )
      : prepared.drafts.map((d) => ({ vector: d.vector, path: join(d.path, "vector") }))

  /** The dimension check `validate` makes (the writes check it themselves). */
  const validate = Effect.fn("ChromaStore.validate")(function*(
    prepared: Prepared,
    operation: Operation.Operation,
    path: string
  ) {
    const vectors = vectorsOf(operation, prepared, path)
    if (vectors.length > 0) {
      const collection = yield* open(operation.entity)
      yield* checkDimensions(operation.entity, yield* dimensionOf(operation.entity, collection), vectors)
    }
  })

  // ---- execute -------------------------------------------------------------------------------------------

  /** What a write produced (the kernel wraps the actions in the step's undo record). */
  const outcome = (records: ReadonlyArray<ChromaRecord>, actions: ReadonlyArray<Undo.UndoAction>): Written => ({
    records: records.map(toImage),
    actions
  })

  /**
   * A step's barrier as a write sees it: the marker key its records get, the undo id its outcome carries, and how
   * to announce on its entry the ids it will add or touch before writing them (see `barrier.ts`).
   */
  interface Mark {
    readonly key: string
    readonly undo: string
    readonly announce: (touched: Omit<Announce, "entity" | "operation">) => Effect.Effect<void, StoreError>
  }

  const noMatch = (operation: Operation.Operation, path: string) =>
    operation.options.allowNoMatch === true
      ? Effect.succeed(outcome([], []))
      : Effect.fail(
        Store.fail(engine, "NoMatch", `${operation.kind}: where matches no record`, {
          entity: operation.entity,
          path: join(path, "where")
        })
      )

  const insert = (entity: string, drafts: ReadonlyArray<Draft>, mark?: Mark) =>
    Effect.gen(function*() {
      const records = drafts.map((d): ChromaRecord => ({ ...d, id: d.id ?? crypto.randomUUID() }))
      const collection = Option.getOrThrow(
        yield* target(entity, drafts.map((d) => ({ vector: d.vector, path: join(d.path, "vector") })), true)
      )
      // Chroma's add silently skips ids that exist: check first
      const existing = yield* read(entity, collection, { ids: records.map((r) => r.id), where: undefined })
      if (existing.length > 0) {
        const id = existing[0]!.record.id
        const at = drafts[records.findIndex((r) => r.id === id)]!.path
        return yield* Store.fail(engine, "Constraint", `a record with id ${JSON.stringify(id)} exists`, {
          entity,
          path: join(at, "id")
        })
      }
      if (mark !== undefined) {
        yield* mark.announce({ keys: records.map((r) => r.id), dimension: records[0]?.vector.length })
      }
      yield* add(entity, collection, records, mark === undefined ? {} : { [mark.key]: 1 })
      return outcome(records, records.map((r) => ({ _tag: "DeleteCreated", key: { id: r.id } })))
    })

  /** An update's or a delete's change of the records it matches in its collection; `noMatch` when none does. */
  const changing = (
    operation: Extract<Operation.Operation, { kind: "update" | "delete" }>,
    compiled: Compiled,
    path: string,
    opened: Effect.Effect<Option.Option<Collection>, StoreError>,
    change: (collection: Collection, rows: ReadonlyArray<Stored>) => Effect.Effect<Written, StoreError>
  ) =>
    Effect.gen(function*() {
      const collection = yield* opened
      if (Option.isNone(collection)) return yield* noMatch(operation, path)
      const rows = yield* matching(operation.entity, collection.value, compiled, path)
      return rows.length === 0 ? yield* noMatch(operation, path) : yield* change(collection.value, rows)
    })

  /** An update or a delete, of the records its compiled filter matches. */
  type Change<K extends "update" | "delete"> = (
    operation: Extract<Operation.Operation, { kind: K }>,
    compiled: Compiled,
    path: string,
    mark?: Mark
  ) => Effect.Effect<Written, StoreError>

  const update: Change<"update"> = (operation, compiled, path, mark) =>
    changing(
      operation,
      compiled,
      path,
      target(operation.entity, vectorsOf(operation, { drafts: [], compiled }, path), false),
      (collection, rows) =>
        Effect.gen(function*() {
          const entity = operation.entity
          const writes = yield* Effect.forEach(rows, ({ record }) =>
            Effect.map(
              applyChanges(operation.changes, record, Update.apply, entity).pipe(
                Effect.mapError((e) => prefix(e, path))
              ),
              (after): Write => ({ before: record, after })
            ))
          const actions = writes.map((w) =>
            Undo.revert({ id: w.after.id }, operation.changes, flatImage(w.before), flatImage(w.after))
          )
          if (mark !== undefined) yield* mark.announce({ ids: writes.map((w) => w.after.id) })
          yield* replace(
            entity,
            collection,
            mark === undefined
              ? writes
              : writes.map((w, i) => ({ ...w, markers: { [mark.key]: JSON.stringify(actions[i]) } }))
          )
          return outcome(writes.map((w) => w.after), actions)
        })
    )

  /** With a barrier the images keep the adapter's own metadata, so an undo re-inserts each record as it was. */
  const del: Change<"delete"> = (operation, compiled, path, mark) =>
    changing(operation, compiled, path, open(operation.entity), (collection, rows) =>
      Effect.gen(function*() {
        const images = rows.map((r) => mark === undefined ? toImage(r.record) : wholeImage(r))
        if (mark !== undefined) {
          yield* mark.announce({
            ids: rows.map((r) => r.record.id),
            images: images as unknown as ReadonlyArray<typeof RecordImage.Type>
          })
        }
        yield* remove(operation.entity, collection, rows.map((r) => r.record.id), mark?.key)
        return outcome(
          rows.map((r) => r.record),
          images.map((image): Undo.UndoAction => ({ _tag: "Reinsert", image }))
        )
      }))

  /** The full-image diff of an upsert over an existing record, as checked restores. */
  const replaced = (before: ChromaRecord, after: ChromaRecord): Undo.UndoAction => {
    const b = flatten(before), a = flatten(after)
    const changes = [...new Set([...Object.keys(b), ...Object.keys(a)])]
      .filter((field) => !sameField(field, b[field], a[field]))
      .map((field): Update.Change => ({ op: "set", field, value: a[field] ?? null, path: field }))
    return Undo.revert({ id: after.id }, changes, flatImage(before), flatImage(after))
  }

  const upsert = (
    operation: Extract<Operation.Operation, { kind: "upsert" }>,
    drafts: ReadonlyArray<Draft>,
    path: string,
    mark?: Mark
  ) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const collection = Option.getOrThrow(
        yield* target(entity, drafts.map((d) => ({ vector: d.vector, path: join(d.path, "vector") })), true)
      )
      const records: Array<ChromaRecord> = []
      const actions: Array<Undo.UndoAction> = []
      // the ids records without one would be added with, decided before the write
      const newIds = new Map(drafts.map((d) => [d, d.id ?? crypto.randomUUID()]))
      if (mark !== undefined) {
        yield* mark.announce({ keys: [...newIds.values()], dimension: drafts[0]?.vector.length })
      }
      const one = (draft: Draft) =>
        Effect.gen(function*() {
          const key = operation.options.key
          const filter = operation.where ?? (key !== undefined
            ? Filter.byKey(Object.fromEntries(key.map((k) => [k, k === "id" ? draft.id : draft.metadata[k]])))
            : draft.id !== undefined
            ? Filter.byKey({ id: draft.id })
            : undefined)
          const compiled = filter === undefined ? undefined : yield* compile(filter, entity)
          const found = compiled === undefined ? [] : yield* scan(entity, collection, compiled, 2)
          if (found.length > 1) {
            return yield* Store.fail(engine, "Validation", "an upsert's where must match at most one record", {
              entity,
              path: join(path, "where")
            })
          }
          const existing = found[0]?.record
          if (existing !== undefined) {
            if (draft.id !== undefined && draft.id !== existing.id) {
              return yield* Store.fail(
                engine,
                "Validation",
                `the matched record's id is ${JSON.stringify(existing.id)}`,
                {
                  entity,
                  path: join(draft.path, "id")
                }
              )
            }
            const after: ChromaRecord = { ...draft, id: existing.id }
            const action = replaced(existing, after)
            if (mark !== undefined) yield* mark.announce({ ids: [existing.id] })
            yield* replace(entity, collection, [{
              before: existing,
              after,
              ...(mark === undefined ? {} : { markers: { [mark.key]: JSON.stringify(action) } })
            }])
            records.push(after)
            actions.push(action)
            return
          }
          const pinned = compiled?.ids?.length === 1 ? compiled.ids[0] : undefined
          const id = draft.id ?? pinned ?? newIds.get(draft)!
          const taken = yield* read(entity, collection, { ids: [id], where: undefined })
          if (taken.length > 0) {
            return yield* Store.fail(
              engine,
              "Constraint",
              `a record with id ${JSON.stringify(id)} exists but does not match where`,
              {
                entity,
                path: join(draft.path, "id")
              }
            )
          }
          const created: ChromaRecord = { ...draft, id }
          yield* add(entity, collection, [created], mark === undefined ? {} : { [mark.key]: 1 })
          records.push(created)
          actions.push({ _tag: "DeleteCreated", key: { id } })
        })
      yield* Effect.forEach(drafts, one, { discard: true }).pipe(
        // a later record failed: undo what the earlier ones wrote, so the step writes all or nothing
        Effect.tapError(() =>
          actions.length === 0
            ? Effect.void
            : Effect.ignore(undoLog.apply(Undo.make(engine, entity, actions, mark?.undo)))
        )
      )
      return outcome(records, actions)
    })

  /** At most `readLimit` records (the kernel decides the bound). */
  const select = (
    operation: Extract<Operation.Operation, { kind: "select" }>,
    compiled: Compiled,
    context: WriteContext
  ) =>
    Effect.gen(function*() {
      const collection = yield* open(operation.entity)
      if (Option.isNone(collection) || compiled.none) return outcome([], [])
      const fields = operation.clauses?.fields
      const search = searchOf(operation)
      if (search === undefined) {
        const rows = yield* scan(operation.entity, collection.value, compiled, context.readLimit)
        return { records: rows.map((r) => present(r.record, fields)), actions: [] }
      }
      const near = yield* nearest(
        operation.entity,
        collection.value,
        compiled,
        search.vector,
        nResults(search, context.readLimit)
      )
      const kept = near.filter((r) =>
        within(search, r.distance) && Filter.matches(compiled.filter, { ...r.record.metadata, id: r.record.id })
      )
      return { records: kept.map((r) => present(r.record, fields, r.distance)), actions: [] }
    })

  const write = Effect.fn("ChromaStore.write")(
    function*(prepared: Prepared, operation: Operation.Operation, context: WriteContext) {
      const path = ""
      const entity = operation.entity
      const step = context.step
      const mark: Mark | undefined = step === undefined ? undefined : {
        key: stepKey(step.undoId),
        undo: step.undoId,
        announce: (touched) => barrier.announce(step, { entity, operation: operation.kind, ...touched })
      }
      switch (operation.kind) {
        case "insert":
          return yield* locked(entity)(insert(entity, prepared.drafts, mark))
        case "upsert":
          return yield* locked(entity)(upsert(operation, prepared.drafts, path, mark))
        case "update":
          return yield* locked(entity)(update(operation, prepared.compiled!, path, mark))
        case "delete":
          return yield* locked(entity)(del(operation, prepared.compiled!, path, mark))
        case "select":
          return yield* select(operation, prepared.compiled!, context)
      }
    }
  )

  return { prepare, validate, write }
}
