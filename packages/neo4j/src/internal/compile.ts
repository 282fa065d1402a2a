/**
 * Compiling for Neo4j: values between the user's, the driver's and the JSON form undo records keep; Cypher text
 * (checked, backquoted identifiers; targets; filters as two-valued predicates); and the plan of an operation, every
 * identifier checked and every value a driver parameter. Nothing here talks to the database.
 */
import { Filter, Identifier, Operation, type StoreError, type Undo, type Update } from "@polysaga/store"
import * as Effect from "effect/Effect"
import neo4j from "neo4j-driver"
import { fail } from "./connection.js"

const join = Operation.joinPath
const isPlainObject = Operation.isPlainObject

/*
 * Values between three forms:
 * - user values (what an operation's `data` / `where` holds: JSON values and `Date`s),
 * - driver values (what neo4j-driver sends and receives: `Integer`, floats, temporal and spatial types, …),
 * - the adapter's JSON form, kept in undo records (lossless, survives `JSON.stringify` / `parse`).
 *
 * Rules: a JS number that is a safe integer is written as a Neo4j INTEGER, any other number as a FLOAT; a JS
 * `Date` is written as a DateTime at UTC offset 0. In the JSON form an INTEGER is a plain number when it is
 * safe (`{ "$int": "…" }` otherwise), a FLOAT is a plain number unless it is integral or not finite
 * (`{ "$float": 3 }`, `{ "$float": "NaN" }`), a UTC DateTime with millisecond precision is
 * `{ "$date": iso }`, and any other temporal or spatial value `{ "$neo4j": type, "fields": […] }`.
 */

type Json = Undo.Json

/** A value that cannot be a Neo4j property value or a filter operand; `message` says why. */
export class ValueError extends Error {}

const dateTimeOf = (d: Date) => {
  if (Number.isNaN(d.getTime())) throw new ValueError("an invalid Date cannot be stored")
  return new neo4j.types.DateTime(
    d.getUTCFullYear(),
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds() * 1_000_000,
    0
  )
}

const numberOf = (n: number): unknown => Number.isSafeInteger(n) ? neo4j.int(n) : n

type Kind = "string" | "number" | "boolean" | "date"

const kindOf = (u: unknown): Kind | undefined =>
  typeof u === "string"
    ? "string"
    : typeof u === "number" && Number.isFinite(u)
    ? "number"
    : typeof u === "boolean"
    ? "boolean"
    : u instanceof Date
    ? "date"
    : undefined

/** A scalar operand (of a filter, a matcher, a `$push`): string, finite number, boolean or date. */
export const scalarToDriver = (u: unknown): unknown => {
  switch (kindOf(u)) {
    case "number":
      return numberOf(u as number)
    case "date":
      return dateTimeOf(u as Date)
    case undefined:
      throw new ValueError("takes a string, finite number, boolean or date")
    default:
      return u
  }
}

/**
 * A user value as a Neo4j property value: `null` (removes the property), a scalar, or a list of scalars of one
 * kind (Neo4j lists are homogeneous: a list of numbers is all INTEGERs when every element is a safe integer,
 * otherwise all FLOATs).
 */
export const userToDriver = (u: unknown): unknown => {
  if (u === null) return null
  if (Array.isArray(u)) {
    const kinds = new Set(u.map(kindOf))
    if (kinds.has(undefined)) {
      throw new ValueError(
        "list elements must be strings, finite numbers, booleans or dates (no null, lists or objects)"
      )
    }
    if (kinds.size > 1) throw new ValueError("a Neo4j list holds values of one kind")
    if (kinds.has("number") && !u.every((n) => Number.isSafeInteger(n))) return [...u]
    return u.map(scalarToDriver)
  }
  if (isPlainObject(u)) {
    throw new ValueError("Neo4j properties hold scalars, dates and lists of them, not nested objects")
  }
  return scalarToDriver(u)
}

const num = (u: unknown): number => neo4j.isInt(u) ? (u as { toNumber(): number }).toNumber() : (u as number)

