import {
  Capabilities,
  Filter,
  Identifier,
  type Operation,
  type Outcome,
  Store,
  type StoreError,
  Undo,
  Update,
  type WriteContext
} from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { connect, type Connection, type Settings } from "./connection.js"
import { engine, locate, storeError } from "./errors.js"
import {
  applyChanges,
  checkChanges,
  type ChromaRecord,
  type Draft,
  flatImage,
  flatten,
  fromGet,
  markerKey,
  parseRow,
  RecordImage,
  sameField,
  sameRecord,
  type Scalar,
  type Stored,
  toImage,
  unflatten
} from "./record.js"
import { compile, type Compiled } from "./where.js"

/** Chroma's distance functions. */
export type Distance = "l2" | "cosine" | "ip"

export interface Options {
  readonly settings: Settings
  readonly distance: Distance
  readonly dimension: number | undefined
  readonly dimensions: Readonly<Record<string, number>>
  readonly maxRecordsPerOperation: number
  readonly markerCollection: string
}

/** Collection metadata key where this adapter records the dimension of a collection it created. */
const dimensionKey = "polysaga_dimension"

const join = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

/** Chroma's own rule for collection names, on top of the identifier pattern. */
const collectionName = /^[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?$/

const checkEntity = (entity: string, path: string): Effect.Effect<string, StoreError> =>
  Identifier.check(entity, "entity name", path).pipe(
    Effect.mapError(locate(entity)),
    Effect.filterOrFail(
      (name) => name.length >= 3 && collectionName.test(name),
      () =>
        storeError(
          "InvalidIdentifier",
          `invalid entity name ${JSON.stringify(entity)}: a Chroma collection name has at least 3 characters and ` +
            "starts and ends with a letter or digit",
          { entity, path }
        )
    )
  )

/** Passed to the client so it never resolves a collection's embedding function: this adapter sends vectors. */
const noEmbedding = {
  name: "polysaga-vectors-only",
  generate: () => Promise.reject(new Error("@polysaga/chroma writes vectors; it embeds nothing"))
}

/** Records per page when the adapter evaluates part of a filter itself. */
const pageSize = 500

const include = ["embeddings", "documents", "metadatas"] as Array<"embeddings" | "documents" | "metadatas">

const output = (record: ChromaRecord): Readonly<Record<string, unknown>> => toImage(record)

const decodeImage = (image: unknown, entity: string): Effect.Effect<ChromaRecord, StoreError> =>
  Schema.decodeUnknown(RecordImage)(image).pipe(
    Effect.mapError((cause) =>
      storeError("Validation", "undo record: not an image of a Chroma record", { entity, path: "undo", cause })
    )
  )

export const make = (options: Options): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const conn: Connection = yield* Effect.acquireRelease(
      Effect.tap(connect(options.settings), (c) => c.call("heartbeat", undefined, () => c.client.heartbeat())),
      // the chromadb client holds no connection of its own (fetch's pool is global): nothing to close
      () => Effect.void
    )
    const max = options.maxRecordsPerOperation
    const capabilities: Capabilities.Capabilities = {
      sourceTypes: ["vector"],
      operations: ["insert", "update", "delete", "upsert", "select"],
      filterOperators: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "and", "or"],
      updateOperators: ["set", "increment", "multiply"],
      maxRecordsPerOperation: max
    }

    // Writes to one collection are serialized within this Store, so read-modify-write is atomic against
    // writers in the same process (not against other processes).
    const locks = new Map<string, Effect.Semaphore>()
    const locked = (entity: string) => <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => {
      let lock = locks.get(entity)
      if (lock === undefined) {
        lock = Effect.unsafeMakeSemaphore(1)
        locks.set(entity, lock)
      }
      return lock.withPermits(1)(effect)
    }

    // ---- collections ---------------------------------------------------------------------------------------

    const open = (entity: string): Effect.Effect<Option.Option<Collection>, StoreError> =>
      conn.call(`open collection ${entity}`, entity, () =>
        conn.client.getCollection({ name: entity, embeddingFunction: noEmbedding })).pipe(
          Effect.map(Option.some),
          Effect.catchIf((e) =>
            e.reason === "EntityNotFound", () =>
            Effect.succeed(Option.none()))
        )

    const create = (entity: string, dimension: number): Effect.Effect<Collection, StoreError> =>
      conn.call(`create collection ${entity}`, entity, () =>
        conn.client.createCollection({
          name: entity,
          embeddingFunction: null,
          configuration: { hnsw: { space: options.distance } },
          metadata: { [dimensionKey]: dimension }
        })).pipe(
          // created by someone else in the meantime
          Effect.catchIf(
            (e) => e.reason === "Constraint",
            () =>
              Effect.flatMap(
                open(entity),
                Option.match({ onNone: () => create(entity, dimension), onSome: Effect.succeed })
              )
          )
        )

    /** The dimension a collection's vectors must have, when it is known. */
    const dimensionOf = (entity: string, collection: Option.Option<Collection>) =>
      Effect.gen(function*() {
        const configured = options.dimensions[entity] ?? options.dimension
        if (Option.isNone(collection)) return configured
        const stored = collection.value.metadata?.[dimensionKey]
        if (typeof stored === "number") {
          if (configured !== undefined && configured !== stored) {
            return yield* storeError(
              "Validation",
              `collection ${entity} holds ${stored}-dimensional vectors but the store is configured for ${configured}`,
              { entity }
            )
          }
          return stored
        }
        if (configured !== undefined) return configured
        const one = yield* conn.call("get", entity, () => collection.value.get({ limit: 1, include: ["embeddings"] }))
        return one.embeddings[0]?.length
      })

    const checkDimensions = (
      entity: string,
      known: number | undefined,
      vectors: ReadonlyArray<{ readonly vector: ReadonlyArray<number>; readonly path: string }>
    ): Effect.Effect<number | undefined, StoreError> => {
      const dimension = known ?? vectors[0]?.vector.length
      const wrong = vectors.find((v) => v.vector.length !== dimension)
      return wrong === undefined
        ? Effect.succeed(dimension)
        : Effect.fail(
          storeError("Validation", `expected a ${dimension}-dimensional vector, got ${wrong.vector.length}`, {
            entity,
            path: wrong.path
          })
        )
    }

    // ---- reads and writes ----------------------------------------------------------------------------------

    const read = (
      entity: string,
      collection: Collection,
      filter: Pick<Compiled, "ids" | "where">,
      limit?: number,
      offset?: number
    ): Effect.Effect<ReadonlyArray<Stored>, StoreError> =>
      conn.call("get", entity, () =>
        collection.get({
          ...(filter.ids === undefined ? {} : { ids: [...filter.ids] }),
          ...(filter.where === undefined ? {} : { where: filter.where as never }),
          ...(limit === undefined ? {} : { limit }),
          ...(offset === undefined ? {} : { offset }),
          include
        })).pipe(Effect.map(fromGet))

    /**
     * Up to `want` records matching a compiled filter. Each record Chroma returns is also checked against the
     * filter itself; when the filter has terms Chroma cannot express (`residual`), Chroma returns a superset that
     * is read page by page.
     */
    const scan = (
      entity: string,
      collection: Collection,
      compiled: Compiled,
      want: number | undefined
    ): Effect.Effect<ReadonlyArray<Stored>, StoreError> =>
      Effect.gen(function*() {
        const keep = (rows: ReadonlyArray<Stored>) =>
          rows.filter((r) => Filter.matches(compiled.filter, { ...r.record.metadata, id: r.record.id }))
        if (compiled.none) return []
        if (!compiled.residual) return keep(yield* read(entity, collection, compiled, want))
        const found: Array<Stored> = []
        for (let offset = 0;; offset += pageSize) {
          const page = yield* read(entity, collection, compiled, pageSize, offset)
          found.push(...keep(page))
          if (page.length < pageSize || (want !== undefined && found.length >= want)) break
        }
        return want === undefined ? found : found.slice(0, want)
      })

    /** Records matching a compiled filter, refusing more than `max`. */
    const matching = (entity: string, collection: Option.Option<Collection>, compiled: Compiled, path: string) =>
      Effect.gen(function*() {
        if (Option.isNone(collection)) return []
        const rows = yield* scan(entity, collection.value, compiled, max + 1)
        if (rows.length > max) {
          return yield* storeError("TooManyRecords", `where matches more than ${max} records`, {
            entity,
            path: join(path, "where")
          })
        }
        return rows
      })

    const add = (entity: string, collection: Collection, records: ReadonlyArray<ChromaRecord>, extra = {}) =>
      records.length === 0 ? Effect.void : conn.post("add", entity, collection.id, "add", {
        ids: records.map((r) => r.id),
        embeddings: records.map((r) => r.vector),
        documents: records.map((r) => r.document),
        metadatas: records.map((r) => {
          const metadata = { ...r.metadata, ...extra }
          return Object.keys(metadata).length === 0 ? null : metadata
        })
      })

    const remove = (entity: string, collection: Collection, ids: ReadonlyArray<string>) =>
      ids.length === 0 ? Effect.void : conn.call("delete", entity, () => collection.delete({ ids: [...ids] }))

    interface Write {
      readonly before: ChromaRecord
      readonly after: ChromaRecord
      /** Marker keys to set (`1`) or remove (`null`) with the same request. */
      readonly markers?: Readonly<Record<string, 1 | null>>
    }

    /**
     * Replaces records in place with one `update` request: metadata keys the new image lacks are sent as `null`
     * (Chroma deletes them). A document cannot be removed by an update: such records are deleted and re-added.
     */
    const replace = (entity: string, collection: Collection, writes: ReadonlyArray<Write>) =>
      Effect.gen(function*() {
        const readd = writes.filter((w) => w.before.document !== null && w.after.document === null)
        const update = writes.filter((w) => !readd.includes(w))
        if (update.length > 0) {
          const vectors = update.some((w) => !sameField("vector", w.before.vector, w.after.vector))
          const documents = update.some((w) => w.before.document !== w.after.document)
          yield* conn.post("update", entity, collection.id, "update", {
            ids: update.map((w) => w.after.id),
            ...(vectors ? { embeddings: update.map((w) => w.after.vector) } : {}),
            // `null` leaves a document unchanged
            ...(documents ? { documents: update.map((w) => w.after.document) } : {}),
            metadatas: update.map((w) => {
              const metadata: Record<string, Scalar | null> = { ...w.after.metadata, ...w.markers }
              for (const key of Object.keys(w.before.metadata)) {
                if (!(key in w.after.metadata)) metadata[key] = null
              }
              return metadata
            })
          })
        }
        for (const w of readd) {
          yield* remove(entity, collection, [w.after.id])
          const markers = Object.fromEntries(Object.entries(w.markers ?? {}).filter(([, v]) => v !== null))
          yield* add(entity, collection, [w.after], markers)
        }
      })

    // ---- validation ----------------------------------------------------------------------------------------

    interface Prepared {
      readonly drafts: ReadonlyArray<Draft>
      readonly compiled: Compiled | undefined
    }

    /** Everything that can be checked without the server. */
    const prepare = (operation: Operation.Operation, path: string): Effect.Effect<Prepared, StoreError> =>
      Effect.gen(function*() {
        const entity = yield* checkEntity(operation.entity, join(path, "from.entity"))
        const compiled = "where" in operation && operation.where !== undefined
          ? yield* compile(operation.where, entity).pipe(Effect.mapError((e) => prefix(e, path)))
          : undefined
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
            return yield* storeError("Validation", `id ${JSON.stringify(draft.id)} appears twice`, {
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
                return yield* storeError("Validation", `the upsert key ${key} is missing`, { entity, path: draft.path })
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
        : storeError(error.reason, error.message.slice(error.path.length + 2), {
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

    const outcome = (entity: string, records: ReadonlyArray<ChromaRecord>, actions: ReadonlyArray<Undo.UndoAction>) =>
      ({ records: records.map(output), affected: records.length, undo: Undo.make(engine, entity, actions) }) as Outcome

    const noMatch = (operation: Operation.Operation, path: string) =>
      operation.options.allowNoMatch === true
        ? Effect.succeed(outcome(operation.entity, [], []))
        : Effect.fail(
          storeError("NoMatch", `${operation.kind}: where matches no record`, {
            entity: operation.entity,
            path: join(path, "where")
          })
        )

    /** Opens the collection (creating it for a write that adds records) and checks the vectors' dimension. */
    const target = (
      entity: string,
      vectors: ReadonlyArray<{ readonly vector: ReadonlyArray<number>; readonly path: string }>,
      createIfMissing: boolean
    ) =>
      Effect.gen(function*() {
        const collection = yield* open(entity)
        const dimension = yield* checkDimensions(entity, yield* dimensionOf(entity, collection), vectors)
        if (Option.isSome(collection) || !createIfMissing || dimension === undefined) return collection
        return Option.some(yield* create(entity, dimension))
      })

    const insert = (entity: string, drafts: ReadonlyArray<Draft>) =>
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
          return yield* storeError("Constraint", `a record with id ${JSON.stringify(id)} exists`, {
            entity,
            path: join(at, "id")
          })
        }
        yield* add(entity, collection, records)
        return outcome(entity, records, records.map((r) => ({ _tag: "DeleteCreated", key: { id: r.id } })))
      })

    const update = (
      operation: Extract<Operation.Operation, { kind: "update" }>,
      compiled: Compiled,
      path: string
    ) =>
      Effect.gen(function*() {
        const entity = operation.entity
        const vectors = vectorsOf(operation, { drafts: [], compiled }, path)
        const collection = yield* target(entity, vectors, false)
        const rows = yield* matching(entity, collection, compiled, path)
        if (rows.length === 0 || Option.isNone(collection)) return yield* noMatch(operation, path)
        const writes = yield* Effect.forEach(rows, ({ record }) =>
          Effect.map(
            applyChanges(operation.changes, record, Update.apply, entity).pipe(Effect.mapError((e) => prefix(e, path))),
            (after): Write => ({ before: record, after })
          ))
        yield* replace(entity, collection.value, writes)
        return outcome(
          entity,
          writes.map((w) => w.after),
          writes.map((w) => Undo.revert({ id: w.after.id }, operation.changes, flatImage(w.before), flatImage(w.after)))
        )
      })

    const del = (operation: Extract<Operation.Operation, { kind: "delete" }>, compiled: Compiled, path: string) =>
      Effect.gen(function*() {
        const entity = operation.entity
        const collection = yield* open(entity)
        const rows = yield* matching(entity, collection, compiled, path)
        if (rows.length === 0 || Option.isNone(collection)) return yield* noMatch(operation, path)
        yield* remove(entity, collection.value, rows.map((r) => r.record.id))
        return outcome(
          entity,
          rows.map((r) => r.record),
          rows.map((r) => ({ _tag: "Reinsert", image: toImage(r.record) }))
        )
      })

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
      path: string
    ) =>
      Effect.gen(function*() {
        const entity = operation.entity
        const collection = Option.getOrThrow(
          yield* target(entity, drafts.map((d) => ({ vector: d.vector, path: join(d.path, "vector") })), true)
        )
        const records: Array<ChromaRecord> = []
        const actions: Array<Undo.UndoAction> = []
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
              return yield* storeError("Validation", "an upsert's where must match at most one record", {
                entity,
                path: join(path, "where")
              })
            }
            const existing = found[0]?.record
            if (existing !== undefined) {
              if (draft.id !== undefined && draft.id !== existing.id) {
                return yield* storeError("Validation", `the matched record's id is ${JSON.stringify(existing.id)}`, {
                  entity,
                  path: join(draft.path, "id")
                })
              }
              const after: ChromaRecord = { ...draft, id: existing.id }
              yield* replace(entity, collection, [{ before: existing, after }])
              records.push(after)
              actions.push(replaced(existing, after))
              return
            }
            const pinned = compiled?.ids?.length === 1 ? compiled.ids[0] : undefined
            const id = draft.id ?? pinned ?? crypto.randomUUID()
            const taken = yield* read(entity, collection, { ids: [id], where: undefined })
            if (taken.length > 0) {
              return yield* storeError(
                "Constraint",
                `a record with id ${JSON.stringify(id)} exists but does not match where`,
                {
                  entity,
                  path: join(draft.path, "id")
                }
              )
            }
            const created: ChromaRecord = { ...draft, id }
            yield* add(entity, collection, [created])
            records.push(created)
            actions.push({ _tag: "DeleteCreated", key: { id } })
          })
        yield* Effect.forEach(drafts, one, { discard: true }).pipe(
          // a later record failed: undo what the earlier ones wrote, so the step writes all or nothing
          Effect.tapError(() =>
            actions.length === 0 ? Effect.void : Effect.ignore(applyUndo(Undo.make(engine, entity, actions)))
          )
        )
        return outcome(entity, records, actions)
      })

    /** At most `readLimit` records (the kernel decides the bound). */
    const select = (
      operation: Extract<Operation.Operation, { kind: "select" }>,
      compiled: Compiled,
      context: WriteContext
    ) =>
      Effect.gen(function*() {
        const collection = yield* open(operation.entity)
        if (Option.isNone(collection) || compiled.none) return outcome(operation.entity, [], [])
        const rows = yield* scan(operation.entity, collection.value, compiled, context.readLimit)
        return outcome(operation.entity, rows.map((r) => r.record), [])
      })

    const write = Effect.fn("ChromaStore.write")(
      function*(prepared: Prepared, operation: Operation.Operation, context: WriteContext) {
        const path = ""
        const entity = operation.entity
        switch (operation.kind) {
          case "insert":
            return yield* locked(entity)(insert(entity, prepared.drafts))
          case "upsert":
            return yield* locked(entity)(upsert(operation, prepared.drafts, path))
          case "update":
            return yield* locked(entity)(update(operation, prepared.compiled!, path))
          case "delete":
            return yield* locked(entity)(del(operation, prepared.compiled!, path))
          case "select":
            return yield* select(operation, prepared.compiled!, context)
        }
      }
    )

    // ---- undo ----------------------------------------------------------------------------------------------

    /** The companion collection of applied undo ids (one 1-dimensional record per applied undo record). */
    const markers = options.markerCollection

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
     * Applies an undo record. Phase 1 reads every record it touches and plans the writes, failing with
     * `Conflict` before writing anything when a record no longer holds this step's after-image. Phase 2 writes:
     * relative inverses carry the marker key `polysaga:undo:<id>` in the same request (so a retry after a crash
     * never applies them twice), then the undo id goes into the companion collection, then the marker keys are
     * removed. An undo id found in the companion collection makes the whole undo a no-op.
     */
    const applyUndo = (record: Undo.UndoRecord): Effect.Effect<void, StoreError> =>
      Effect.gen(function*() {
        const entity = record.entity
        const marker = markerKey(record.id)
        const ids = record.actions.map(keyOf)
        const bad = ids.find((id) => typeof id !== "string")
        if (bad !== undefined) {
          return yield* storeError("Validation", "undo record: a Chroma key is { id: string }", {
            entity,
            path: "undo"
          })
        }
        const collection = yield* open(entity)
        const current = new Map<string, Stored>()
        if (Option.isSome(collection) && ids.length > 0) {
          for (const row of yield* read(entity, collection.value, { ids: ids as Array<string>, where: undefined })) {
            current.set(row.record.id, row)
          }
        }
        const cleanup = (target: Collection, ids: ReadonlyArray<string>) =>
          ids.length === 0 ? Effect.void : conn.post("remove undo markers", entity, target.id, "update", {
            ids,
            metadatas: ids.map(() => ({ [marker]: null }))
          })
        // records carrying this undo's marker: an earlier attempt wrote their inverse
        const marked = [...current.values()].filter((s) => s.markers.includes(marker)).map((s) => s.record.id)
        if (yield* isDone(record.id)) {
          if (Option.isSome(collection)) yield* cleanup(collection.value, marked)
          return
        }
        const conflict = (id: string, message: string) =>
          storeError("Conflict", `record ${JSON.stringify(id)} ${message}: nothing was undone`, {
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
              else if (!sameRecord(stored.record, image)) {
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
                    return yield* storeError("Validation", "undo record: Chroma metadata holds no arrays to pop", {
                      entity,
                      path: "undo"
                    })
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
              if (relative || !sameRecord(after, stored.record)) {
                writes.push({ before: stored.record, after, ...(relative ? { markers: { [marker]: 1 } } : {}) })
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

    const undo = Effect.fn("ChromaStore.undo")(function*(record: Undo.UndoRecord) {
      const entity = yield* checkEntity(record.entity, "undo.entity")
      yield* locked(entity)(applyUndo(record))
    })

    const ping = conn.call("heartbeat", undefined, () => conn.client.heartbeat()).pipe(Effect.asVoid)

    /** Retention of the companion collection: applied-undo records older than `olderThan` (by `at_ms`). */
    const prune = Effect.fn("ChromaStore.prune")(function*(olderThan: Duration.DurationInput) {
      const collection = yield* open(markers)
      if (Option.isNone(collection)) return 0
      const cutoff = Date.now() - Duration.toMillis(Duration.decode(olderThan))
      const old = yield* read(markers, collection.value, { ids: undefined, where: { at_ms: { $lt: cutoff } } })
      yield* remove(markers, collection.value, old.map((row) => row.record.id))
      return old.length
    })

    return Store.make({
      name: engine,
      capabilities,
      prepare,
      validate,
      // Chroma has no transaction: a write to one collection is serialized in this process (see `locked`)
      transaction: (_entity, use) => use(undefined),
      write: (_unit, prepared, operation, context) =>
        Effect.map(write(prepared, operation, context), (o) => ({ records: o.records, actions: o.undo.actions })),
      undo,
      ping,
      prune
    })
  })
