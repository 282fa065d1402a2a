/**
 * The connection to Chroma: the settings, the `chromadb` client, every HTTP request the adapter makes (heartbeat,
 * `get`, `query`, `add`, `update`, `delete`, each bounded by the request timeout), how a request's failure becomes a
 * `StoreError`, and records as Chroma stores them (the user's part and this adapter's own metadata keys).
 */
import { Filter, Store, type StoreError, type StoreErrorReason } from "@polysaga/store"
import { ChromaClient, type Collection } from "chromadb"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Compiled, Where } from "./compile.js"

/** The engine name undo records and errors carry. */
export const engine = "chroma"

/** A metadata value Chroma stores. */
export type Scalar = string | number | boolean

/** A Chroma record as this adapter reads, writes and returns it. */
export interface ChromaRecord {
  readonly id: string
  readonly vector: ReadonlyArray<number>
  readonly document: string | null
  readonly metadata: Readonly<Record<string, Scalar>>
}

/** Metadata keys this adapter writes for its own bookkeeping (undo markers); never user keys. */
export const markerPrefix = "polysaga:"

export const markerKey = (undoId: string): string => `${markerPrefix}undo:${undoId}`

/**
 * The step barrier's marker key of the step whose outcome carries this undo id: `1` on a record the step added,
 * the `Revert` (JSON) that undoes it on a record it updated, `"fence"` on a record a resolution fenced.
 */
export const stepKey = (undoId: string): string => `${stepPrefix}${undoId}`

/** The prefix of every step marker key (and of the step bookkeeping below, all removed by `prune`). */
export const stepPrefix = `${markerPrefix}step:`

/** The fingerprint of the operation of a keyed step (its proof is in its records alone), beside its marker. */
export const operationKey = (undoId: string): string => `${stepPrefix}op:${undoId}`

/** A key naming the saga of a step that marked the record (`1`), so `used` finds the saga from the records. */
export const sagaKey = (hash: string): string => `${stepPrefix}saga:${hash}`

/** When a step last marked the record (ms), for `prune`. */
export const atKey = `${stepPrefix}at`

/** A `where` sparing the records a resolution fenced against the step whose marker key is `key`. */
export const spare = (key: string): Where => ({ [key]: { $ne: "fence" } })

/** A `where` matching only the records the step whose marker key is `key` added (its marker is `1`). */
export const own = (key: string): Where => ({ [key]: { $eq: 1 } })

/** Metadata key of a fence tombstone (a record occupying the id of an add that never arrived); never a user record. */
export const fenceKey = `${markerPrefix}fence`

/** Vectors come back as float32: two vectors are equal when they are equal as float32. */
export const sameVector = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
  a.every((x, i) => typeof x === "number" && typeof b[i] === "number" && Math.fround(x) === Math.fround(b[i]))

/** Equality of one field of the flat view (`vector` compared as float32). */
export const sameField = (field: string, a: unknown, b: unknown): boolean =>
  field === "vector" ? sameVector(a, b) : (a ?? null) === (b ?? null)

/** What `get` returned for one record, split into the user's record and this adapter's markers. */
export interface Stored {
  readonly record: ChromaRecord
  readonly markers: ReadonlyArray<string>
  /** The adapter's own metadata (markers, fence) with their values. */
  readonly own: Readonly<Record<string, Scalar>>
}

export interface GetLike {
  readonly ids: ReadonlyArray<string>
  readonly embeddings: ReadonlyArray<ReadonlyArray<number> | null | undefined>
  readonly documents: ReadonlyArray<string | null | undefined>
  readonly metadatas: ReadonlyArray<Readonly<Record<string, unknown>> | null | undefined>
}

export const fromGet = (result: GetLike): ReadonlyArray<Stored> =>
  result.ids.map((id, i) => {
    const metadata: Record<string, Scalar> = {}
    const markers: Array<string> = []
    const own: Record<string, Scalar> = {}
    for (const [key, value] of Object.entries(result.metadatas[i] ?? {})) {
      if (key.startsWith(markerPrefix)) {
        markers.push(key)
        if (value !== null && value !== undefined) own[key] = value as Scalar
      } else if (value !== null && value !== undefined) metadata[key] = value as Scalar
    }
    return {
      record: { id, vector: [...(result.embeddings[i] ?? [])], document: result.documents[i] ?? null, metadata },
      markers,
      own
    }
  })

