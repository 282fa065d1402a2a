/**
 * Compiling for MongoDB: the adapter's own checks of an operation, `where` → query, update changes → update
 * operators, and documents ↔ the JSON form undo records keep. Nothing here talks to the server.
 */
import { Filter, Identifier, Operation, type StoreError, type Undo, type Update } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { BSON, ObjectId } from "mongodb"
import { fail } from "./connection.js"

/** A MongoDB document, as the driver reads and writes it. */
type Document = Record<string, unknown>

const join = Operation.joinPath

/*
 * The adapter's own checks of an operation. The conformance suite (and any caller) may hand `execute` an
 * operation that never went through `Operation.parse`, so every identifier, operator and value is checked
 * here again before anything is compiled: nothing from `data` or `where` can become a `$`-operator, a dotted
 * path or a BSON type tag.
 */

const compareOperators: ReadonlySet<string> = new Set(Filter.compareOperators)

const isPlainObject = Operation.isPlainObject

const isScalar = (u: unknown): boolean =>
  u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date ||
  (typeof u === "number" && Number.isFinite(u))

/**
 * A top-level field name: an identifier, not one of the adapter's `_polysaga…` markers, not `_bsontype` (which the BSON serializer
 * reads as a type tag).
 */
export const checkField = (entity: string, field: string, path: string): Effect.Effect<void, StoreError> =>
  Identifier.check(field, "field name", path).pipe(
    Effect.filterOrFail(
      () => !field.startsWith("_polysaga") && field !== "_bsontype",
      () => fail("InvalidIdentifier", `the field name ${JSON.stringify(field)} is reserved`, { entity, path })
    ),
    Effect.asVoid
  )

/**
 * A value a field may hold: JSON values and dates. Nested keys may not be empty, start with `$` (an operator),
 * contain `.` (a path) or be `_bsontype` (a BSON type tag).
 */
export const checkValue = (entity: string, u: unknown, path: string): Effect.Effect<void, StoreError> => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date) return Effect.void
  if (typeof u === "number") {
    return Number.isFinite(u)
      ? Effect.void
      : Effect.fail(fail("Validation", "numbers must be finite", { entity, path }))
  }
  if (Array.isArray(u)) return Effect.forEach(u, (v, i) => checkValue(entity, v, join(path, i)), { discard: true })
  if (isPlainObject(u)) {
    return Effect.forEach(
      Object.entries(u),
      ([k, v]) =>
        k === "" || k.startsWith("$") || k.includes(".") || k === "_bsontype"
          ? Effect.fail(
            fail(
              "Validation",
              `nested key ${JSON.stringify(k)} may not be empty, start with '$', contain '.' or be '_bsontype'`,
              { entity, path: join(path, k) }
            )
          )
          : checkValue(entity, v, join(path, k)),
      { discard: true }
    )
  }
  return Effect.fail(fail("Validation", `unsupported value of type ${typeof u}`, { entity, path }))
}

const checkRecord = (entity: string, record: unknown, path: string): Effect.Effect<void, StoreError> =>
  isPlainObject(record) && Object.keys(record).length > 0
    ? Effect.forEach(Object.entries(record), ([field, value]) => {
      const at = join(path, field)
      if (field === "_id" && Array.isArray(value)) {
        return Effect.fail(fail("Validation", "_id may not be an array", { entity, path: at }))
      }
      return Effect.zipRight(checkField(entity, field, at), checkValue(entity, value, at))
    }, { discard: true })
    : Effect.fail(fail("Validation", "a record is an object with at least one field", { entity, path }))

const operand = (entity: string, c: Filter.Compare, path: string): Effect.Effect<void, StoreError> => {
  const ok = (() => {
    switch (c.op) {
      case "eq":
      case "ne":
        return isScalar(c.value)
      case "contains":
        return isScalar(c.value) && c.value !== null
      case "gt":
      case "gte":
      case "lt":
      case "lte":
        return typeof c.value === "string" || c.value instanceof Date ||
          (typeof c.value === "number" && Number.isFinite(c.value))
      case "in":
      case "nin":
        return Array.isArray(c.value) && c.value.every((v) => isScalar(v) && v !== null)
      case "like":
      case "ilike":
      case "startsWith":
      case "endsWith":
        return typeof c.value === "string"
      case "regex":
        return typeof c.value === "string" && typeof Filter.regex(c.value) !== "string"
      case "null":
      case "exists":
        return typeof c.value === "boolean"
    }
  })()
  return ok ? Effect.void : Effect.fail(fail("Validation", `invalid operand for $${c.op}`, { entity, path }))
}

