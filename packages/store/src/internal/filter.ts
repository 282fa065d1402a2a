import * as Either from "effect/Either"
import type { Compare, CompareOperator, Filter, FilterOperator } from "../Filter.js"
import type { StoreError } from "../StoreError.js"
import * as Identifier from "./identifier.js"
import * as Regex from "./regex.js"
import { checkBounds, each, equals, isPlainObject, isScalar, join, validation, whereBounds } from "./values.js"

type Operand = "scalar" | "ordered" | "list" | "string" | "boolean" | "regex"

const operandOf: Record<CompareOperator, Operand> = {
  eq: "scalar",
  ne: "scalar",
  gt: "ordered",
  gte: "ordered",
  lt: "ordered",
  lte: "ordered",
  in: "list",
  nin: "list",
  contains: "scalar",
  like: "string",
  ilike: "string",
  startsWith: "string",
  endsWith: "string",
  null: "boolean",
  exists: "boolean",
  regex: "regex"
}

const isOrdered = (u: unknown) => typeof u === "string" || u instanceof Date || (typeof u === "number" && isFinite(u))

const checkOperand = (op: CompareOperator, value: unknown, path: string): Either.Either<unknown, StoreError> => {
  switch (operandOf[op]) {
    case "scalar":
      return isScalar(value) && (value !== null || op === "eq" || op === "ne")
        ? Either.right(value)
        : Either.left(validation(path, `$${op} takes a string, finite number, boolean or date`))
    case "ordered":
      return isOrdered(value)
        ? Either.right(value)
        : Either.left(validation(path, `$${op} takes a string, finite number or date`))
    case "list":
      return Array.isArray(value) && value.every((v) => isScalar(v) && v !== null)
        ? Either.right(value)
        : Either.left(validation(path, `$${op} takes an array of strings, finite numbers, booleans or dates`))
    case "string":
      return typeof value === "string"
        ? Either.right(value)
        : Either.left(validation(path, `$${op} takes a string`))
    case "boolean":
      return typeof value === "boolean"
        ? Either.right(value)
        : Either.left(validation(path, `$${op} takes true or false`))
    case "regex": {
      if (typeof value !== "string") return Either.left(validation(path, "$regex takes a string (a pattern)"))
      const parsed = Regex.parse(value)
      return typeof parsed === "string" ? Either.left(validation(path, parsed)) : Either.right(value)
    }
  }
}

const compare = (field: string, op: CompareOperator, value: unknown, path: string): Compare => {
  // `$eq: null` / `$ne: null` are spelled as `$null` so adapters see one form.
  if (value === null && op === "eq") return { _tag: "Compare", field, op: "null", value: true, path }
  if (value === null && op === "ne") return { _tag: "Compare", field, op: "null", value: false, path }
  return { _tag: "Compare", field, op, value, path }
}

/**
 * `$containsAll` / `$containsAny`: one `$contains` per value, joined by `$and` / `$or` — the same meaning exactly,
 * so every store that declares `$contains` (and `$and` / `$or`) runs them, and one that does not names the
 * `$contains` it lacks at `…$containsAll[i]`.
 */
const containsEach = (
  field: string,
  op: "containsAll" | "containsAny",
  operand: unknown,
  path: string
): Either.Either<Filter, StoreError> =>
  Array.isArray(operand) && operand.length > 0 && operand.every((v) => isScalar(v) && v !== null)
    ? Either.right({
      _tag: op === "containsAll" ? "And" : "Or",
      filters: operand.map((value, i): Filter => compare(field, "contains", value, join(path, i)))
    })
    : Either.left(validation(path, `$${op} takes a non-empty array of strings, finite numbers, booleans or dates`))

/** One filter, or the `$and` of several. */
const conjunction = (filters: ReadonlyArray<Filter>): Filter =>
  filters.length === 1 ? filters[0]! : { _tag: "And", filters }

const parseField = (field: string, condition: unknown, path: string): Either.Either<Filter, StoreError> => {
  if (isScalar(condition)) return Either.right(compare(field, "eq", condition, path))
  if (isPlainObject(condition)) {
    const entries = Object.entries(condition)
    if (entries.length === 0) return Either.left(validation(path, "an operator object needs at least one operator"))
    return Either.map(
      each(entries, ([key, operand]): Either.Either<Filter, StoreError> => {
        const opPath = join(path, key)
        const op = key.startsWith("$") ? key.slice(1) : undefined
        if (op === "containsAll" || op === "containsAny") return containsEach(field, op, operand, opPath)
        if (op === "similar" || op === "near") {
          return Either.left(
            validation(
              opPath,
              `$${op} is a vector search: it goes at the top level of a select's where, alone on its field`
            )
          )
        }
        if (op === undefined || !(op in operandOf)) {
          return Either.left(validation(opPath, `unknown filter operator ${JSON.stringify(key)}`))
        }
        return Either.map(
          checkOperand(op as CompareOperator, operand, opPath),
          (value): Filter => compare(field, op as CompareOperator, value, opPath)
        )
      }),
      conjunction
    )
  }
  return Either.left(
    validation(path, "a condition is a string, finite number, boolean, null, date or an object of $operators")
  )
}

const parseList = (u: unknown, path: string): Either.Either<ReadonlyArray<Filter>, StoreError> =>
  Array.isArray(u)
    ? each(u, (f, i) => parseChecked(f, join(path, i)))
    : Either.left(validation(path, "takes an array of filters"))