/** The resolved connection settings. */
export interface Settings {
  readonly url: Redacted.Redacted<string>
  readonly tenant: string
  readonly database: string
  readonly token: Redacted.Redacted<string> | undefined
  readonly tokenHeader: "authorization" | "x-chroma-token"
  readonly timeout: Duration.Duration
}

/** Records per page when the adapter evaluates part of a filter itself. */
const pageSize = 500

const include = ["embeddings", "documents", "metadatas"] as Array<"embeddings" | "documents" | "metadatas">

/** A user's read never matches a fence tombstone. */
export const hidden = { [fenceKey]: { $ne: true } }

/** One record's write by `replace`: its image before and after, and marker keys to set or remove (`null`). */
export interface Write {
  readonly before: ChromaRecord
  readonly after: ChromaRecord
  readonly markers?: Readonly<Record<string, Scalar | null>>
}

/**
 * The chromadb client, and the requests made with it. `add` and `update` are sent to the REST API directly: the
 * client refuses an `add` mixing records with and without a document, and drops `null` metadata values (which
 * delete keys) from an `update`, so it could never remove a metadata key.
 */
export interface Connection {
  readonly client: ChromaClient
  /** Runs one client request under the timeout; its failure classified. */
  readonly call: <A>(what: string, entity: string | undefined, f: () => Promise<A>) => Effect.Effect<A, StoreError>
  /** One `add` or `update` request to the REST API. */
  readonly post: (
    what: string,
    entity: string,
    collectionId: string,
    endpoint: "add" | "update",
    body: unknown
  ) => Effect.Effect<void, StoreError>
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
  /** Adds records, with `extra` metadata (markers) on each. Chroma keeps the first record of an id. */
  readonly add: (
    entity: string,
    collection: Collection,
    records: ReadonlyArray<ChromaRecord>,
    extra?: Readonly<Record<string, Scalar>>
  ) => Effect.Effect<void, StoreError>
  /** Deletes by id, only records matching `where` when it is given (`spare` and `own` below build it). */
  readonly remove: (
    entity: string,
    collection: Collection,
    ids: ReadonlyArray<string>,
    where?: Where
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

const nameOf = (u: unknown): string =>
  typeof u === "object" && u !== null && "name" in u && typeof u.name === "string" ? u.name : ""

const messageOf = (u: unknown): string => u instanceof Error ? u.message : String(u)

/**
 * The reason of an error thrown by the chromadb client (or by `fetch`): connection faults, rate limits and the
 * server's internal errors (5xx) are transient (`Unavailable`), aborted requests are `Timeout`, bad requests are
 * `Validation`, the rest is `Unknown` (never retried).
 */
const reasonOfThrown = (name: string, message: string): StoreErrorReason => {
  switch (name) {
    // ChromaServerError is a 5xx: Chroma reports its own internal faults this way (e.g. "Error sending message to
    // compactor")
    case "ChromaConnectionError":
    case "ChromaRateLimitError":
    case "ChromaServerError":
      return "Unavailable"
    case "TimeoutError":
    case "AbortError":
      return "Timeout"
    case "ChromaClientError":
    case "ChromaValueError":
    case "InvalidArgumentError":
      return "Validation"
    case "ChromaUniqueError":
      return "Constraint"
    case "ChromaNotFoundError":
    case "InvalidCollectionError":
      return "EntityNotFound"
    case "TypeError":
      // undici's `fetch failed` (connection refused, reset, DNS)
      return /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|socket/i.test(message) ? "Unavailable" : "Unknown"
    default:
      return "Unknown"
  }
}

/** The reason of a non-2xx answer of the Chroma REST API. */
const reasonOfStatus = (status: number): StoreErrorReason => {
  if (status === 400 || status === 422) return "Validation"
  if (status === 404) return "EntityNotFound"
  if (status === 409) return "Constraint"
  if (status === 408 || status === 504) return "Timeout"
  // 500: Chroma's internal faults (e.g. "Error sending message to compactor" under load) pass when retried
  if (status === 429 || status === 500 || status === 502 || status === 503) return "Unavailable"
  return "Unknown"
}

/** A non-2xx answer of the Chroma REST API. */
class HttpStatus extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status} ${body.slice(0, 500)}`)
  }
}

const classify = (what: string, entity: string | undefined) => (cause: unknown): StoreError => {
  const message = `${what}: ${messageOf(cause)}`
  return cause instanceof HttpStatus
    ? Store.fail(engine, reasonOfStatus(cause.status), message, {
      entity,
      cause: { status: cause.status, body: cause.body }
    })
    : Store.fail(engine, reasonOfThrown(nameOf(cause), message), message, { entity, cause })
}

export const connect = (settings: Settings): Effect.Effect<Connection, StoreError> =>
  Effect.gen(function*() {
    const url = yield* Effect.try({
      try: () => new URL(Redacted.value(settings.url)),
      catch: (cause) => Store.fail(engine, "Validation", "the Chroma url is not a valid URL", { cause })
    })
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return yield* Store.fail(engine, "Validation", `the Chroma url must use http or https, not ${url.protocol}`)
    }
    const ssl = url.protocol === "https:"
    const port = url.port === "" ? (ssl ? 443 : 80) : Number(url.port)
    const headers: Record<string, string> = {}
    if (settings.token !== undefined) {
      const token = Redacted.value(settings.token)
      if (settings.tokenHeader === "authorization") headers["authorization"] = `Bearer ${token}`
      else headers["x-chroma-token"] = token
    }
    const client = new ChromaClient({
      host: url.hostname,
      port,
      ssl,
      tenant: settings.tenant,
      database: settings.database,
      headers
    })
    const base = `${ssl ? "https" : "http"}://${url.host}/api/v2/tenants/${encodeURIComponent(settings.tenant)}` +
      `/databases/${encodeURIComponent(settings.database)}/collections/`
    const millis = Duration.toMillis(settings.timeout)