/** Checks every field, operator and operand of a filter. */
export const checkFilter = (entity: string, filter: Filter.Filter, path: string): Effect.Effect<void, StoreError> => {
  switch (filter._tag) {
    case "And":
    case "Or":
      return Array.isArray(filter.filters)
        ? Effect.forEach(filter.filters, (f) => checkFilter(entity, f, path), { discard: true })
        : Effect.fail(fail("Validation", "a logical filter holds an array of filters", { entity, path }))
    case "Not":
      return checkFilter(entity, filter.filter, path)
    case "Compare": {
      const at = join(path, filter.path ?? filter.field)
      if (!compareOperators.has(filter.op)) {
        return Effect.fail(
          fail("Validation", `unknown filter operator ${JSON.stringify(filter.op)}`, { entity, path: at })
        )
      }
      return Effect.zipRight(checkField(entity, filter.field, at), operand(entity, filter, at))
    }
    default:
      return Effect.fail(fail("Validation", "unknown filter node", { entity, path }))
  }
}

const checkChange = (entity: string, change: Update.Change, path: string): Effect.Effect<void, StoreError> => {
  const at = join(path, change.path ?? change.field)
  const field = checkField(entity, change.field, at).pipe(
    Effect.filterOrFail(
      () => change.field !== "_id",
      () => fail("Validation", "_id is immutable", { entity, path: at })
    )
  )
  switch (change.op) {
    case "set":
      return Effect.zipRight(field, checkValue(entity, change.value, at))
    case "increment":
    case "multiply":
      return typeof change.by === "number" && Number.isFinite(change.by)
        ? field
        : Effect.fail(fail("Validation", `$${change.op} takes a finite number`, { entity, path: at }))
    case "push":
      return Effect.zipRight(field, checkValue(entity, change.value, at))
    case "pull":
      return change.value === null
        ? Effect.fail(fail("Validation", "$pull takes a non-null value", { entity, path: at }))
        : Effect.zipRight(field, checkValue(entity, change.value, at))
    default:
      return Effect.fail(fail("Validation", "unknown update operator", { entity, path: at }))
  }
}

/**
 * Checks an operation the way `execute` will compile it. `path` prefixes error paths.
 */
export const checkOperation = (operation: Operation.Operation, path: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const entity = operation.entity
    yield* Identifier.check(entity, "entity name", join(path, "from.entity"))
    const data = join(path, "data")
    const where = join(path, "where")
    switch (operation.kind) {
      case "insert":
      case "upsert": {
        if (!Array.isArray(operation.records) || operation.records.length === 0) {
          return yield* fail("Validation", "needs at least one record", { entity, path: data })
        }
        const many = operation.records.length > 1
        yield* Effect.forEach(
          operation.records,
          (r, i) => checkRecord(entity, r, many ? join(data, i) : data),
          { discard: true }
        )
        if (operation.kind === "insert") return
        if (operation.where !== undefined) {
          if (many) {
            return yield* fail("Validation", "an upsert with where takes exactly one record", { entity, path: where })
          }
          return yield* checkFilter(entity, operation.where, path)
        }
        const key = operation.options.key
        if (key !== undefined) {
          const at = join(path, "options.key")
          yield* Effect.forEach(key, (field, i) => checkField(entity, field, join(at, i)), { discard: true })
          for (const [i, record] of operation.records.entries()) {
            const missing = key.find((field) => record[field] === undefined)
            if (missing !== undefined) {
              return yield* fail("Validation", `lacks the key ${missing}`, {
                entity,
                path: many ? join(data, i) : data
              })
            }
          }
          return
        }
        const keyless = operation.records.findIndex((r) => r._id === undefined)
        if (keyless >= 0) {
          return yield* fail("Validation", "an upsert needs where, options.key or an _id in each record", {
            entity,
            path: many ? join(data, keyless) : data
          })
        }
        return
      }
      case "update": {
        if (!Array.isArray(operation.changes) || operation.changes.length === 0) {
          return yield* fail("Validation", "an update needs at least one change", { entity, path: data })
        }
        const seen = new Set<string>()
        for (const change of operation.changes) {
          yield* checkChange(entity, change, path)
          if (seen.has(change.field)) {
            return yield* fail("Validation", "a field may change only once", { entity, path: join(data, change.field) })
          }
          seen.add(change.field)
        }
        return yield* checkFilter(entity, operation.where, path)
      }
      case "delete":
        return yield* checkFilter(entity, operation.where, path)
      case "select":
        for (const [field, at] of Operation.clauseFields(operation)) yield* checkField(entity, field, join(path, at))
        return yield* checkFilter(entity, operation.where, path)
      default:
        return yield* fail("Validation", "unknown operation", { entity, path: join(path, "operation") })
    }
  })

