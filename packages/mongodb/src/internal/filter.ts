/**
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
 * produced: never `$where`, `$expr`, `$function`. Field names were checked (`check.ts`) and are never dotted.
 */
import { Filter, type Operation } from "@polysaga/store"
import { ObjectId } from "mongodb"

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
export const compile = (filter: Filter.Filter): Query => {
  switch (filter._tag) {
    case "And":
      return and(...filter.filters.map(compile))
    case "Or": {
      const parts = filter.filters.map(compile)
      if (parts.some((q) => Object.keys(q).length === 0)) return {}
      return parts.length === 0 ? nothing : parts.length === 1 ? parts[0]! : { $or: parts }
    }
    case "Not": {
      const inner = compile(filter.filter)
      return Object.keys(inner).length === 0 ? nothing : nor(inner)
    }
    case "Compare":
      return compare(filter)
  }
}
