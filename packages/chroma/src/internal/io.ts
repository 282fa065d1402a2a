/**
 * Reads and writes of records: `get` (user reads never see fence tombstones), the filter scan, `add`, `delete`, and
 * the in-place `update` with `null` metadata values.
 */
import { Filter, type StoreError } from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { join } from "./catalog.js"
import type { Connection } from "./connection.js"
import { storeError } from "./errors.js"
import { type ChromaRecord, fenceKey, fromGet, sameField, type Scalar, type Stored } from "./record.js"
import type { Compiled } from "./where.js"

/** Records per page when the adapter evaluates part of a filter itself. */
const pageSize = 500

const include = ["embeddings", "documents", "metadatas"] as Array<"embeddings" | "documents" | "metadatas">

/** A user's read never matches a fence tombstone. */
const hidden = { [fenceKey]: { $ne: true } }

export interface Write {
  readonly before: ChromaRecord
  readonly after: ChromaRecord
  /** Marker keys to set or remove (`null`) with the same request. */
  readonly markers?: Readonly<Record<string, Scalar | null>>
}

export interface Io {
  /**
   * Records by ids and/or a Chroma `where`, as stored (the adapter's own metadata in `own`). `visible`: a user's
   * read, which never sees fence tombstones; the adapter's own reads see every record.
   */
  readonly read: (
    entity: string,
    collection: Collection,
    filter: Pick<Compiled, "ids" | "where">,
    options?: { readonly limit?: number; readonly offset?: number; readonly visible?: boolean }
  ) => Effect.Effect<ReadonlyArray<Stored>, StoreError>
  /**
   * Up to `want` records matching a compiled filter. Each record Chroma returns is also checked against the
   * filter itself; when the filter has terms Chroma cannot express (`residual`), Chroma returns a superset that
   * is read page by page.
   */
  readonly scan: (
    entity: string,
    collection: Collection,
    compiled: Compiled,
    want: number | undefined
  ) => Effect.Effect<ReadonlyArray<Stored>, StoreError>
  /**
   * The `n` records nearest `vector` among those matching a compiled filter (as Chroma evaluates it; fence
   * tombstones never), nearest first, each with its distance.
   */
  readonly nearest: (
    entity: string,
    collection: Collection,
    filter: Pick<Compiled, "ids" | "where">,
    vector: ReadonlyArray<number>,
    n: number
  ) => Effect.Effect<ReadonlyArray<Stored & { readonly distance: number }>, StoreError>
  /** Records matching a compiled filter, refusing more than the bound. */
  readonly matching: (
    entity: string,
    collection: Option.Option<Collection>,
    compiled: Compiled,
    path: string
  ) => Effect.Effect<ReadonlyArray<Stored>, StoreError>
  /** Adds records, with `extra` metadata (markers) on each. Chroma keeps the first record of an id. */
  readonly add: (
    entity: string,
    collection: Collection,
    records: ReadonlyArray<ChromaRecord>,
    extra?: Readonly<Record<string, Scalar>>
  ) => Effect.Effect<void, StoreError>
  /** Deletes by id; `unless` spares records carrying that marker key with the value `"fence"`. */
  readonly remove: (
    entity: string,
    collection: Collection,
    ids: ReadonlyArray<string>,
    unless?: string
  ) => Effect.Effect<void, StoreError>
  /**
   * Replaces records in place with one `update` request: metadata keys the new image lacks are sent as `null`
   * (Chroma deletes them). A document cannot be removed by an update: such records are deleted and re-added.
   */
  readonly replace: (
    entity: string,
    collection: Collection,
    writes: ReadonlyArray<Write>
  ) => Effect.Effect<void, StoreError>
}

export const make = (conn: Connection, max: number): Io => {
  const read: Io["read"] = (entity, collection, filter, options = {}) =>
    conn.call("get", entity, () =>
      collection.get({
        ...(filter.ids === undefined ? {} : { ids: [...filter.ids] }),
        ...(options.visible === true
          ? { where: (filter.where === undefined ? hidden : { $and: [filter.where, hidden] }) as never }
          : filter.where === undefined
          ? {}
          : { where: filter.where as never }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(options.offset === undefined ? {} : { offset: options.offset }),
        include
      })).pipe(Effect.map(fromGet))

  const nearest: Io["nearest"] = (entity, collection, filter, vector, n) =>
    conn.call("query", entity, () =>
      collection.query({
        queryEmbeddings: [[...vector]],
        nResults: n,
        ...(filter.ids === undefined ? {} : { ids: [...filter.ids] }),
        where: (filter.where === undefined ? hidden : { $and: [filter.where, hidden] }) as never,
        include: [...include, "distances"]
      })).pipe(Effect.map((result) => {
        const rows = fromGet({
          ids: result.ids[0] ?? [],
          embeddings: result.embeddings[0] ?? [],
          documents: result.documents[0] ?? [],
          metadatas: result.metadatas[0] ?? []
        })
        const distances = result.distances[0] ?? []
        return rows.map((row, i) => ({ ...row, distance: distances[i] ?? Number.POSITIVE_INFINITY }))
      }))

  const scan: Io["scan"] = (entity, collection, compiled, want) =>
    Effect.gen(function*() {
      const keep = (rows: ReadonlyArray<Stored>) =>
        rows.filter((r) => Filter.matches(compiled.filter, { ...r.record.metadata, id: r.record.id }))
      if (compiled.none) return []
      if (!compiled.residual) {
        return keep(
          yield* read(entity, collection, compiled, { ...(want === undefined ? {} : { limit: want }), visible: true })
        )
      }
      const found: Array<Stored> = []
      for (let offset = 0;; offset += pageSize) {
        const page = yield* read(entity, collection, compiled, { limit: pageSize, offset, visible: true })
        found.push(...keep(page))
        if (page.length < pageSize || (want !== undefined && found.length >= want)) break
      }
      return want === undefined ? found : found.slice(0, want)
    })

  const matching: Io["matching"] = (entity, collection, compiled, path) =>
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

  const add: Io["add"] = (entity, collection, records, extra = {}) =>
    records.length === 0 ? Effect.void : conn.post("add", entity, collection.id, "add", {
      ids: records.map((r) => r.id),
      embeddings: records.map((r) => r.vector),
      documents: records.map((r) => r.document),
      metadatas: records.map((r) => {
        const metadata = { ...r.metadata, ...extra }
        return Object.keys(metadata).length === 0 ? null : metadata
      })
    })

  const remove: Io["remove"] = (entity, collection, ids, unless) =>
    ids.length === 0 ? Effect.void : conn.call("delete", entity, () =>
      collection.delete({
        ids: [...ids],
        ...(unless === undefined ? {} : { where: { [unless]: { $ne: "fence" } } })
      }))

  const replace: Io["replace"] = (entity, collection, writes) =>
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
        const markers = Object.fromEntries(
          Object.entries(w.markers ?? {}).filter((entry): entry is [string, Scalar] => entry[1] !== null)
        )
        yield* add(entity, collection, [w.after], markers)
      }
    })

  return { read, nearest, scan, matching, add, remove, replace }
}
