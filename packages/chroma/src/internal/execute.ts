/**
 * Running an operation on Chroma: what can be checked without the server (`prepare`), the dimension check of
 * `validate`, and the writes — each a read of the records it matches (their before-images), then one request per
 * kind of change. With a step, every record is written with the step's marker in the same request: a marked step's
 * (every step but a delete) after its own read — which reads its proof with what it matches — found none, a delete's
 * after its ids and images were announced on the step's barrier entry (see `barrier.ts`).
 */
import type { Outcome, Step, StoreError, WriteContext, Written } from "@polysaga/store"
import { beforeWrite, Filter, type KeyedLock, Operation, Store, Undo, Update } from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import {
  type Announce,
  bySaga,
  fenceId,
  generatedId,
  isKeyed,
  isMarked,
  markers,
  proof,
  type StepBarrierOf,
  type Unit
} from "./barrier.js"
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
  nResults,
  parseRow,
  present,
  type RecordImage,
  searchOf,
  toImage,
  wholeImage,
  within
} from "./compile.js"
import type { ChromaRecord, Connection, Scalar, Stored, Write } from "./connection.js"
import { engine, fenceKey, hidden, sameField, spare, stepKey } from "./connection.js"
import type { UndoLog } from "./undo.js"

export interface Env {
  readonly conn: Connection
  readonly catalog: Catalog
  /** The most records one operation may write or match. */
  readonly max: number
  readonly undoLog: UndoLog
  readonly barrier: StepBarrierOf
  /** The store's record locks (see `locked`). */
  readonly locks: KeyedLock.KeyedLock
}

export interface Prepared {
  readonly drafts: ReadonlyArray<Draft>
  readonly compiled: Compiled | undefined
}

/** The vectors of the records to write, with the paths errors name. */
const vectorPaths = (drafts: ReadonlyArray<Draft>) =>
  drafts.map((d) => ({ vector: d.vector, path: Operation.joinPath(d.path, "vector") }))