export const all: Filter = { _tag: "And", filters: [] }

/** Parses a `where` whose bounds were checked (see `parse`). A plain function (an `Either`). */
export const parseChecked = (where: unknown, path = "where"): Either.Either<Filter, StoreError> => {
  if (!isPlainObject(where)) return Either.left(validation(path, "a filter is an object"))
  return Either.map(
    each(Object.entries(where), ([key, value]): Either.Either<Filter, StoreError> => {
      const at = join(path, key)
      switch (key) {
        case "$and":
          return Either.map(parseList(value, at), (filters): Filter => ({ _tag: "And", filters }))
        case "$or":
          return Either.map(parseList(value, at), (filters): Filter => ({ _tag: "Or", filters }))
        case "$not":
          return Either.map(parseChecked(value, at), (filter): Filter => ({ _tag: "Not", filter }))
        default:
          return key.startsWith("$")
            ? Either.left(validation(at, `unknown logical operator ${JSON.stringify(key)}`))
            : Either.flatMap(Identifier.check(key, "field name", at), () => parseField(key, value, at))
      }
    }),
    conjunction
  )
}

export const parse = (where: unknown, path = "where"): Either.Either<Filter, StoreError> =>
  Either.flatMap(checkBounds(where, path, whereBounds), () => parseChecked(where, path))

const likeToRegExp = (pattern: string, flags: string): RegExp => {
  let source = ""
  for (const ch of pattern) {
    source += ch === "%" ? "[\\s\\S]*" : ch === "_" ? "[\\s\\S]" : ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  }
  return new RegExp(`^${source}$`, flags)
}

/** Orders two values of the same kind; `undefined` when they cannot be compared. */
const order = (a: unknown, b: unknown): number | undefined => {
  if (typeof a === "number" && typeof b === "number") return a - b
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0
  const ta = a instanceof Date ? a.getTime() : undefined
  const tb = b instanceof Date ? b.getTime() : typeof b === "string" && ta !== undefined ? Date.parse(b) : undefined
  return ta !== undefined && tb !== undefined ? ta - tb : undefined
}

const test = (c: Compare, record: Readonly<Record<string, unknown>>): boolean => {
  const v = record[c.field] ?? null
  switch (c.op) {
    case "eq":
      return v !== null && equals(v, c.value)
    case "ne":
      return !(v !== null && equals(v, c.value))
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const o = v === null ? undefined : order(v, c.value)
      if (o === undefined) return false
      return c.op === "gt" ? o > 0 : c.op === "gte" ? o >= 0 : c.op === "lt" ? o < 0 : o <= 0
    }
    case "in":
      return v !== null && (c.value as ReadonlyArray<unknown>).some((x) => equals(v, x))
    case "nin":
      return !(v !== null && (c.value as ReadonlyArray<unknown>).some((x) => equals(v, x)))
    case "contains":
      return Array.isArray(v) && v.some((x) => equals(x, c.value))
    case "like":
      return typeof v === "string" && likeToRegExp(c.value as string, "").test(v)
    case "ilike":
      return typeof v === "string" && likeToRegExp(c.value as string, "i").test(v)
    case "startsWith":
      return typeof v === "string" && v.startsWith(c.value as string)
    case "endsWith":
      return typeof v === "string" && v.endsWith(c.value as string)
    case "null":
      return (v === null) === c.value
    case "exists":
      return (v !== null) === c.value
    case "regex":
      return typeof v === "string" && Regex.toRegExp(c.value as string).test(v)
  }
}

export const matches = (filter: Filter, record: Readonly<Record<string, unknown>>): boolean => {
  switch (filter._tag) {
    case "And":
      return filter.filters.every((f) => matches(f, record))
    case "Or":
      return filter.filters.some((f) => matches(f, record))
    case "Not":
      return !matches(filter.filter, record)
    case "Compare":
      return test(filter, record)
  }
}

/** Visits every node in document order, with its depth (the root is 1); iterative, so any depth is safe. */
const walk = (filter: Filter, visit: (f: Filter, depth: number) => void): void => {
  const stack: Array<readonly [Filter, number]> = [[filter, 1]]
  while (stack.length > 0) {
    const [f, depth] = stack.pop()!
    visit(f, depth)
    if (f._tag === "And" || f._tag === "Or") {
      for (let i = f.filters.length - 1; i >= 0; i--) stack.push([f.filters[i]!, depth + 1])
    } else if (f._tag === "Not") stack.push([f.filter, depth + 1])
  }
}

export const depth = (filter: Filter): number => {
  let deepest = 0
  walk(filter, (_, d) => void (deepest = Math.max(deepest, d)))
  return deepest
}

export const operators = (filter: Filter): ReadonlyMap<FilterOperator, string> => {
  const found = new Map<FilterOperator, string>()
  walk(filter, (f) => {
    if (f._tag === "Compare") {
      if (!found.has(f.op)) found.set(f.op, f.path)
    } else if (f._tag === "Or" && !found.has("or")) found.set("or", "where")
    else if (f._tag === "Not" && !found.has("not")) found.set("not", "where")
  })
  return found
}

export const fields = (filter: Filter): ReadonlyMap<string, string> => {
  const found = new Map<string, string>()
  walk(filter, (f) => {
    if (f._tag === "Compare" && !found.has(f.field)) found.set(f.field, f.path)
  })
  return found
}
