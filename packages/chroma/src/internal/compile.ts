/**
 * What an operation becomes in Chroma: a record of `data` checked and its metadata encoded, updates applied to a
 * record, images for undo records, a filter compiled to Chroma's `ids` and `where` arguments, and a select's
 * clauses (vector search, fields).
 */
import {
  type Filter,
  Identifier,
  type Operation,
  Store,
  type StoreError,
  type Undo,
  type Update
} from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type ChromaRecord, engine, markerPrefix, sameVector, type Scalar, type Stored } from "./connection.js"

/** The JSON image of a record in undo records: the record itself (it is plain JSON). */
export const RecordImage = Schema.Struct({
  id: Schema.String,
  vector: Schema.Array(Schema.Finite),
  document: Schema.NullOr(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Finite, Schema.Boolean) })
})

/** The top-level keys of a record; none of them may be a metadata key. */
export const reserved: ReadonlySet<string> = new Set(["id", "vector", "document", "metadata"])

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

export const sameRecord = (a: ChromaRecord, b: ChromaRecord): boolean => {
  const ka = Object.keys(a.metadata), kb = Object.keys(b.metadata)
  return a.id === b.id && a.document === b.document && sameVector(a.vector, b.vector) && ka.length === kb.length &&
    ka.every((k) => a.metadata[k] === b.metadata[k])
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
    Store.fail(
      engine,
      "Validation",
      "Chroma metadata holds strings, finite numbers, booleans and dates (as ISO strings)",
      {
        entity,
        path
      }
    )
  )
}

/** The checked vector at `path`: a non-empty array of finite numbers. */
export const checkVector = (
  value: unknown,
  path: string,
  entity: string
): Effect.Effect<ReadonlyArray<number>, StoreError> =>
  Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === "number" && Number.isFinite(x))
    ? Effect.succeed(value as ReadonlyArray<number>)
    : Effect.fail(
      Store.fail(engine, "Validation", "vector must be a non-empty array of finite numbers", { entity, path })
    )

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
        yield* Identifier.check(key, "field name", `${path}.${key}`)
        return yield* Store.fail(
          engine,
          "Validation",
          "a Chroma record is { id, vector, document?, metadata? }: put other fields in metadata",
          { entity, path: `${path}.${key}` }
        )
      }
    }
    const id = row.id
    if (id !== undefined && (typeof id !== "string" || id.length === 0)) {
      return yield* Store.fail(engine, "Validation", "id must be a non-empty string", { entity, path: `${path}.id` })
    }
    const vector = yield* checkVector(row.vector, `${path}.vector`, entity)
    const document = row.document ?? null
    if (document !== null && typeof document !== "string") {
      return yield* Store.fail(engine, "Validation", "document must be a string or null", {
        entity,
        path: `${path}.document`
      })
    }
    const raw = row.metadata ?? {}
    if (typeof raw !== "object" || Array.isArray(raw) || raw instanceof Date) {
      return yield* Store.fail(engine, "Validation", "metadata must be an object", { entity, path: `${path}.metadata` })
    }
    const metadata: Record<string, Scalar> = {}
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      const at = `${path}.metadata.${key}`
      yield* Identifier.check(key, "metadata key", at)
      if (reserved.has(key)) {
        return yield* Store.fail(engine, "Validation", `${key} is reserved and cannot be a metadata key`, {
          entity,
          path: at
        })
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
      yield* Identifier.check(change.field, "field name", change.path)
      if (change.field === "id" || change.field === "metadata") {
        return yield* Store.fail(
          engine,
          "Validation",
          change.field === "id" ? "a record's id cannot be updated" : "update metadata fields by their own names",
          { entity, path: change.path }
        )
      }
      if (change.field === "vector" || change.field === "document") {
        if (change.op !== "set") {
          return yield* Store.fail(engine, "Validation", `${change.field} can only be set`, {
            entity,
            path: change.path
          })
        }
        if (change.field === "vector") yield* checkVector(change.value, change.path, entity)
        else if (change.value !== null && typeof change.value !== "string") {
          return yield* Store.fail(engine, "Validation", "document must be a string or null", {
            entity,
            path: change.path
          })
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
        return yield* Store.fail(
          engine,
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
        return yield* Store.fail(engine, "Validation", `${change.field} would not be a finite number`, {
          entity,
          path: change.path
        })
      }
    }
    return unflatten(record.id, next)
  })