/*
 * `where` → MongoDB query, following the port's reference semantics (`Filter.matches`) rather than MongoDB's
 * own array semantics:
 * - a scalar comparison never matches an array field (MongoDB would match an array holding the value), so
 *   each one is guarded by `{ field: { $not: { $type: "array" } } }`;
 * - `$not`, `$ne`, `$nin` are compiled as `$nor` of the positive form: the exact complement, true on null and
 *   missing fields;
 * - a string operand also matches a BSON date it parses to (the reference compares a date field with a string
 *   as dates), and on `_id` a 24-hex string also matches the ObjectId it spells;
 * - `$like` / `$ilike` / `$startsWith` / `$endsWith` become `$regex` strings anchored with `\A` and `\z`, every
 *   ASCII punctuation character escaped, control characters written as `\x{hh}`.
 *
 * Only `$and`, `$or`, `$nor`, `$not`, `$type`, `$eq`, `$in`, `$gt(e)`, `$lt(e)` and `$regex` / `$options` are
 * produced: never `$where`, `$expr`, `$function`. Field names were checked (`checkOperation`) and are never dotted.
 */

/** A MongoDB query document. */
export type Query = Record<string, unknown>

/** Matches no document (every document has an `_id`). */
const nothing: Query = { _id: { $exists: false } }

const notArray = (field: string): Query => ({ [field]: { $not: { $type: "array" } } })

/** `$and` of the queries, dropping empty ones. */
export const and = (...queries: ReadonlyArray<Query>): Query => {
  const parts = queries.filter((q) => Object.keys(q).length > 0)
  return parts.length === 0 ? {} : parts.length === 1 ? parts[0]! : { $and: parts }
}

const nor = (query: Query): Query => ({ $nor: [query] })

const hex = /^[0-9a-fA-F]{24}$/

/** The BSON values a filter operand stands for. */
const variants = (field: string, value: unknown): ReadonlyArray<unknown> => {
  if (typeof value !== "string") return [value]
  const out: Array<unknown> = [value]
  if (field === "_id" && hex.test(value)) out.push(ObjectId.createFromHexString(value))
  const time = Date.parse(value)
  if (!Number.isNaN(time)) out.push(new Date(time))
  return out
}

