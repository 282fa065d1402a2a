import * as Either from "effect/Either"
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

/**
 * Decodes `u` with `schema`, turning a parse error into a `Validation` error at `path`. Synchronous (an `Either`):
 * the schemas of the model have no effectful transformation, and the Effect form of a decode costs a few times the CPU
 * of the decode itself.
 */
export const decodeAt = <A, I>(schema: Schema.Schema<A, I>, u: unknown, path: string): Either.Either<A, StoreError> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "first" })(u), (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const at = (issue?.path ?? []).reduce<string>((p, k) => join(p, typeof k === "number" ? k : String(k)), path)
    return validation(at, issue?.message ?? error.message)
  })

/** Success with nothing: a check that passed. */
export const passed: Either.Either<void, never> = Either.right(undefined)

/**
 * `f` on each item, in order, until one fails (a plain loop over `Either`s: the parsers run for every operation, and
 * an Effect per value costs more than the check it holds).
 */
export const each = <A, B, E>(
  items: ReadonlyArray<A>,
  f: (item: A, i: number) => Either.Either<B, E>
): Either.Either<Array<B>, E> => {
  const out: Array<B> = []
  for (let i = 0; i < items.length; i++) {
    const result = f(items[i]!, i)
    if (Either.isLeft(result)) return Either.left(result.left)
    out.push(result.right)
  }
  return Either.right(out)
}

/** {@link each}, keeping nothing. */
export const every = <A, E>(
  items: ReadonlyArray<A>,
  f: (item: A, i: number) => Either.Either<unknown, E>
): Either.Either<void, E> => {
  for (let i = 0; i < items.length; i++) {
    const result = f(items[i]!, i)
    if (Either.isLeft(result)) return Either.left(result.left)
  }
  return passed
}

/**
 * A value a record field may hold: JSON values plus `Date`. Nested object keys may not start with `$`
 * (that would read as an operator) nor contain `.` (a path).
 */
export const checkValue = (u: unknown, path: string): Either.Either<void, StoreError> => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date) return passed
  if (typeof u === "number") {
    return Number.isFinite(u) ? passed : Either.left(validation(path, "numbers must be finite"))
  }
  if (Array.isArray(u)) return every(u, (v, i) => checkValue(v, join(path, i)))
  if (isPlainObject(u)) {
    return every(Object.entries(u), ([k, v]) =>
      k.startsWith("$") || k.includes(".") || k === ""
        ? Either.left(
          validation(join(path, k), `nested key ${JSON.stringify(k)} may not be empty, start with '$' or contain '.'`)
        )
        : checkValue(v, join(path, k)))
  }
  return Either.left(validation(path, `unsupported value of type ${typeof u}`))
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

export const whereBounds = { depth: 32, nodes: 10_000 } as const
export const dataBounds = { depth: 32, nodes: Number.POSITIVE_INFINITY } as const
export const maxStringLength = 1_048_576
export const maxArrayLength = 10_000

/** Keys that name the prototype chain of a JavaScript object. */
export const reservedKeys: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"])

// a high surrogate not followed by a low one, or a low surrogate not preceded by a high one
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export const isStorableText = (text: string): boolean => !text.includes("\u0000") && !loneSurrogate.test(text)

/** A key as it appears in a path: escaped when it holds what a path cannot show. */
const keyInPath = (key: string) => isStorableText(key) && !/\p{Cc}/u.test(key) ? key : JSON.stringify(key)

const textProblem = (text: string, what: string, maxLength: number): string | undefined =>
  text.length > maxLength
    ? `${what} of ${text.length} characters exceeds the limit of ${maxLength}`
    : isStorableText(text)
    ? undefined
    : `${what} holds a NUL character (U+0000) or a lone surrogate, which the stores cannot keep`

/**
 * One iterative pass over a raw value: depth and value count within `bounds`, string and array sizes, storable
 * text, no reserved key. Fails at the path of the first problem it meets.
 */
export const checkBounds = (
  root: unknown,
  path: string,
  bounds: { readonly depth: number; readonly nodes: number }
): Either.Either<void, StoreError> => {
  const stack: Array<readonly [value: unknown, at: string, depth: number]> = [[root, path, 0]]
  let nodes = 0
  while (stack.length > 0) {
    const [value, at, depth] = stack.pop()!
    if (++nodes > bounds.nodes) {
      return Either.left(validation(path, `holds more than ${bounds.nodes} values (the limit)`))
    }
    if (typeof value === "string") {
      const problem = textProblem(value, "a string", maxStringLength)
      if (problem !== undefined) return Either.left(validation(at, problem))
      continue
    }
    const isArray = Array.isArray(value)
    if (!isArray && !isPlainObject(value)) continue
    if (depth + 1 > bounds.depth) {
      return Either.left(validation(at, `nests deeper than ${bounds.depth} levels (the limit)`))
    }
    if (isArray) {
      if (value.length > maxArrayLength) {
        return Either.left(
          validation(at, `an array of ${value.length} elements exceeds the limit of ${maxArrayLength}`)
        )
      }
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], join(at, i), depth + 1])
      continue
    }
    const keys = Object.keys(value)
    for (const key of keys) {
      const problem = reservedKeys.has(key)
        ? `${JSON.stringify(key)} is not allowed as a field name or key`
        : textProblem(key, "a key", maxStringLength)
      if (problem !== undefined) return Either.left(validation(join(at, keyInPath(key)), problem))
    }
    for (let i = keys.length - 1; i >= 0; i--) stack.push([value[keys[i]!], join(at, keys[i]!), depth + 1])
  }
  return passed
}

/** The same error with `path` in front of its path (errors of a part parsed on its own, e.g. `where`). */
export const within = (path: string) => (error: StoreError): StoreError => {
  if (path === "" || error.path === undefined) return error
  const at = error.path === "" ? path : join(path, error.path)
  const message = error.message.startsWith(`${error.path}: `)
    ? error.message.slice(error.path.length + 2)
    : error.message
  return new StoreError({
    reason: error.reason,
    engine: error.engine,
    entity: error.entity,
    path: at,
    message: `${at}: ${message}`,
    cause: error.cause
  })
}