// ---- filters ---------------------------------------------------------------------------------------------

/** A Chroma `where` clause. */
export type Where = { readonly [key: string]: unknown }

/**
 * A compiled filter: the `ids` argument (top-level `id` conditions, intersected), the metadata `where`
 * (`undefined`: every record), and `none` when the filter can match nothing (no call needed).
 *
 * `residual` is true when some comparisons are not expressible in Chroma's `where` (an ordering on a string, any
 * comparison with a date): they are sent as "true" — sound, because a declared filter has no `$not`, so relaxing
 * a term only widens the result — and the adapter evaluates the exact filter on what Chroma returns.
 */
export interface Compiled {
  readonly ids: ReadonlyArray<string> | undefined
  readonly where: Where | undefined
  readonly none: boolean
  readonly residual: boolean
  /** The filter itself, which the adapter also checks each returned record against. */
  readonly filter: Filter.Filter
}

interface Context {
  readonly entity: string
  residual: boolean
}

type Node = boolean | Where

/** `$and` / `$or` of nodes, simplified: `false` absorbs an `$and` and vanishes from an `$or` (and vice versa). */
const combine = (key: "$and" | "$or") => (nodes: ReadonlyArray<Node>): Node => {
  const absorbing = key === "$or"
  const kept: Array<Where> = []
  for (const node of nodes) {
    if (node === absorbing) return absorbing
    if (typeof node !== "boolean") kept.push(node)
  }
  return kept.length === 0 ? !absorbing : kept.length === 1 ? kept[0]! : { [key]: kept }
}

const and = combine("$and")
const or = combine("$or")

const leaf = (field: string, op: string, value: unknown): Where => ({ [field]: { [op]: value } })

/**
 * Chroma 1.0 truncates a non-integer operand towards zero when it compares it with an integer-valued field
 * (`{ p: { $eq: 2.5 } }` matches `p: 2`); integer operands compare right with every number. Each comparison
 * with a non-integer `v` is therefore corrected with integer-operand terms (`t = trunc(v)`):
 * - `= v`  : `$eq v` and `$ne t`   (drops the integer t)
 * - `≠ v`  : `$ne v` or `$eq t`    (adds the integer t back)
 * - `> v`  : `$gt v` or `$eq ceil(v)`; `< v`: `$lt v` or `$eq floor(v)`; `≥`, `≤` add `= v`.
 */
const number = (field: string, op: Filter.CompareOperator, v: number): Node => {
  if (Number.isInteger(v)) return leaf(field, `$${op}`, v)
  const t = Math.trunc(v)
  const eq = and([leaf(field, "$eq", v), leaf(field, "$ne", t)])
  switch (op) {
    case "eq":
      return eq
    case "ne":
      return or([leaf(field, "$ne", v), leaf(field, "$eq", t)])
    case "gt":
      return or([leaf(field, "$gt", v), leaf(field, "$eq", Math.ceil(v))])
    case "gte":
      return or([leaf(field, "$gt", v), leaf(field, "$eq", Math.ceil(v)), eq])
    case "lt":
      return or([leaf(field, "$lt", v), leaf(field, "$eq", Math.floor(v))])
    default:
      return or([leaf(field, "$lt", v), leaf(field, "$eq", Math.floor(v)), eq])
  }
}