/** Escapes a literal for a PCRE / RE2 pattern: ASCII punctuation with `\`, control characters as `\x{hh}`. */
export const escapeRegex = (literal: string): string => {
  let source = ""
  for (const ch of literal) {
    const code = ch.charCodeAt(0)
    source += code < 0x20 || code === 0x7f
      ? `\\x{${code.toString(16)}}`
      : /[!-/:-@[-^`{-~]/.test(ch)
      ? `\\${ch}`
      : ch
  }
  return source
}

/** A SQL `LIKE` pattern (`%`, `_`, no escape character) as an anchored regex source. */
export const likeToRegex = (pattern: string): string => {
  let source = ""
  for (const ch of pattern) source += ch === "%" ? "[\\s\\S]*" : ch === "_" ? "[\\s\\S]" : escapeRegex(ch)
  return `\\A${source}\\z`
}

const regex = (field: string, source: string, caseInsensitive: boolean, options = ""): Query => {
  const flags = `${caseInsensitive ? "i" : ""}${options}`
  return and(notArray(field), { [field]: flags === "" ? { $regex: source } : { $regex: source, $options: flags } })
}

const compare = (c: Filter.Compare): Query => {
  const f = c.field
  switch (c.op) {
    case "eq":
      return c.value === null
        ? compare({ ...c, op: "null", value: true })
        : and(notArray(f), { [f]: { $in: variants(f, c.value) } })
    case "ne":
      return nor(compare({ ...c, op: "eq" }))
    case "in":
      return and(notArray(f), { [f]: { $in: (c.value as ReadonlyArray<unknown>).flatMap((v) => variants(f, v)) } })
    case "nin":
      return nor(compare({ ...c, op: "in" }))
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const ranges = variants(f, c.value).map((v): Query => ({ [f]: { [`$${c.op}`]: v } }))
      return and(notArray(f), ranges.length === 1 ? ranges[0]! : { $or: ranges })
    }
    case "contains":
      return and({ [f]: { $type: "array" } }, { [f]: { $in: variants(f, c.value) } })
    case "like":
      return regex(f, likeToRegex(c.value as string), false)
    case "ilike":
      return regex(f, likeToRegex(c.value as string), true)
    case "startsWith":
      return regex(f, `\\A${escapeRegex(c.value as string)}`, false)
    case "endsWith":
      return regex(f, `${escapeRegex(c.value as string)}\\z`, false)
    case "null": {
      const isNull = and(notArray(f), { [f]: { $eq: null } })
      return c.value === true ? isNull : nor(isNull)
    }
    case "exists":
      return compare({ ...c, op: "null", value: c.value !== true })
    case "regex":
      return regex(f, regexSource(c.value as string), false, "s")
  }
}

/**
 * A pattern of the safe subset (`Filter.regex`) for MongoDB's PCRE and FerretDB's Go regexp alike: the anchors
 * as `\A` / `\z` (PCRE's `$` also matches before a final newline), the body as written (its escapes and classes
 * read the same in both), with the `s` option so `.` matches newlines.
 */
export const regexSource = (pattern: string): string => {
  const parsed = Filter.regex(pattern) as Filter.Regex
  return `${parsed.start ? "\\A" : ""}${parsed.body}${parsed.end ? "\\z" : ""}`
}

/**
 * The `find` options of a select: `projection` of its `fields` (`_id` is always returned), `sort` by its
 * `orderBy` (MongoDB already sorts null and missing first in ascending order) then `_id`, `skip` its `offset`.
 */
export const findOptions = (
  operation: Extract<Operation.Operation, { readonly kind: "select" }>,
  limit: number
): { sort: Record<string, 1 | -1>; limit: number; skip?: number; projection?: Record<string, 1> } => {
  const { fields, offset, orderBy = [] } = operation.clauses ?? {}
  const sort: Record<string, 1 | -1> = {}
  for (const { field, order } of orderBy) if (!(field in sort)) sort[field] = order === "ASC" ? 1 : -1
  if (!("_id" in sort)) sort._id = 1
  return {
    sort,
    limit,
    ...(offset === undefined ? {} : { skip: offset }),
    ...(fields === undefined ? {} : { projection: Object.fromEntries(fields.map((f) => [f, 1 as const])) })
  }
}

/** Compiles a (checked) filter. */
export const compileFilter = (filter: Filter.Filter): Query => {
  switch (filter._tag) {
    case "And":
      return and(...filter.filters.map(compileFilter))
    case "Or": {
      const parts = filter.filters.map(compileFilter)
      if (parts.some((q) => Object.keys(q).length === 0)) return {}
      return parts.length === 0 ? nothing : parts.length === 1 ? parts[0]! : { $or: parts }
    }
    case "Not": {
      const inner = compileFilter(filter.filter)
      return Object.keys(inner).length === 0 ? nothing : nor(inner)
    }
    case "Compare":
      return compare(filter)
  }
}

/*
 * Update changes → MongoDB update operators, and MongoDB's own semantics of those operators on a document,
 * used to check a match before writing and to compute the after-image from the atomically read before-image.
 */

const operatorOf: Record<Update.Change["op"], string> = {
  set: "$set",
  increment: "$inc",
  multiply: "$mul",
  push: "$push",
  pull: "$pull"
}

/** `$set`, `$inc`, `$mul`, `$push`, `$pull` from the (checked) changes. */
export const compileUpdate = (changes: ReadonlyArray<Update.Change>): Document => {
  const update: Record<string, Document> = {}
  for (const change of changes) {
    const operator = operatorOf[change.op]
    const value = change.op === "increment" || change.op === "multiply" ? change.by : change.value
    update[operator] = { ...update[operator], [change.field]: value }
  }
  return update
}

/** Deep equality of BSON values as the driver returns them (dates by time, ObjectIds by bytes). */
export const equals = (a: unknown, b: unknown): boolean => {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime()
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => equals(v, b[i]))
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a), kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k, i) => kb[i] === k && equals(a[k], b[k]))
  }
  if (a instanceof BSON.ObjectId && b instanceof BSON.ObjectId) return a.equals(b)
  return a === b
}

/**
 * The document after `changes`, as MongoDB computes it: `$inc` of a missing field sets it, `$mul` of a missing
 * field sets 0, `$push` onto a missing field makes a one-element array, `$pull` from a missing field leaves it
 * missing. Fails with a message where MongoDB would refuse (a non-number incremented, a non-array pushed to).
 */
export const applyChanges = (
  changes: ReadonlyArray<Update.Change>,
  doc: Readonly<Document>
): { readonly _tag: "Right"; readonly doc: Document } | { readonly _tag: "Left"; readonly message: string } => {
  const next: Document = { ...doc }
  for (const change of changes) {
    const present = change.field in next && next[change.field] !== undefined
    const current = next[change.field]
    switch (change.op) {
      case "set":
        next[change.field] = change.value
        break
      case "increment":
      case "multiply":
        if (present && typeof current !== "number") {
          return { _tag: "Left", message: `$${change.op} of ${change.field}, which does not hold a number` }
        }
        next[change.field] = change.op === "increment"
          ? (present ? (current as number) : 0) + change.by
          : (present ? (current as number) : 0) * change.by
        break
      case "push":
      case "pull":
        if (present && !Array.isArray(current)) {
          return { _tag: "Left", message: `$${change.op} on ${change.field}, which does not hold an array` }
        }
        if (change.op === "push") next[change.field] = [...(present ? (current as Array<unknown>) : []), change.value]
        else if (present) next[change.field] = (current as Array<unknown>).filter((v) => !equals(v, change.value))
        break
    }
  }
  return { _tag: "Right", doc: next }
}

/*
 * The adapter's JSON form of documents and values in undo records: relaxed Extended JSON (`BSON.EJSON` of the
 * driver), so ObjectIds are `{ "$oid": hex }`, dates `{ "$date": iso }`, numbers plain numbers. It survives
 * `Schema.encode` / `JSON.stringify` / `JSON.parse` / `Schema.decode` and turns back into the same BSON
 * values in another process.
 */

/**
 * Stands for "the field is missing" in a `Restore` (the port's restore holds JSON only; `null` is a value in
 * MongoDB, distinct from a missing field). A value written through the port can never look like this (nested
 * keys may not start with `$`).
 */
export const absent: Undo.Json = { $polysaga: "absent" }

/** Fields this adapter keeps in documents for itself (undo and step markers); never a user's field. */
export const reservedPrefix = "_polysaga"

/** A document without the adapter's markers: how records and images leave the adapter. */
export const strip = (doc: Document): Document => {
  const own = Object.keys(doc).filter((key) => key.startsWith(reservedPrefix))
  if (own.length === 0) return doc
  const rest = { ...doc }
  for (const key of own) delete rest[key]
  return rest
}

/** A document as an image. */
export const encode = (doc: Document): Undo.Image => BSON.EJSON.serialize(strip(doc), { relaxed: true }) as Undo.Image

/**
 * A whole document as an image, the adapter's markers included: what a delete keeps to re-insert, so that its undo
 * restores the document exactly as it was.
 */
export const encodeWhole = (doc: Document): Undo.Image => BSON.EJSON.serialize(doc, { relaxed: true }) as Undo.Image

/** An image as a document. */
export const decode = (image: Undo.Image): Document => BSON.EJSON.deserialize(image, { relaxed: true }) as Document

/** A field of a document in the JSON form (`absent` when missing). */
export const encodeField = (doc: Document, field: string): Undo.Json =>
  field in doc && doc[field] !== undefined ? (encode({ v: doc[field] })["v"] ?? null) : absent

/** A field of an image (`absent` when missing). */
export const fieldOf = (image: Undo.Image, field: string): Undo.Json => field in image ? image[field]! : absent

/** A JSON-form value as a BSON value. */
export const decodeValue = (json: Undo.Json): unknown => decode({ v: json })["v"]

/** A JSON form with sorted keys (a journal may not keep key order, e.g. PostgreSQL `jsonb`). */
export const canonical = (u: unknown): string =>
  JSON.stringify(u, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/** Same value in the JSON form, whatever the key order of embedded documents. */
export const same = (a: Undo.Json, b: Undo.Json): boolean => canonical(a) === canonical(b)

export const isAbsent = (json: Undo.Json): boolean => same(json, absent)

const isOperatorLike = (v: unknown): boolean =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype &&
  Object.keys(v).some((k) => k.startsWith("$"))

/**
 * The query of one document by `_id`, with more conditions in `$and`. The `_id` is matched by plain equality at the
 * top level (`{ _id: v }`), which FerretDB pushes down to its index (`{ _id: { $eq: v } }` or an `_id` inside
 * `$and` scans the collection); only a value that reads as an operator document is matched with `$eq`.
 */
export const byId = (id: unknown, ...more: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> => {
  const rest = more.filter((q) => Object.keys(q).length > 0)
  return {
    _id: isOperatorLike(id) ? { $eq: id } : id,
    ...(rest.length === 0 ? {} : { $and: rest })
  }
}