    const call: Connection["call"] = (what, entity, f) =>
      Effect.tryPromise({ try: f, catch: classify(what, entity) }).pipe(
        Effect.timeoutFail({
          duration: settings.timeout,
          onTimeout: () =>
            Store.fail(engine, "Timeout", `${what}: no answer from Chroma within ${millis} ms`, { entity })
        })
      )

    // no AbortSignal per request: the timeout ends the wait (as for the client's requests), a late answer is dropped
    const post: Connection["post"] = (what, entity, collectionId, endpoint, body) =>
      call(what, entity, async () => {
        const response = await fetch(`${base}${encodeURIComponent(collectionId)}/${endpoint}`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify(body)
        })
        const text = await response.text()
        if (!response.ok) throw new HttpStatus(response.status, text)
      })

    const read: Connection["read"] = (entity, collection, filter, options = {}) =>
      call("get", entity, () =>
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

    const nearest: Connection["nearest"] = (entity, collection, filter, vector, n) =>
      call("query", entity, () =>
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

    const scan: Connection["scan"] = (entity, collection, compiled, want) =>
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

    const add: Connection["add"] = (entity, collection, records, extra = {}) =>
      records.length === 0 ? Effect.void : post("add", entity, collection.id, "add", {
        ids: records.map((r) => r.id),
        embeddings: records.map((r) => r.vector),
        documents: records.map((r) => r.document),
        metadatas: records.map((r) => {
          const metadata = { ...r.metadata, ...extra }
          return Object.keys(metadata).length === 0 ? null : metadata
        })
      })

    const remove: Connection["remove"] = (entity, collection, ids, where) =>
      ids.length === 0 ?
        Effect.void :
        call(
          "delete",
          entity,
          () => collection.delete({ ids: [...ids], ...(where === undefined ? {} : { where: where as never }) })
        )

    const replace: Connection["replace"] = (entity, collection, writes) =>
      Effect.gen(function*() {
        const readd = writes.filter((w) => w.before.document !== null && w.after.document === null)
        const update = writes.filter((w) => !readd.includes(w))
        if (update.length > 0) {
          const vectors = update.some((w) => !sameField("vector", w.before.vector, w.after.vector))
          const documents = update.some((w) => w.before.document !== w.after.document)
          yield* post("update", entity, collection.id, "update", {
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

    return { client, call, post, read, nearest, scan, add, remove, replace }
  })