/** `$in` / `$nin`: Chroma wants a non-empty list of one type (integers and other numbers count apart). */
const list = (field: string, op: "in" | "nin", values: ReadonlyArray<unknown>): Node => {
  const groups = new Map<string, Array<string | number | boolean>>()
  for (const value of values as ReadonlyArray<string | number | boolean>) {
    const kind = typeof value === "number" ? (Number.isInteger(value) ? "int" : "float") : typeof value
    const group = groups.get(kind) ?? []
    if (!group.includes(value)) group.push(value)
    groups.set(kind, group)
  }
  const terms = [...groups].map(([kind, group]): Node => {
    if (kind !== "float") return leaf(field, `$${op}`, group)
    // the same correction as `number`, for a list of non-integers
    const truncs = [...new Set(group.map((v) => Math.trunc(v as number)))]
    return op === "in"
      ? and([leaf(field, "$in", group), leaf(field, "$nin", truncs)])
      : or([leaf(field, "$nin", group), leaf(field, "$in", truncs)])
  })
  return op === "in" ? or(terms) : and(terms)
}

const unsupported = (entity: string, path: string, message: string) =>
  Store.fail(engine, "UnsupportedOperator", message, { entity, path })

const relax = (ctx: Context): Node => {
  ctx.residual = true
  return true
}

const compare = (c: Filter.Compare, ctx: Context): Effect.Effect<Node, StoreError> =>
  Effect.gen(function*() {
    const entity = ctx.entity
    yield* Identifier.check(c.field, "field name", c.path)
    if (c.field === "id") {
      return yield* unsupported(
        entity,
        c.path,
        "chroma filters id only with $eq or $in at the top level of where (it becomes the ids argument)"
      )
    }
    if (reserved.has(c.field)) {
      return yield* Store.fail(engine, "Validation", `${c.field} cannot be filtered on: where applies to metadata`, {
        entity,
        path: c.path
      })
    }
    const dated = c.value instanceof Date || (Array.isArray(c.value) && c.value.some((v) => v instanceof Date))
    switch (c.op) {
      case "eq":
      case "ne":
        if (dated) return relax(ctx)
        return typeof c.value === "number" ? number(c.field, c.op, c.value) : leaf(c.field, `$${c.op}`, c.value)
      case "gt":
      case "gte":
      case "lt":
      case "lte":
        // Chroma 1.0 orders numbers only
        return typeof c.value === "number" ? number(c.field, c.op, c.value) : relax(ctx)
      case "in":
      case "nin": {
        const values = c.value as ReadonlyArray<unknown>
        if (values.length === 0) return c.op === "nin"
        return dated ? relax(ctx) : list(c.field, c.op, values)
      }
      default:
        return yield* unsupported(entity, c.path, `chroma cannot express the filter operator $${c.op}`)
    }
  })

const node = (filter: Filter.Filter, ctx: Context): Effect.Effect<Node, StoreError> => {
  switch (filter._tag) {
    case "And":
      return Effect.map(Effect.forEach(filter.filters, (f) => node(f, ctx)), and)
    case "Or":
      return Effect.map(Effect.forEach(filter.filters, (f) => node(f, ctx)), or)
    case "Not":
      return Effect.fail(unsupported(ctx.entity, "where", "chroma cannot express the filter operator $not"))
    case "Compare":
      return compare(filter, ctx)
  }
}

const conjuncts = (filter: Filter.Filter): ReadonlyArray<Filter.Filter> =>
  filter._tag === "And" ? filter.filters.flatMap(conjuncts) : [filter]