const temporal = (u: unknown): { readonly type: string; readonly fields: Array<Json> } | undefined => {
  const v = u as Record<string, unknown>
  const f = (...keys: ReadonlyArray<string>) => keys.map((k) => num(v[k]))
  if (neo4j.isDateTime(u)) {
    return {
      type: "DateTime",
      fields: [
        ...f("year", "month", "day", "hour", "minute", "second", "nanosecond"),
        v.timeZoneOffsetSeconds === undefined || v.timeZoneOffsetSeconds === null ? null : num(v.timeZoneOffsetSeconds),
        typeof v.timeZoneId === "string" ? v.timeZoneId : null
      ]
    }
  }
  if (neo4j.isLocalDateTime(u)) {
    return { type: "LocalDateTime", fields: f("year", "month", "day", "hour", "minute", "second", "nanosecond") }
  }
  if (neo4j.isDate(u)) return { type: "Date", fields: f("year", "month", "day") }
  if (neo4j.isTime(u)) {
    return { type: "Time", fields: f("hour", "minute", "second", "nanosecond", "timeZoneOffsetSeconds") }
  }
  if (neo4j.isLocalTime(u)) return { type: "LocalTime", fields: f("hour", "minute", "second", "nanosecond") }
  if (neo4j.isDuration(u)) return { type: "Duration", fields: f("months", "days", "seconds", "nanoseconds") }
  if (neo4j.isPoint(u)) {
    return {
      type: "Point",
      fields: [num(v.srid), v.x as number, v.y as number, ...(v.z === undefined ? [] : [v.z as number])]
    }
  }
  return undefined
}

const utcDate = (u: unknown): Date | undefined => {
  if (!neo4j.isDateTime(u)) return undefined
  const offset = u.timeZoneOffsetSeconds === undefined ? undefined : num(u.timeZoneOffsetSeconds)
  const nanos = num(u.nanosecond)
  if (offset !== 0 || (u.timeZoneId !== undefined && u.timeZoneId !== null) || nanos % 1_000_000 !== 0) return undefined
  const d = new Date(0)
  d.setUTCFullYear(num(u.year), num(u.month) - 1, num(u.day))
  d.setUTCHours(num(u.hour), num(u.minute), num(u.second), nanos / 1_000_000)
  return d
}

/** A driver value in the adapter's JSON form (lossless). */
export const driverToJson = (u: unknown): Json => {
  if (u === null || u === undefined) return null
  if (typeof u === "string" || typeof u === "boolean") return u
  if (typeof u === "number") {
    return Number.isFinite(u) && !Number.isInteger(u) ? u : { $float: Number.isFinite(u) ? u : String(u) }
  }
  if (neo4j.isInt(u)) return u.inSafeRange() ? u.toNumber() : { $int: u.toString() }
  if (Array.isArray(u)) return u.map(driverToJson)
  if (u instanceof Int8Array) return { $bytes: Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64") }
  const date = utcDate(u)
  if (date !== undefined) return { $date: date.toISOString() }
  const t = temporal(u)
  if (t !== undefined) return { $neo4j: t.type, fields: t.fields }
  throw new ValueError(`unsupported Neo4j value ${String(u)}`)
}

/** A map of driver values (a node's or relationship's properties) in the JSON form. */
export const propertiesToJson = (props: Readonly<Record<string, unknown>>): Record<string, Json> =>
  Object.fromEntries(Object.entries(props).map(([k, v]) => [k, driverToJson(v)]))

const build = (type: string, fields: ReadonlyArray<Json>): unknown => {
  const n = fields.map((x) => typeof x === "number" ? x : null)
  const i = (k: number) => {
    const x = n[k]
    if (x === null || x === undefined) throw new ValueError(`malformed ${type} value`)
    return neo4j.int(x)
  }
  switch (type) {
    case "DateTime":
      return new neo4j.types.DateTime(
        i(0),
        i(1),
        i(2),
        i(3),
        i(4),
        i(5),
        i(6),
        n[7] === null || n[7] === undefined ? undefined : i(7),
        typeof fields[8] === "string" ? fields[8] : undefined
      )
    case "LocalDateTime":
      return new neo4j.types.LocalDateTime(i(0), i(1), i(2), i(3), i(4), i(5), i(6))
    case "Date":
      return new neo4j.types.Date(i(0), i(1), i(2))
    case "Time":
      return new neo4j.types.Time(i(0), i(1), i(2), i(3), i(4))
    case "LocalTime":
      return new neo4j.types.LocalTime(i(0), i(1), i(2), i(3))
    case "Duration":
      return new neo4j.types.Duration(i(0), i(1), i(2), i(3))
    case "Point":
      return fields.length === 4
        ? new neo4j.types.Point(i(0), n[1]!, n[2]!, n[3]!)
        : new neo4j.types.Point(i(0), n[1]!, n[2]!)
  }
  throw new ValueError(`unknown Neo4j value type ${JSON.stringify(type)}`)
}

/** A value of the JSON form back to the driver value it encodes. */
export const jsonToDriver = (u: Json): unknown => {
  if (u === null || typeof u === "string" || typeof u === "boolean") return u
  if (typeof u === "number") return numberOf(u)
  if (Array.isArray(u)) return u.map(jsonToDriver)
  const o = u as Record<string, Json>
  if ("$float" in o) return typeof o.$float === "number" ? o.$float : Number(o.$float)
  if (typeof o.$int === "string") return neo4j.int(o.$int)
  if (typeof o.$date === "string") return dateTimeOf(new Date(o.$date))
  if (typeof o.$bytes === "string") return new Int8Array(Buffer.from(o.$bytes, "base64"))
  if (typeof o.$neo4j === "string" && Array.isArray(o.fields)) return build(o.$neo4j, o.fields)
  throw new ValueError(`unrecognized value ${JSON.stringify(u)} in an undo record`)
}

/** A map of the JSON form back to driver values. */
export const jsonToProperties = (props: Readonly<Record<string, Json>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(props).map(([k, v]) => [k, jsonToDriver(v)]))

/**
 * A driver value as records show it: safe INTEGERs and FLOATs as numbers, UTC DateTimes as `Date`s, lists as
 * arrays, anything else in its JSON form.
 */
export const driverToPlain = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(driverToPlain)
  if (typeof u === "number") return u
  const json = driverToJson(u)
  if (json !== null && typeof json === "object" && !Array.isArray(json)) {
    const o = json as Record<string, Json>
    if (typeof o.$date === "string") return new Date(o.$date)
    if ("$float" in o) return typeof o.$float === "number" ? o.$float : Number(o.$float)
  }
  return json
}