export const make = (env: Env) => {
  const { barrier, catalog, conn, locks, max, undoLog } = env
  const { dimensionOf, open, target } = catalog
  const { add, nearest, read, remove, replace, scan } = conn

  /** Records matching a compiled filter, refusing more than the bound. */
  const matching = (entity: string, collection: Collection, compiled: Compiled, path: string) =>
    Effect.gen(function*() {
      const rows = yield* scan(entity, collection, compiled, max + 1)
      if (rows.length > max) {
        return yield* Store.fail(engine, "TooManyRecords", `where matches more than ${max} records`, {
          entity,
          path: Operation.joinPath(path, "where")
        })
      }
      return rows
    })

  // ---- validation ----------------------------------------------------------------------------------------

  /** Everything that can be checked without the server. */
  const prepare = (operation: Operation.Operation, path: string): Effect.Effect<Prepared, StoreError> =>
    Effect.gen(function*() {
      const entity = yield* checkEntity(operation.entity, Operation.joinPath(path, "from.entity"))
      const compiled = "where" in operation && operation.where !== undefined
        ? yield* compile(operation.where, entity).pipe(Effect.mapError((e) => prefix(e, path)))
        : undefined
      yield* checkSearch(operation, compiled, entity).pipe(Effect.mapError((e) => prefix(e, path)))
      if (operation.kind === "update") {
        yield* checkChanges(operation.changes, entity).pipe(Effect.mapError((e) => prefix(e, path)))
      }
      if (operation.kind !== "insert" && operation.kind !== "upsert") return { drafts: [], compiled }
      const data = Operation.joinPath(path, "data")
      const drafts = yield* Effect.forEach(
        operation.records,
        (row, i) => parseRow(row, operation.records.length === 1 ? data : Operation.joinPath(data, i), entity)
      )
      const seen = new Set<string>()
      for (const draft of drafts) {
        if (draft.id === undefined) continue
        if (seen.has(draft.id)) {
          return yield* Store.fail(engine, "Validation", `id ${JSON.stringify(draft.id)} appears twice`, {
            entity,
            path: Operation.joinPath(draft.path, "id")
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
      yield* checkDimensions(entity, undefined, vectorPaths(drafts))
      return { drafts, compiled }
    })

  const prefix = (error: StoreError, path: string): StoreError =>
    path === "" || error.path === undefined
      ? error
      : Store.fail(engine, error.reason, error.message.slice(error.path.length + 2), {
        entity: error.entity,
        path: Operation.joinPath(path, error.path),
        cause: error.cause
      })

  /** Vectors an operation writes, with their paths. */
  const vectorsOf = (operation: Operation.Operation, prepared: Prepared, path: string) =>
    operation.kind === "update"
      ? operation.changes.flatMap((c) =>
        c.field === "vector" && c.op === "set"
          ? [{ vector: c.value as ReadonlyArray<number>, path: Operation.joinPath(path, c.path) }]
          : []
      )
      : operation.kind === "select"
      ? [searchOf(operation)].flatMap((search) =>
        search === undefined
          ? []
          : [{ vector: search.vector, path: Operation.joinPath(Operation.joinPath(path, search.path), "vector") }]
      )
      : vectorPaths(prepared.drafts)

  /** The dimension check `validate` makes (the writes check it themselves). */
  const validate = Effect.fn("ChromaStore.validate")(function*(
    prepared: Prepared,
    operation: Operation.Operation,
    path: string
  ) {
    const vectors = vectorsOf(operation, prepared, path)
    if (vectors.length > 0) {
      yield* catalog.refreshing(Effect.flatMap(
        Effect.flatMap(open(operation.entity), (collection) => dimensionOf(operation.entity, collection)),
        (dimension) => checkDimensions(operation.entity, dimension, vectors)
      ))
    }
  })

  // ---- execute -------------------------------------------------------------------------------------------

  /** What a write produced (the kernel wraps the actions in the step's undo record). */
  const outcome = (records: ReadonlyArray<ChromaRecord>, actions: ReadonlyArray<Undo.UndoAction>): Written => ({
    records: records.map(toImage),
    actions
  })

  /**
   * A step's barrier as a write sees it: the marker key its records get, the undo id its outcome carries, and the
   * claim the write makes once it has read what it will touch, before its first record write (see `barrier.ts`).
   */
  interface Mark {
    readonly key: string
    readonly undoId: string
    readonly step: Step
    /**
     * A marked step (`isMarked`): it claims nothing, its records carry its proof; its write reads them first (with
     * what it matches) and fails with `recorded` when they hold it already (see `barrier.ts`).
     */
    readonly marked: boolean
    /** A keyed step (`isKeyed`): a marked step whose ids are known from its operation. */
    readonly keyed: boolean
    readonly claim: (touched: Omit<Announce, "entity" | "operation">) => Effect.Effect<void, StoreError>
    /** The failure of a write that found the step's proof in its reads (the kernel answers from the mark). */
    readonly recorded: WriteContext["recorded"]
  }

  /**
   * The step's bookkeeping on a record it writes (none without a step): its marker `value`, a marked step's operation
   * and `count` of records its write writes, saga key and time.
   */
  const marker = (mark: Mark | undefined, value: Scalar, count: number): Readonly<Record<string, Scalar>> =>
    mark === undefined ? {} : markers({
      sagaId: mark.step.sagaId,
      undoId: mark.undoId,
      fingerprint: mark.marked ? mark.step.fingerprint : undefined,
      count
    }, value)

  /**
   * A marked write's check of its own reads (`ids`: a keyed step's, in order): fails with the step's mark when its
   * records hold it (see `proof`). Then registers the collection it will mark records in (see `register`).
   */
  const unproven = (
    mark: Mark | undefined,
    entity: string,
    ids: ReadonlyArray<string> | undefined,
    rows: ReadonlyArray<Stored>
  ) =>
    mark === undefined || !mark.marked ? Effect.void : Option.match(proof(mark.step, entity, ids, rows), {
      onNone: () => barrier.register(entity),
      onSome: (found) => Effect.fail(mark.recorded(found))
    })

  /**
   * The records a compiled filter matches (at most `want`, as `scan` reads them) and, for a marked step, the records
   * carrying its marker or its fence (`proof`), in one `get` where Chroma can express it: by the filter's ids and the
   * step's fence id when the filter names ids (the records it could mark are among them), else by
   * `$or: [the filter's where, the saga's key]`. A filter Chroma cannot express exactly, or a read that fills its
   * limit, reads the proof apart.
   */
  const readWithProof = (
    entity: string,
    collection: Collection,
    compiled: Compiled,
    want: number,
    mark: Mark | undefined
  ) =>
    Effect.gen(function*() {
      const matches = (r: Stored) =>
        r.own[fenceKey] !== true && Filter.matches(compiled.filter, { ...r.record.metadata, id: r.record.id })
      if (mark === undefined || !mark.marked || compiled.none) {
        return { rows: yield* scan(entity, collection, compiled, want), proof: [] }
      }
      const key = mark.key
      const marked = (rows: ReadonlyArray<Stored>) => rows.filter((r) => r.own[key] !== undefined)
      if (compiled.ids !== undefined) {
        const rows = yield* read(entity, collection, { ids: [...compiled.ids, fenceId(mark.step)], where: undefined })
        return { rows: rows.filter(matches), proof: marked(rows) }
      }
      const limit = want + max + 1
      if (!compiled.residual) {
        const rows = yield* read(entity, collection, {
          ids: undefined,
          where: {
            $or: [compiled.where === undefined ? hidden : { $and: [compiled.where, hidden] }, bySaga(mark.step.sagaId)]
          }
        }, { limit })
        if (rows.length < limit) return { rows: rows.filter(matches).slice(0, want), proof: marked(rows) }
      }
      const rows = yield* scan(entity, collection, compiled, want)
      const found = yield* read(entity, collection, { ids: undefined, where: bySaga(mark.step.sagaId) })
      return { rows, proof: marked(found) }
    })

  /** The ids a step's inserted (or upserted) records get: their own, else generated (derived from a marked step). */
  const idsOf = (drafts: ReadonlyArray<Draft>, mark: Mark | undefined) =>
    drafts.map((d, i) => d.id ?? generatedId(mark?.marked === true ? mark.step : undefined, i))

  /**
   * Runs `effect` holding the lock of each record id (in this `Store`): writes to one record, and undos, run one
   * at a time, so a read-modify-write is atomic against writers in this process (not against other processes).
   * `filters` (an upsert's key) lock what a record is found by, so two upserts of one key do not both create it.
   * The locks are taken in one order, so two writes never wait for each other.
   */
  const locked = <A>(
    entity: string,
    ids: Iterable<string>,
    effect: Effect.Effect<A, StoreError>,
    filters: Iterable<string> = []
  ) =>
    [
      ...new Set([
        ...[...ids].map((id) => JSON.stringify([entity, id])),
        ...[...filters].map((filter) => JSON.stringify([entity, null, filter]))
      ])
    ].sort().reduceRight(
      (inner, key) => locks(key, inner),
      Effect.ensuring(effect, Effect.sync(() => void generations.set(entity, generation(entity) + 1)))
    )

  /**
   * How many locked sections (writes, undos, resolutions) on a collection have ended in this `Store`. A read made
   * without the locks of what it found still holds under them when no locked section on its collection ended since
   * just before it (any writer of those records in this process would have): it is not read again.
   */
  const generations = new Map<string, number>()
  const generation = (entity: string) => generations.get(entity) ?? 0

  const noMatch = (operation: Operation.Operation, path: string) =>
    operation.options.allowNoMatch === true
      ? Effect.succeed(outcome([], []))
      : Effect.fail(
        Store.fail(engine, "NoMatch", `${operation.kind}: where matches no record`, {
          entity: operation.entity,
          path: Operation.joinPath(path, "where")
        })
      )

  /**
   * The reads a write starts with, before it sends anything (the step's claim included): their failure leaves the step
   * not applied, never in doubt (`beforeWrite`), so the saga does not resolve, and fence, a step that wrote nothing.
   */
  const sentNothing = <A>(effect: Effect.Effect<A, StoreError>) => Effect.mapError(effect, beforeWrite)

  const insert = (entity: string, drafts: ReadonlyArray<Draft>, mark?: Mark) => {
    const ids = idsOf(drafts, mark)
    const records = drafts.map((d, i): ChromaRecord => ({ ...d, id: ids[i]! }))
    return locked(
      entity,
      ids,
      Effect.gen(function*() {
        const collection = Option.getOrThrow(yield* sentNothing(target(entity, vectorPaths(drafts), true)))
        // Chroma's add silently skips ids that exist: check first (a keyed step's proof is in the same read)
        const existing = yield* sentNothing(read(entity, collection, { ids, where: undefined }))
        yield* unproven(mark, entity, ids, existing)
        if (existing.length > 0) {
          const id = existing[0]!.record.id
          const at = drafts[records.findIndex((r) => r.id === id)]!.path
          return yield* Store.fail(engine, "Constraint", `a record with id ${JSON.stringify(id)} exists`, {
            entity,
            path: Operation.joinPath(at, "id")
          })
        }
        yield* add(entity, collection, records, marker(mark, 1, records.length))
        return outcome(records, records.map((r) => ({ _tag: "DeleteCreated", key: { id: r.id } })))
      })
    )
  }

  /**
   * The records a compiled filter matches (refusing more than the bound), after a marked step's check of its proof
   * read with them (see `readWithProof`).
   */
  const matchingProven = (
    entity: string,
    collection: Collection,
    compiled: Compiled,
    path: string,
    mark: Mark | undefined
  ) =>
    Effect.gen(function*() {
      const { proof, rows } = yield* readWithProof(entity, collection, compiled, max + 1, mark)
      if (rows.length > max) {
        return yield* Store.fail(engine, "TooManyRecords", `where matches more than ${max} records`, {
          entity,
          path: Operation.joinPath(path, "where")
        })
      }
      yield* unproven(mark, entity, undefined, proof)
      return rows
    })

  /**
   * The records a compiled filter matches, read while holding their locks: at once when the filter names its ids,
   * else read, locked, and read again (restricted to those ids) for the values they hold under the lock, unless no
   * locked section on the collection ended meanwhile (see `generations`). A marked step's proof is read with the
   * first read.
   */
  const matchingLocked = <A>(
    entity: string,
    collection: Collection,
    compiled: Compiled,
    path: string,
    mark: Mark | undefined,
    use: (rows: ReadonlyArray<Stored>) => Effect.Effect<A, StoreError>
  ) =>
    compiled.ids !== undefined
      ? locked(
        entity,
        compiled.ids,
        Effect.flatMap(sentNothing(matchingProven(entity, collection, compiled, path, mark)), use)
      )
      : Effect.suspend(() => {
        const before = generation(entity)
        return Effect.flatMap(sentNothing(matchingProven(entity, collection, compiled, path, mark)), (first) => {
          const ids = first.map((r) => r.record.id)
          return ids.length === 0 ? use([]) : locked(
            entity,
            ids,
            Effect.suspend(() =>
              generation(entity) === before
                ? use(first)
                : Effect.flatMap(sentNothing(matching(entity, collection, { ...compiled, ids }, path)), use)
            )
          )
        })
      })

  /** An update's or a delete's change of the records it matches in its collection; `noMatch` when none does. */
  const changing = (
    operation: Extract<Operation.Operation, { kind: "update" | "delete" }>,
    compiled: Compiled,
    path: string,
    opened: Effect.Effect<Option.Option<Collection>, StoreError>,
    mark: Mark | undefined,
    change: (collection: Collection, rows: ReadonlyArray<Stored>) => Effect.Effect<Written, StoreError>
  ) =>
    Effect.flatMap(sentNothing(opened), (collection) =>
      Option.isNone(collection)
        ? noMatch(operation, path)
        : matchingLocked(
          operation.entity,
          collection.value,
          compiled,
          path,
          mark,
          (rows) => rows.length === 0 ? noMatch(operation, path) : change(collection.value, rows)
        ))

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
      mark,
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
          // a marked step: each record carries its marker, with the count of records this write writes
          yield* replace(
            entity,
            collection,
            writes.map((w, i) => ({ ...w, markers: marker(mark, JSON.stringify(actions[i]), writes.length) }))
          )
          return outcome(writes.map((w) => w.after), actions)
        })
    )

  /** With a barrier the images keep the adapter's own metadata, so an undo re-inserts each record as it was. */
  const del: Change<"delete"> = (operation, compiled, path, mark) =>
    changing(operation, compiled, path, open(operation.entity), mark, (collection, rows) =>
      Effect.gen(function*() {
        const images = rows.map((r) => mark === undefined ? toImage(r.record) : wholeImage(r))
        if (mark !== undefined) {
          yield* mark.claim({
            ids: rows.map((r) => r.record.id),
            images: images as unknown as ReadonlyArray<typeof RecordImage.Type>
          })
        }
        yield* remove(
          operation.entity,
          collection,
          rows.map((r) => r.record.id),
          mark === undefined ? undefined : spare(mark.key)
        )
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

  /** How often an upsert by a key re-reads when the records it found changed before it held their locks. */
  const upsertRounds = 3

  /**
   * Upsert: each record found by `where`, else `options.key`, else its id, and replaced, or else created. Reads
   * first (the records found, under their locks), then claims the step, then writes: every creation in one `add`,
   * every replacement in one `update`; if the second request fails, the first is undone.
   */
  const upsert = (
    operation: Extract<Operation.Operation, { kind: "upsert" }>,
    drafts: ReadonlyArray<Draft>,
    path: string,
    mark?: Mark
  ) =>
    Effect.gen(function*() {
      const entity = operation.entity
      const collection = Option.getOrThrow(yield* sentNothing(target(entity, vectorPaths(drafts), true)))
      const key = operation.options.key
      // how each record is found, and the id it is created with (decided before the write)
      const fresh = idsOf(drafts, mark)
      const plans = yield* Effect.forEach(drafts, (draft, index) =>
        Effect.gen(function*() {
          const filter = operation.where ?? (key !== undefined
            ? Filter.byKey(Object.fromEntries(key.map((k) => [k, k === "id" ? draft.id : draft.metadata[k]])))
            : draft.id !== undefined
            ? Filter.byKey({ id: draft.id })
            : undefined)
          const compiled = filter === undefined ? undefined : yield* compile(filter, entity)
          const pinned = compiled?.ids?.length === 1 ? compiled.ids[0] : undefined
          const id = draft.id ?? pinned ?? fresh[index]!
          // found by its id alone: one read gives the record and whether its id is taken (by a fence tombstone)
          const byId = compiled !== undefined && compiled.where === undefined && !compiled.residual &&
            compiled.ids?.length === 1 && compiled.ids[0] === id
          // a random id is nobody's: no read to tell whether it is taken (a keyed step's is read for its proof)
          const generated = draft.id === undefined && pinned === undefined
          return { draft, compiled, id, byId, generated }
        }))
      type Plan = (typeof plans)[number]
      type Found = { readonly found: ReadonlyArray<Stored>; readonly taken: boolean }
      const keyed = mark?.keyed === true
      const marked = mark?.marked === true

      /**
       * Every plan found by its id (a keyed step's): one read of them all, which also holds the step's proof (with the
       * step's fence id for a marked step that is not keyed); a record is found unless it is a fence tombstone (whose
       * id is taken).
       */
      const findAll = Effect.gen(function*() {
        const ids = plans.filter((p) => p.byId || keyed).map((p) => p.id)
        const extra = marked && !keyed ? [fenceId(mark!.step)] : []
        const rows = ids.length === 0
          ? []
          : yield* read(entity, collection, { ids: [...ids, ...extra], where: undefined })
        yield* unproven(mark, entity, keyed ? plans.map((p) => p.id) : undefined, rows)
        const byId = new Map(rows.map((r) => [r.record.id, r]))
        return plans.map((plan): Found => {
          const row = byId.get(plan.id)
          return { found: row === undefined || row.own[fenceKey] === true ? [] : [row], taken: row !== undefined }
        })
      })
      // found by their ids, or (without an id, key or where) created with a generated one
      const batched = plans.every((p) => p.byId || p.compiled === undefined)

      /** Whether the creation id of a plan that found nothing is taken (a record or a tombstone holds it). */
      const taken = (plan: Plan) =>
        Effect.map(read(entity, collection, { ids: [plan.id], where: undefined }), (rows) => rows.length > 0)

      /** The record a plan finds (at most one), and whether its creation id is taken. */
      const find = (plan: Plan) =>
        Effect.gen(function*() {
          if (plan.byId) {
            const rows = yield* read(entity, collection, { ids: [plan.id], where: undefined })
            const found = rows.filter((r) => r.own[fenceKey] !== true)
            return { found, taken: rows.length > 0 }
          }
          const found = plan.compiled === undefined ? [] : yield* scan(entity, collection, plan.compiled, 2)
          // a random id is nobody's; a marked step's generated ids carry its saga's key (read for its proof)
          if (found.length !== 0 || (plan.generated && !marked)) return { found, taken: found.length !== 0 }
          return { found, taken: yield* taken(plan) }
        })

      /**
       * A marked step's plans found by their keys (or `where`) in one read with the step's proof: `$or` of their
       * filters' `where` (fence tombstones left out) and the saga's key, each plan's record picked from what it returns
       * (a generated id is taken only by the step's own records, which carry the saga's key). `None` when Chroma cannot
       * express the filters exactly, or the read fills its limit.
       */
      const findMarked = Effect.gen(function*() {
        const compiled = plans.map((p) => p.compiled)
        if (compiled.some((c) => c === undefined || c.ids !== undefined || c.residual || c.none)) {
          return Option.none<ReadonlyArray<Found>>()
        }
        const wheres = [...new Map(compiled.map((c) => [JSON.stringify(c!.where), c!.where])).values()]
        const user = wheres.some((w) => w === undefined)
          ? hidden
          : { $and: [wheres.length === 1 ? wheres[0]! : { $or: wheres }, hidden] }
        const limit = 2 * plans.length + max + 1
        const rows = yield* read(entity, collection, {
          ids: undefined,
          where: { $or: [user, bySaga(mark!.step.sagaId)] }
        }, { limit })
        if (rows.length >= limit) return Option.none<ReadonlyArray<Found>>()
        yield* unproven(mark, entity, undefined, rows)
        return Option.some(
          yield* Effect.forEach(plans, (plan) =>
            Effect.gen(function*() {
              const found = rows.filter((r) =>
                r.own[fenceKey] !== true &&
                Filter.matches(plan.compiled!.filter, { ...r.record.metadata, id: r.record.id })
              ).slice(0, 2)
              if (found.length !== 0) return { found, taken: true }
              if (plan.generated) return { found, taken: rows.some((r) => r.record.id === plan.id) }
              return { found, taken: yield* taken(plan) }
            }))
        )
      })

      /** Each plan's record: one read where it can (see above), else a read per plan (and a marked step's proof). */
      const findEach = Effect.gen(function*() {
        if (marked) {
          const folded = yield* findMarked
          if (Option.isSome(folded)) return folded.value
          yield* unproven(
            mark,
            entity,
            undefined,
            yield* read(entity, collection, { ids: undefined, where: bySaga(mark!.step.sagaId) })
          )
        }
        return yield* Effect.forEach(plans, find)
      })

      /**
       * One round under the locks of `ids`: the result, or the ids found that were not locked (with what the round
       * read, and the generation before it: the next round reuses it when only this round's section ended since).
       */
      type Prior = { readonly before: number; readonly found: ReadonlyArray<Found> }
      const attempt = (
        ids: ReadonlyArray<string>,
        prior: Prior | undefined
      ): Effect.Effect<Either.Either<Written, Prior & { readonly unlocked: ReadonlyArray<string> }>, StoreError> =>
        locked(
          entity,
          ids,
          Effect.gen(function*() {
            const before = generation(entity)
            const found = prior !== undefined && before === prior.before + 1
              ? prior.found
              : yield* sentNothing(batched ? findAll : findEach)
            const unlocked = found.flatMap((f) => f.found.map((r) => r.record.id)).filter((id) => !ids.includes(id))
            if (unlocked.length > 0) return Either.left({ unlocked, before, found })
            const creations: Array<ChromaRecord> = []
            const replacements: Array<Write> = []
            const actions: Array<Undo.UndoAction> = []
            for (const [i, { draft, id }] of plans.entries()) {
              const { found: rows, taken } = found[i]!
              if (rows.length > 1) {
                return yield* Store.fail(engine, "Validation", "an upsert's where must match at most one record", {
                  entity,
                  path: Operation.joinPath(path, "where")
                })
              }
              const existing = rows[0]
              if (existing === undefined) {
                if (taken) {
                  return yield* Store.fail(
                    engine,
                    "Constraint",
                    `a record with id ${JSON.stringify(id)} exists but does not match where`,
                    { entity, path: Operation.joinPath(draft.path, "id") }
                  )
                }
                creations.push({ ...draft, id })
                actions.push({ _tag: "DeleteCreated", key: { id } })
                continue
              }
              if (draft.id !== undefined && draft.id !== existing.record.id) {
                return yield* Store.fail(
                  engine,
                  "Validation",
                  `the matched record's id is ${JSON.stringify(existing.record.id)}`,
                  { entity, path: Operation.joinPath(draft.path, "id") }
                )
              }
              const after: ChromaRecord = { ...draft, id: existing.record.id }
              const action = replaced(existing.record, after)
              replacements.push({
                before: existing.record,
                after,
                markers: marker(mark, JSON.stringify(action), plans.length)
              })
              actions.push(action)
            }
            yield* add(entity, collection, creations, marker(mark, 1, plans.length))
            yield* replace(entity, collection, replacements).pipe(
              // the replacements failed: undo the creations, so the step writes all or nothing
              Effect.tapError(() =>
                creations.length === 0 ? Effect.void : Effect.ignore(
                  undoLog.apply(
                    Undo.make(
                      engine,
                      entity,
                      creations.map((r) => ({ _tag: "DeleteCreated", key: { id: r.id } })),
                      mark?.undoId
                    )
                  )
                )
              )
            )
            // the records in the order of `data`
            const records = plans.map((p, i) =>
              found[i]!.found.length === 0 ? { ...p.draft, id: p.id } : {
                ...p.draft,
                id: found[i]!.found[0]!.record.id
              }
            )
            return Either.right(outcome(records, actions))
          }),
          plans.flatMap((p) => p.byId || p.compiled === undefined ? [] : [JSON.stringify(p.compiled.filter)])
        )
      // a key (or where) found records the round did not lock: lock them too (and read again, unless nothing ended)
      let ids = plans.map((p) => p.id)
      let prior: Prior | undefined = undefined
      for (let round = 1;; round++) {
        const result: Either.Either<Written, Prior & { readonly unlocked: ReadonlyArray<string> }> = yield* attempt(
          ids,
          prior
        )
        if (Either.isRight(result)) return result.right
        prior = result.left
        if (round === upsertRounds) {
          return yield* Store.fail(engine, "Conflict", "the records the upsert's key finds keep changing", {
            entity,
            path: Operation.joinPath(path, "where")
          })
        }
        ids = [...ids, ...result.left.unlocked]
      }
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

  const run = (unit: Unit, prepared: Prepared, operation: Operation.Operation, context: WriteContext) => {
    const path = ""
    const entity = operation.entity
    const step = context.step
    const marked = step !== undefined && isMarked(operation)
    const mark: Mark | undefined = step === undefined ? undefined : {
      key: stepKey(step.undoId),
      undoId: step.undoId,
      step,
      marked,
      keyed: marked && isKeyed(operation),
      claim: (touched) =>
        marked ? Effect.void : barrier.claimFor(unit, step, { entity, operation: operation.kind, ...touched }),
      recorded: context.recorded
    }
    switch (operation.kind) {
      case "insert":
        return insert(entity, prepared.drafts, mark)
      case "upsert":
        return upsert(operation, prepared.drafts, path, mark)
      case "update":
        return update(operation, prepared.compiled!, path, mark)
      case "delete":
        return del(operation, prepared.compiled!, path, mark)
      case "select":
        return select(operation, prepared.compiled!, context)
    }
  }

  /**
   * The write. A collection handle found stale before the step claimed anything (Chroma says the collection is
   * gone: dropped, perhaps created again) is forgotten and the write runs once more on a fresh one.
   */
  const write = (unit: Unit, prepared: Prepared, operation: Operation.Operation, context: WriteContext) =>
    catalog.refreshing(run(unit, prepared, operation, context), () => unit.claimed === undefined)
      .pipe(Effect.withSpan("ChromaStore.write"))

  /**
   * `resolve` of a marked step (`isMarked`), read and fenced by the barrier under the locks of the ids its operation
   * creates when it creates: a keyed step's ids (its own, or derived from the step), an upsert's creation ids (its
   * own, its `where`'s, or derived from the step).
   */
  const resolveMarked = (
    step: Step,
    operation: Operation.Operation
  ): Effect.Effect<Option.Option<Outcome>, StoreError> =>
    Effect.gen(function*() {
      const prepared = yield* prepare(operation, "")
      const where = operation.kind === "upsert" && operation.where !== undefined
        ? yield* compile(operation.where, operation.entity)
        : undefined
      const pinned = where?.ids?.length === 1 ? where.ids[0] : undefined
      const keys = prepared.drafts.map((d, i) => d.id ?? pinned ?? generatedId(step, i))
      return yield* locked(
        operation.entity,
        keys,
        barrier.resolveMarked(step, operation.entity, operation.kind, {
          keyed: isKeyed(operation),
          keys,
          dimension: prepared.drafts[0]?.vector.length
        })
      )
    })

  return { prepare, validate, write, locked, resolveMarked }
}