/** Compiles a filter into Chroma's `ids` and `where` arguments, or fails naming what Chroma cannot express. */
export const compile = (filter: Filter.Filter, entity: string): Effect.Effect<Compiled, StoreError> =>
  Effect.gen(function*() {
    let ids: ReadonlyArray<string> | undefined
    const rest: Array<Filter.Filter> = []
    for (const f of conjuncts(filter)) {
      if (f._tag !== "Compare" || f.field !== "id") {
        rest.push(f)
        continue
      }
      if (f.op !== "eq" && f.op !== "in") {
        return yield* unsupported(entity, f.path, "chroma filters id only with $eq or $in at the top level of where")
      }
      const values = (f.op === "eq" ? [f.value] : f.value as ReadonlyArray<unknown>)
        .filter((v): v is string => typeof v === "string")
      ids = ids === undefined ? [...new Set(values)] : ids.filter((id) => values.includes(id))
    }
    const ctx: Context = { entity, residual: false }
    const where = yield* node({ _tag: "And", filters: rest }, ctx)
    return {
      ids,
      where: typeof where === "boolean" ? undefined : where,
      none: where === false || ids?.length === 0,
      residual: ctx.residual,
      filter
    }
  })

// ---- select clauses ----------------------------------------------------------------------------------------

/** A select's vector search (`$similar` or `$near`), when it has one. */
export const searchOf = (operation: Operation.Operation): Operation.VectorSearch | undefined =>
  operation.kind === "select" ? operation.clauses?.similar ?? operation.clauses?.near : undefined

/** The names a vector search may give the record's vector: the query reference's and this adapter's. */
const vectorFields: ReadonlySet<string> = new Set(["embedding", "vector"])

/**
 * Checks a select's vector search against its compiled `where`: it searches the record's vector (`embedding` or
 * `vector`), and its `where` must be one Chroma evaluates itself — a term the adapter evaluates after reading
 * (`residual`: an ordering on a string, a date) would drop records after Chroma chose the nearest, so fewer than
 * `topK` would come back.
 */
export const checkSearch = (
  operation: Operation.Operation,
  compiled: Compiled | undefined,
  entity: string
): Effect.Effect<void, StoreError> => {
  const search = searchOf(operation)
  if (search === undefined) return Effect.void
  if (!vectorFields.has(search.field)) {
    return Effect.fail(
      Store.fail(
        engine,
        "Validation",
        `chroma searches the record's vector: name it embedding or vector, not ${search.field}`,
        {
          entity,
          path: search.path
        }
      )
    )
  }
  if (compiled?.residual === true) {
    return Effect.fail(
      unsupported(
        entity,
        search.path,
        "chroma cannot combine a vector search with where terms it does not evaluate itself (an ordering on a " +
          "string, a date): compare numbers, or filter in a later step"
      )
    )
  }
  return Effect.void
}

/** How many nearest records to ask Chroma for: `topK`, at most the kernel's bound. */
export const nResults = (search: Operation.VectorSearch, readLimit: number): number =>
  Math.min(search.topK ?? readLimit, readLimit)

/**
 * Whether a record at `distance` (as Chroma computes it in the collection's space) is kept: within `maxDistance`
 * (`$near`), or with a similarity `1 - distance` of at least `threshold` (`$similar`).
 */
export const within = (search: Operation.VectorSearch, distance: number): boolean =>
  (search.maxDistance === undefined || distance <= search.maxDistance) &&
  (search.threshold === undefined || 1 - distance >= search.threshold)

/**
 * A record as a select returns it: `{ id, vector, document, metadata }`, reduced to its `fields` when the select
 * names them (metadata keys, and `vector` / `embedding` / `document` for those parts; `id` is always kept), with
 * its `distance` after a vector search.
 */
export const present = (
  record: ChromaRecord,
  fields: ReadonlyArray<string> | undefined,
  distance?: number
): Readonly<Record<string, unknown>> => {
  const image = toImage(record)
  const shown = fields === undefined ? image : {
    id: record.id,
    ...(fields.some((f) => vectorFields.has(f)) ? { vector: image.vector } : {}),
    ...(fields.includes("document") ? { document: record.document } : {}),
    metadata: Object.fromEntries(Object.entries(record.metadata).filter(([key]) => fields.includes(key)))
  }
  return distance === undefined ? shown : { ...shown, distance }
}