/** Deep equality of two JSON-form values (key order does not matter). */
export const sameJson = (a: Json | undefined, b: Json | undefined): boolean => {
  const x = a ?? null, y = b ?? null
  if (Array.isArray(x) || Array.isArray(y)) {
    return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => sameJson(v, y[i]))
  }
  if (typeof x === "object" && x !== null && typeof y === "object" && y !== null) {
    const ox = x as Record<string, Json>, oy = y as Record<string, Json>
    const kx = Object.keys(ox).filter((k) => ox[k] !== null), ky = Object.keys(oy).filter((k) => oy[k] !== null)
    return kx.length === ky.length && kx.every((k) => sameJson(ox[k], oy[k]))
  }
  if (typeof x === "number" && typeof y === "number") return x === y
  return x === y
}

/*
 * Cypher text: checked identifiers (always backquoted), targets (a node label or a relationship type), and the
 * compilation of the filter model to two-valued Cypher predicates. Values are always parameters.
 */

/** A label, relationship type or property key that passed `Identifier.check`, backquoted. */
export const quote = (identifier: string): string => `\`${identifier}\``

/** `:`A`:`B`` for a set of checked labels. */
export const labelsOf = (labels: ReadonlyArray<string>): string => labels.map((l) => `:${quote(l)}`).join("")

/** Entity names in UPPER_SNAKE_CASE (`PLACED`, `FRIEND_OF`) are relationship types; any other name is a label. */
export const isRelationshipType = (entity: string): boolean => /^[A-Z][A-Z0-9_]*$/.test(entity)

/** Parameters of one query: `add` binds a value and returns its `$name`. */
export class Params {
  readonly values: Record<string, unknown> = {}
  private next = 0
  constructor(readonly prefix = "p") {}
  add(value: unknown): string {
    const name = `${this.prefix}${this.next++}`
    this.values[name] = value
    return `$${name}`
  }
}

/** The property the adapter writes and removes in one statement to take a record's write lock. */
export const lockProperty = "_polysagaLock"

/** Sets and removes the lock property on `n`: Neo4j then holds `n`'s write lock until the transaction ends. */
export const lock = `SET n.${lockProperty} = true REMOVE n.${lockProperty}`

/**
 * What an operation works on. Queries bind the record to `n` (and a relationship's start and end nodes to `s`
 * and `e`); `returns` yields the columns `id`, `labels`, `props` (nodes) or `id`, `type`, `props`, `start`,
 * `startLabels`, `startProps`, `end`, `endLabels`, `endProps` (relationships).
 */
