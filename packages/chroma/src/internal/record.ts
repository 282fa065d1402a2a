import { Identifier, type Operation, type StoreError, type Undo, type Update } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { locate, storeError } from "./errors.js"

/** A metadata value Chroma stores. */
export type Scalar = string | number | boolean

/** A Chroma record as this adapter reads, writes and returns it. */
export interface ChromaRecord {
  readonly id: string
  readonly vector: ReadonlyArray<number>
  readonly document: string | null
  readonly metadata: Readonly<Record<string, Scalar>>
}

/** The JSON image of a record in undo records: the record itself (it is plain JSON). */
export const RecordImage = Schema.Struct({
  id: Schema.String,
  vector: Schema.Array(Schema.Finite),
  document: Schema.NullOr(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Finite, Schema.Boolean) })
})

/** The top-level keys of a record; none of them may be a metadata key. */
export const reserved: ReadonlySet<string> = new Set(["id", "vector", "document", "metadata"])

/** Metadata keys this adapter writes for its own bookkeeping (undo markers); never user keys. */
export const markerPrefix = "polysaga:"

export const markerKey = (undoId: string): string => `${markerPrefix}undo:${undoId}`

/**
 * The step barrier's marker key of the step whose outcome carries this undo id: `1` on a record the step added,
 * the `Revert` (JSON) that undoes it on a record it updated, `"fence"` on a record a resolution fenced.
 */
export const stepKey = (undoId: string): string => `${markerPrefix}step:${undoId}`

/** Metadata key of a fence tombstone (a record occupying the id of an add that never arrived); never a user record. */
export const fenceKey = `${markerPrefix}fence`

export const toImage = (record: ChromaRecord): Undo.Image => ({
  id: record.id,
  vector: [...record.vector],
  document: record.document,
  metadata: { ...record.metadata }
})

/**
 * The flat view update semantics apply to: the metadata fields plus `vector` and `document`.
 */
export const flatten = (record: ChromaRecord): Record<string, unknown> => ({
  ...record.metadata,
  vector: [...record.vector],
  document: record.document
})

export const unflatten = (id: string, flat: Readonly<Record<string, unknown>>): ChromaRecord => {
  const metadata: Record<string, Scalar> = {}
  for (const [key, value] of Object.entries(flat)) {
    if (key === "vector" || key === "document" || value === null || value === undefined) continue
    metadata[key] = value as Scalar
  }
  return {
    id,
    vector: flat.vector as ReadonlyArray<number>,
    document: (flat.document ?? null) as string | null,
    metadata
  }
}

/** Flat view as JSON, for `Undo.revert` and checked restores. */
export const flatImage = (record: ChromaRecord): Undo.Image => flatten(record) as Undo.Image

/** Vectors come back as float32: two vectors are equal when they are equal as float32. */
export const sameVector = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
  a.every((x, i) => typeof x === "number" && typeof b[i] === "number" && Math.fround(x) === Math.fround(b[i]))

/** Equality of one field of the flat view (`vector` compared as float32). */
export const sameField = (field: string, a: unknown, b: unknown): boolean =>
  field === "vector" ? sameVector(a, b) : (a ?? null) === (b ?? null)

export const sameRecord = (a: ChromaRecord, b: ChromaRecord): boolean => {
  const ka = Object.keys(a.metadata), kb = Object.keys(b.metadata)
  return a.id === b.id && a.document === b.document && sameVector(a.vector, b.vector) && ka.length === kb.length &&
    ka.every((k) => a.metadata[k] === b.metadata[k])
}

/** What `get` returned for one record, split into the user's record and this adapter's markers. */
export interface Stored {
  readonly record: ChromaRecord
  readonly markers: ReadonlyArray<string>
  /** The adapter's own metadata (markers, fence) with their values. */
  readonly own: Readonly<Record<string, Scalar>>
}

/** A stored record as an image that restores it exactly, the adapter's own metadata included. */
export const wholeImage = (stored: Stored): Undo.Image => ({
  ...toImage(stored.record),
  metadata: { ...stored.record.metadata, ...stored.own }
})

/** A record without the adapter's own metadata keys. */
export const userPart = (record: ChromaRecord): ChromaRecord =>
  Object.keys(record.metadata).some((key) => key.startsWith(markerPrefix))
    ? {
      ...record,
      metadata: Object.fromEntries(Object.entries(record.metadata).filter(([key]) => !key.startsWith(markerPrefix)))
    }
    : record

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

/** A value as Chroma metadata holds it: dates become ISO strings; `null` means "no such key". */
export const encodeValue = (
  value: unknown,
  path: string,
  entity: string
): Effect.Effect<Scalar | null, StoreError> => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return Effect.succeed(value)
  if (typeof value === "number" && Number.isFinite(value)) return Effect.succeed(value)
  if (value instanceof Date && !isNaN(value.getTime())) return Effect.succeed(value.toISOString())
  return Effect.fail(
    storeError("Validation", "Chroma metadata holds strings, finite numbers, booleans and dates (as ISO strings)", {
      entity,
      path
    })
  )
}

