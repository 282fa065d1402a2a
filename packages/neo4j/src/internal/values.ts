/**
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
import type { Undo } from "@polysaga/store"
import neo4j from "neo4j-driver"

type Json = Undo.Json

/** A value that cannot be a Neo4j property value or a filter operand; `message` says why. */
export class ValueError extends Error {}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && Object.getPrototypeOf(u) === Object.prototype

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
  if (isRecord(u)) {
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