export interface Target {
  readonly kind: "node" | "relationship"
  readonly entity: string
  /** `MATCH` of every record of the entity. */
  readonly match: string
  /** `MATCH … WHERE` of the records whose element ids are in `$ids`. */
  readonly byIds: string
  readonly returns: string
  /** The Cypher expression of a filter field. */
  readonly field: (name: string) => string
}

const nodeColumns = (props: string) => `elementId(n) AS id, labels(n) AS labels, ${props} AS props`
const nodeReturns = nodeColumns("properties(n)")
/** The columns of a relationship `r` with start node `s` and end node `e` (`props`: the properties of `r`). */
export const relationshipColumns = (r: string, s: string, e: string, props = `properties(${r})`): string =>
  `elementId(${r}) AS id, type(${r}) AS type, ${props} AS props, ` +
  `elementId(${s}) AS start, labels(${s}) AS startLabels, properties(${s}) AS startProps, ` +
  `elementId(${e}) AS end, labels(${e}) AS endLabels, properties(${e}) AS endProps`

export const nodeTarget = (label: string): Target => ({
  kind: "node",
  entity: label,
  match: `MATCH (n${labelsOf([label])})`,
  byIds: `MATCH (n${labelsOf([label])}) WHERE elementId(n) IN $ids`,
  returns: nodeReturns,
  field: (name) => name === "_elementId" ? "elementId(n)" : `n.${quote(name)}`
})

export const relationshipTarget = (type: string): Target => ({
  kind: "relationship",
  entity: type,
  match: `MATCH (s)-[n${labelsOf([type])}]->(e)`,
  byIds: `MATCH (s)-[n${labelsOf([type])}]->(e) WHERE elementId(n) IN $ids`,
  returns: relationshipColumns("n", "s", "e"),
  field: (name) => {
    if (name === "_elementId") return "elementId(n)"
    if (name === "_from") return "elementId(s)"
    if (name === "_to") return "elementId(e)"
    if (name.startsWith("_from_")) return `s.${quote(name.slice(6))}`
    if (name.startsWith("_to_")) return `e.${quote(name.slice(4))}`
    return `n.${quote(name)}`
  }
})

/**
 * Is `field` reserved (not a property name a record may write)? `_elementId` and `_polysaga…` everywhere; on
 * relationships also `from` / `to` (the endpoint matchers of an insert), `_type`, `_from`, `_to`, `_from_…`
 * and `_to_…` (filter fields reading the endpoints).
 */
export const isReserved = (kind: Target["kind"], field: string): boolean =>
  field === "_elementId" || field.startsWith("_polysaga") ||
  (kind === "relationship" &&
    (field === "from" || field === "to" || field === "_type" || field === "_from" || field === "_to" ||
      field.startsWith("_from_") || field.startsWith("_to_")))

/** A SQL `LIKE` pattern as a Java regular expression: `%` any run, `_` one character, all else literal. */
export const likeToRegex = (pattern: string, ignoreCase: boolean): string => {
  let source = ignoreCase ? "(?isu)" : "(?s)"
  for (const ch of pattern) {
    if (ch === "%") source += ".*"
    else if (ch === "_") source += "."
    else if (/^[A-Za-z0-9]$/.test(ch) || ch.charCodeAt(0) > 127) source += ch
    else source += `\\${ch}`
  }
  return source
}

const whenString = (e: string, predicate: string) =>
  `CASE WHEN ${e} IS :: STRING NOT NULL THEN ${predicate} ELSE false END`

const compare = (c: Filter.Compare, target: Target, params: Params): string => {
  const e = target.field(c.field)
  const value = () => params.add(scalarToDriver(c.value))
  const list = () => params.add((c.value as ReadonlyArray<unknown>).map(scalarToDriver))
  switch (c.op) {
    case "eq":
      return `coalesce(${e} = ${value()}, false)`
    case "ne":
      return `NOT coalesce(${e} = ${value()}, false)`
    case "gt":
      return `coalesce(${e} > ${value()}, false)`
    case "gte":
      return `coalesce(${e} >= ${value()}, false)`
    case "lt":
      return `coalesce(${e} < ${value()}, false)`
    case "lte":
      return `coalesce(${e} <= ${value()}, false)`
    case "in":
      return `coalesce(${e} IN ${list()}, false)`
    case "nin":
      return `NOT coalesce(${e} IN ${list()}, false)`
    case "contains":
      return `CASE WHEN ${e} IS :: LIST<ANY> NOT NULL THEN coalesce(${value()} IN ${e}, false) ELSE false END`
    case "like":
      return whenString(e, `${e} =~ ${params.add(likeToRegex(c.value as string, false))}`)
    case "ilike":
      return whenString(e, `${e} =~ ${params.add(likeToRegex(c.value as string, true))}`)
    case "startsWith":
      return whenString(e, `${e} STARTS WITH ${params.add(c.value)}`)
    case "endsWith":
      return whenString(e, `${e} ENDS WITH ${params.add(c.value)}`)
    case "null":
      return c.value === true ? `${e} IS NULL` : `${e} IS NOT NULL`
    case "exists":
      return c.value === true ? `${e} IS NOT NULL` : `${e} IS NULL`
    case "regex":
      return whenString(e, `${e} =~ ${params.add(regexToJava(c.value as string))}`)
  }
}

