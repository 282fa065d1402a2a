import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { StoreError } from "../StoreError.js"

/** A path inside an operation, e.g. `where.quantity.$gte`. */
export const join = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

export const validation = (path: string, message: string): StoreError =>
  new StoreError({ reason: "Validation", path, message: `${path}: ${message}` })

export const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Date) &&
  (Object.getPrototypeOf(u) === Object.prototype || Object.getPrototypeOf(u) === null)

/** Decodes `u` with `schema`, turning a parse error into a `Validation` error at `path`. */
export const decodeAt = <A, I>(schema: Schema.Schema<A, I>, u: unknown, path: string): Effect.Effect<A, StoreError> =>
  Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "first" })(u).pipe(
    Effect.mapError((error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const at = (issue?.path ?? []).reduce<string>((p, k) => join(p, typeof k === "number" ? k : String(k)), path)
      return validation(at, issue?.message ?? error.message)
    })
  )

/**
 * A value a record field may hold: JSON values plus `Date`. Nested object keys may not start with `$`
 * (that would read as an operator) nor contain `.` (a path).
 */
export const checkValue = (u: unknown, path: string): Effect.Effect<void, StoreError> => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date) return Effect.void
  if (typeof u === "number") {
    return Number.isFinite(u) ? Effect.void : Effect.fail(validation(path, "numbers must be finite"))
  }
  if (Array.isArray(u)) return Effect.forEach(u, (v, i) => checkValue(v, join(path, i)), { discard: true })
  if (isPlainObject(u)) {
    return Effect.forEach(Object.entries(u), ([k, v]) =>
      k.startsWith("$") || k.includes(".") || k === ""
        ? Effect.fail(
          validation(join(path, k), `nested key ${JSON.stringify(k)} may not be empty, start with '$' or contain '.'`)
        )
        : checkValue(v, join(path, k)), { discard: true })
  }
  return Effect.fail(validation(path, `unsupported value of type ${typeof u}`))
}

/** Scalars that may appear in a filter. */
export type Scalar = string | number | boolean | null | Date

export const isScalar = (u: unknown): u is Scalar =>
  u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date ||
  (typeof u === "number" && Number.isFinite(u))

/** Deep equality on record values (JSON values and Dates), used by the reference model. */
export const equals = (a: unknown, b: unknown): boolean => {
  if (a instanceof Date || b instanceof Date) {
    const ta = a instanceof Date ? a.getTime() : typeof a === "string" ? Date.parse(a) : NaN
    const tb = b instanceof Date ? b.getTime() : typeof b === "string" ? Date.parse(b) : NaN
    return ta === tb
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => equals(v, b[i]))
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a), kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k) => equals(a[k], b[k]))
  }
  return a === b
}