const checkField = (field: string, what: string, path: string, entity: string) =>
  Identifier.check(field, what, path).pipe(Effect.mapError(locate(entity)))

/** The checked vector at `path`: a non-empty array of finite numbers. */
export const checkVector = (
  value: unknown,
  path: string,
  entity: string
): Effect.Effect<ReadonlyArray<number>, StoreError> =>
  Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === "number" && Number.isFinite(x))
    ? Effect.succeed(value as ReadonlyArray<number>)
    : Effect.fail(storeError("Validation", "vector must be a non-empty array of finite numbers", { entity, path }))

/** A record of `data` before its id is known (upserts may take it from `where` or generate it). */
export interface Draft {
  readonly id: string | undefined
  readonly vector: ReadonlyArray<number>
  readonly document: string | null
  readonly metadata: Readonly<Record<string, Scalar>>
  readonly path: string
}

/** Checks one record of `data` against the shape `{ id, vector, document?, metadata? }`. */
export const parseRow = (row: Operation.Row, path: string, entity: string): Effect.Effect<Draft, StoreError> =>
  Effect.gen(function*() {
    for (const key of Object.keys(row)) {
      if (!reserved.has(key)) {
        yield* checkField(key, "field name", `${path}.${key}`, entity)
        return yield* storeError(
          "Validation",
          "a Chroma record is { id, vector, document?, metadata? }: put other fields in metadata",
          { entity, path: `${path}.${key}` }
        )
      }
    }
    const id = row.id
    if (id !== undefined && (typeof id !== "string" || id.length === 0)) {
      return yield* storeError("Validation", "id must be a non-empty string", { entity, path: `${path}.id` })
    }
    const vector = yield* checkVector(row.vector, `${path}.vector`, entity)
    const document = row.document ?? null
    if (document !== null && typeof document !== "string") {
      return yield* storeError("Validation", "document must be a string or null", { entity, path: `${path}.document` })
    }
    const raw = row.metadata ?? {}
    if (typeof raw !== "object" || Array.isArray(raw) || raw instanceof Date) {
      return yield* storeError("Validation", "metadata must be an object", { entity, path: `${path}.metadata` })
    }
    const metadata: Record<string, Scalar> = {}
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      const at = `${path}.metadata.${key}`
      yield* checkField(key, "metadata key", at, entity)
      if (reserved.has(key)) {
        return yield* storeError("Validation", `${key} is reserved and cannot be a metadata key`, { entity, path: at })
      }
      const encoded = yield* encodeValue(value, at, entity)
      if (encoded !== null) metadata[key] = encoded
    }
    return { id: id as string | undefined, vector, document, metadata, path }
  })

/** Checks the changes of an update against what a Chroma record can hold. */
export const checkChanges = (
  changes: ReadonlyArray<Update.Change>,
  entity: string
): Effect.Effect<void, StoreError> =>
  Effect.forEach(changes, (change) =>
    Effect.gen(function*() {
      yield* checkField(change.field, "field name", change.path, entity)
      if (change.field === "id" || change.field === "metadata") {
        return yield* storeError(
          "Validation",
          change.field === "id" ? "a record's id cannot be updated" : "update metadata fields by their own names",
          { entity, path: change.path }
        )
      }
      if (change.field === "vector" || change.field === "document") {
        if (change.op !== "set") {
          return yield* storeError("Validation", `${change.field} can only be set`, { entity, path: change.path })
        }
        if (change.field === "vector") yield* checkVector(change.value, change.path, entity)
        else if (change.value !== null && typeof change.value !== "string") {
          return yield* storeError("Validation", "document must be a string or null", { entity, path: change.path })
        }
        return
      }
      if (change.op === "set") yield* encodeValue(change.value, change.path, entity)
    }), { discard: true })

/** Applies the changes to one record, refusing arithmetic on a field that holds no number. */
export const applyChanges = (
  changes: ReadonlyArray<Update.Change>,
  record: ChromaRecord,
  apply: typeof Update.apply,
  entity: string
): Effect.Effect<ChromaRecord, StoreError> =>
  Effect.gen(function*() {
    const flat = flatten(record)
    for (const change of changes) {
      const current = flat[change.field]
      if (
        (change.op === "increment" || change.op === "multiply") && current !== undefined && typeof current !== "number"
      ) {
        return yield* storeError(
          "Validation",
          `record ${JSON.stringify(record.id)} holds no number in ${change.field}`,
          {
            entity,
            path: change.path
          }
        )
      }
    }
    const next = apply(
      changes.map((change) =>
        change.op === "set" && change.value instanceof Date ? { ...change, value: change.value.toISOString() } : change
      ),
      flat
    )
    for (const change of changes) {
      const value = next[change.field]
      if (typeof value === "number" && !Number.isFinite(value)) {
        return yield* storeError("Validation", `${change.field} would not be a finite number`, {
          entity,
          path: change.path
        })
      }
    }
    return unflatten(record.id, next)
  })