/**
 * A pattern of the safe subset (`Filter.regex`) for `=~`, which must match the whole value (Java's
 * `Matcher.matches`): `(?s)` so `.` matches newlines, a lazy `.*?` before an unanchored start (tried once per
 * position, as a search would) and `.*` after an unanchored end (which cannot fail, so it never backtracks into
 * the body). The body reads the same in Java as in the subset.
 */
export const regexToJava = (pattern: string): string => {
  const parsed = Filter.regex(pattern) as Filter.Regex
  return `(?s)${parsed.start ? "" : ".*?"}${parsed.body}${parsed.end ? "" : ".*"}`
}

/**
 * The tail of a select after `MATCH … WHERE …`: `ORDER BY` its `orderBy` (null first in `ASC`, last in `DESC`,
 * spelled with an `IS NULL` key: Neo4j sorts null last in `ASC`), `SKIP` its `offset`, `LIMIT $limit`, and the
 * columns of `target` with only its `fields` as properties (a missing one comes back null). Values are
 * parameters; field names were checked and are quoted.
 */
export const selectTail = (
  target: Target,
  clauses: Operation.SelectClauses | undefined,
  params: Params
): string => {
  const { fields, offset, orderBy = [] } = clauses ?? {}
  const keys = orderBy.flatMap(({ field, order }) => {
    const e = target.field(field)
    return order === "ASC" ? [`(${e} IS NULL) DESC`, `${e} ASC`] : [`(${e} IS NULL) ASC`, `${e} DESC`]
  })
  const props = fields === undefined ? "properties(n)" : `n{${fields.map((f) => `.${quote(f)}`).join(", ")}}`
  const columns = target.kind === "node" ? nodeColumns(props) : relationshipColumns("n", "s", "e", props)
  return [
    "WITH *",
    keys.length === 0 ? "" : `ORDER BY ${keys.join(", ")}`,
    offset === undefined ? "" : `SKIP ${params.add(scalarToDriver(offset))}`,
    `LIMIT $limit RETURN ${columns}`
  ].filter((part) => part !== "").join(" ")
}

/**
 * A filter as a Cypher predicate that is never null (every comparison is wrapped so that a null or missing
 * property makes it false, `$ne` / `$nin` true), so `AND` / `OR` / `NOT` keep the model's two-valued logic.
 * Field names must have been checked; throws `ValueError` on an operand that is not a scalar.
 */
export const where = (filter: Filter.Filter, target: Target, params: Params): string => {
  switch (filter._tag) {
    case "And":
      return filter.filters.length === 0
        ? "true"
        : `(${filter.filters.map((f) => where(f, target, params)).join(" AND ")})`
    case "Or":
      return filter.filters.length === 0
        ? "false"
        : `(${filter.filters.map((f) => where(f, target, params)).join(" OR ")})`
    case "Not":
      return `(NOT ${where(filter.filter, target, params)})`
    case "Compare":
      return `(${compare(filter, target, params)})`
  }
}

/*
 * `validate`: an operation checked against the capabilities and turned into Cypher fragments, with every
 * identifier checked and every value converted to a driver parameter. Nothing here touches the database.
 */

export interface Compiled {
  readonly text: string
  readonly params: Readonly<Record<string, unknown>>
}

/** A relationship endpoint: the one node with `label` matching `filter`. */
export interface Matcher {
  readonly label: string
  readonly filter: Compiled
  readonly path: string
}

export interface Row {
  readonly path: string
  /** Property values as driver values (nulls dropped: null is a missing property in Neo4j). */
  readonly props: Readonly<Record<string, unknown>>
  readonly from?: Matcher
  readonly to?: Matcher
}

export interface Changes {
  readonly changes: ReadonlyArray<Update.Change>
  /** The `SET` items, on `n`. */
  readonly sets: string
  readonly params: Readonly<Record<string, unknown>>
}

export type Plan =
  | { readonly kind: "insert"; readonly target: Target; readonly rows: ReadonlyArray<Row> }
  | {
    readonly kind: "upsert"
    readonly target: Target
    readonly rows: ReadonlyArray<Row & { readonly filter: Compiled; readonly changes: Changes }>
  }
  | { readonly kind: "update"; readonly target: Target; readonly filter: Compiled; readonly changes: Changes }
  | { readonly kind: "delete"; readonly target: Target; readonly filter: Compiled }
  /** `query`: the whole select but the `$limit` parameter (the kernel's bound). */
  | { readonly kind: "select"; readonly target: Target; readonly filter: Compiled; readonly query: Compiled }

const convert = <A>(entity: string, path: string, f: () => A): Effect.Effect<A, StoreError> =>
  Effect.try({
    try: f,
    catch: (e) =>
      e instanceof ValueError
        ? fail("Validation", e.message, { entity, path })
        : fail("Unknown", String(e), { entity, path, cause: e })
  })

const compileFilter = (filter: Filter.Filter, target: Target, prefix: string, path: string) =>
  Effect.gen(function*() {
    for (const [field, at] of Filter.fields(filter)) yield* Identifier.check(field, "field name", at)
    const params = new Params(prefix)
    const text = yield* convert(target.entity, path, () => where(filter, target, params))
    return { text, params: params.values }
  })

const matcher = (entity: string, u: unknown, path: string): Effect.Effect<Matcher, StoreError> =>
  Effect.gen(function*() {
    const shape = "an endpoint matcher is { label: \"Label\", match: { property: value, … } }"
    if (!isPlainObject(u) || Object.keys(u).some((k) => k !== "label" && k !== "match")) {
      return yield* fail("Validation", shape, { entity, path })
    }
    if (typeof u.label !== "string") {
      return yield* fail("Validation", shape, { entity, path: join(path, "label") })
    }
    const label = yield* Identifier.check(u.label, "label", join(path, "label"))
    const match = u.match ?? {}
    if (!isPlainObject(match)) return yield* fail("Validation", shape, { entity, path: join(path, "match") })
    for (const [key, value] of Object.entries(match)) {
      const at = join(join(path, "match"), key)
      yield* Identifier.check(key, "property key", at)
      yield* convert(entity, at, () => scalarToDriver(value))
    }
    const filter = yield* compileFilter(Filter.byKey(match), nodeTarget(label), "m", join(path, "match"))
    return { label, filter, path }
  })

const row = (target: Target, record: Operation.Row, path: string, endpoints: boolean): Effect.Effect<Row, StoreError> =>
  Effect.gen(function*() {
    const props: Record<string, unknown> = {}
    const ends: { from?: Matcher; to?: Matcher } = {}
    for (const [key, value] of Object.entries(record)) {
      const at = join(path, key)
      yield* Identifier.check(key, "property key", at)
      if (endpoints && (key === "from" || key === "to")) {
        ends[key] = yield* matcher(target.entity, value, at)
        continue
      }
      if (isReserved(target.kind, key)) {
        return yield* fail("Validation", `${key} is reserved by the neo4j adapter`, { entity: target.entity, path: at })
      }
      const converted = yield* convert(target.entity, at, () => userToDriver(value))
      if (converted !== null) props[key] = converted
    }
    if (endpoints && (ends.from === undefined || ends.to === undefined)) {
      return yield* fail(
        "Validation",
        "a relationship insert needs data.from and data.to endpoint matchers ({ label, match })",
        { entity: target.entity, path }
      )
    }
    return { path, props, ...ends }
  })

const compileChanges = (target: Target, changes: ReadonlyArray<Update.Change>): Effect.Effect<Changes, StoreError> =>
  Effect.gen(function*() {
    const params = new Params("c")
    const sets: Array<string> = []
    for (const change of changes) {
      yield* Identifier.check(change.field, "field name", change.path)
      if (isReserved(target.kind, change.field)) {
        return yield* fail("Validation", `${change.field} is reserved by the neo4j adapter`, {
          entity: target.entity,
          path: change.path
        })
      }
      const f = `n.${quote(change.field)}`
      sets.push(
        yield* convert(target.entity, change.path, () => {
          switch (change.op) {
            case "set":
              return `${f} = ${change.value === null ? "null" : params.add(userToDriver(change.value))}`
            case "increment":
              return `${f} = coalesce(${f}, 0) + ${params.add(scalarToDriver(change.by))}`
            case "multiply":
              return `${f} = coalesce(${f}, 0) * ${params.add(scalarToDriver(change.by))}`
            case "push":
              return `${f} = coalesce(${f}, []) + [${params.add(scalarToDriver(change.value))}]`
            case "pull":
              return `${f} = [x IN coalesce(${f}, []) WHERE NOT coalesce(x = ${
                params.add(scalarToDriver(change.value))
              }, false)]`
          }
        })
      )
    }
    return { changes, sets: sets.join(", "), params: params.values }
  })

/**
 * Checks what the kernel cannot (reserved names, relationship shapes) and compiles `operation`; fails with the
 * reason and path of the first problem.
 */
export const plan = (operation: Operation.Operation, path = ""): Effect.Effect<Plan, StoreError> =>
  Effect.gen(function*() {
    const entity = yield* Identifier.check(operation.entity, "entity name", join(path, "from.entity"))
    if (entity.startsWith("_Polysaga")) {
      return yield* fail("Validation", `${entity} is reserved by the neo4j adapter`, {
        entity,
        path: join(path, "from.entity")
      })
    }
    const target = isRelationshipType(entity) ? relationshipTarget(entity) : nodeTarget(entity)
    const dataPath = (i: number, n: number) => n === 1 ? join(path, "data") : join(join(path, "data"), i)
    switch (operation.kind) {
      case "insert": {
        const rows = yield* Effect.forEach(
          operation.records,
          (r, i) => row(target, r, dataPath(i, operation.records.length), target.kind === "relationship")
        )
        return { kind: "insert", target, rows }
      }
      case "upsert": {
        if (target.kind === "relationship") {
          return yield* fail(
            "UnsupportedOperator",
            "neo4j cannot upsert relationships (insert or update them instead)",
            { entity, path: join(path, "operation") }
          )
        }
        if (operation.where !== undefined && operation.records.length > 1) {
          return yield* fail("Validation", "an upsert with where takes exactly one record", {
            entity,
            path: join(path, "where")
          })
        }
        const rows = yield* Effect.forEach(operation.records, (record, i) =>
          Effect.gen(function*() {
            const at = dataPath(i, operation.records.length)
            const base = yield* row(target, record, at, false)
            const key = operation.options.key
            let filter: Filter.Filter
            if (operation.where !== undefined) filter = operation.where
            else if (key !== undefined) {
              const missing = key.find((k) => record[k] === undefined || record[k] === null)
              if (missing !== undefined) {
                return yield* fail("Validation", `the key field ${missing} is missing`, {
                  entity,
                  path: join(at, missing)
                })
              }
              filter = Filter.byKey(Object.fromEntries(key.map((k) => [k, record[k]])))
            } else {
              return yield* fail(
                "Validation",
                "a Neo4j upsert needs where or options.key (nodes have no natural key)",
                { entity, path: join(path, "where") }
              )
            }
            const changes = yield* compileChanges(
              target,
              Object.entries(record).map(([field, value]) => ({ op: "set", field, value, path: join(at, field) }))
            )
            return { ...base, changes, filter: yield* compileFilter(filter, target, "w", join(path, "where")) }
          }))
        return { kind: "upsert", target, rows }
      }
      case "update": {
        // a change's path is relative to its operation
        const changes = yield* compileChanges(
          target,
          operation.changes.map((c) => ({ ...c, path: join(path, c.path) }))
        )
        return {
          kind: "update",
          target,
          changes,
          filter: yield* compileFilter(operation.where, target, "w", join(path, "where"))
        }
      }
      case "delete":
        return {
          kind: operation.kind,
          target,
          filter: yield* compileFilter(operation.where, target, "w", join(path, "where"))
        }
      case "select": {
        const filter = yield* compileFilter(operation.where, target, "w", join(path, "where"))
        const params = new Params("q")
        const tail = selectTail(target, operation.clauses, params)
        return {
          kind: "select",
          target,
          filter,
          query: {
            text: `${target.match} WHERE ${filter.text} ${tail}`,
            params: { ...filter.params, ...params.values }
          }
        }
      }
    }
  })
