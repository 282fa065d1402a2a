import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { Operation, OperationInput, OrderBy, Row, SelectClauses, VectorSearch } from "../Operation.js"
import type { StoreError } from "../StoreError.js"
import * as Filter from "./filter.js"
import * as Identifier from "./identifier.js"
import * as Update from "./update.js"
import {
  checkBounds,
  checkValue,
  dataBounds,
  decodeAt,
  each,
  every,
  isPlainObject,
  join,
  passed,
  validation,
  whereBounds,
  within
} from "./values.js"

const parseRow = (u: unknown, path: string): Either.Either<Row, StoreError> => {
  if (!isPlainObject(u)) return Either.left(validation(path, "a record is an object"))
  const checked = every(Object.entries(u), ([field, value]) => {
    const at = join(path, field)
    if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith("$"))) {
      return Either.left(validation(at, "operators are not allowed here: insert and upsert take plain values"))
    }
    return Either.flatMap(Identifier.check(field, "field name", at), () => checkValue(value, at))
  })
  if (Either.isLeft(checked)) return Either.left(checked.left)
  return Object.keys(u).length === 0
    ? Either.left(validation(path, "a record needs at least one field"))
    : Either.right(u)
}

const parseRows = (data: unknown, path: string): Either.Either<ReadonlyArray<Row>, StoreError> => {
  if (data === undefined) return Either.left(validation(path, "is required"))
  if (Array.isArray(data)) {
    return data.length === 0
      ? Either.left(validation(path, "needs at least one record"))
      : each(data, (row, i) => parseRow(row, join(path, i)))
  }
  return Either.map(parseRow(data, path), (row) => [row])
}

const absent = (u: unknown, path: string, kind: string): Either.Either<void, StoreError> =>
  u === undefined ? passed : Either.left(validation(path, `is not allowed in a ${kind}`))

/**
 * Paths inside the parsed operation (`Compare.path`, `Change.path`) are relative to it (`where.q.$gte`); errors
 * get `path` in front.
 */
export const parse =
  (schema: typeof OperationInput) => (input: unknown, path = ""): Either.Either<Operation, StoreError> =>
    Either.mapLeft(parseRelative(schema, input), within(path))

/** A plain function (an `Either`, no Effect): it runs for every operation of every transaction. */
const parseRelative = (schema: typeof OperationInput, input: unknown): Either.Either<Operation, StoreError> =>
  Either.gen(function*() {
    // before anything else: the schema decode below copies `data` and `where` (and would drop a `__proto__` key)
    if (isPlainObject(input)) {
      yield* checkBounds(input.where, "where", whereBounds)
      yield* checkBounds(input.data, "data", dataBounds)
    }
    const raw = yield* decodeAt(schema, input, "")
    if (raw.operation !== "select") {
      for (const key of ["fields", "orderBy", "limit", "offset"] as const) yield* absent(raw[key], key, raw.operation)
    }
    const at = (key: string) => key
    const entity = yield* Identifier.check(raw.from.entity, "entity name", at("from.entity"))
    const base = { source: { type: raw.from.type, tag: raw.from.tag }, entity, options: raw.options ?? {} }
    switch (raw.operation) {
      case "insert": {
        yield* absent(raw.where, at("where"), "insert")
        const records = yield* parseRows(raw.data, at("data"))
        return { ...base, kind: "insert", records, dataIsList: Array.isArray(raw.data) } as const
      }
      case "upsert": {
        yield* every(
          raw.options?.key ?? [],
          (field, i) => Identifier.check(field, "field name", join(at("options.key"), i))
        )
        const records = yield* parseRows(raw.data, at("data"))
        const where = raw.where === undefined ? undefined : yield* Filter.parseChecked(raw.where, at("where"))
        if (where !== undefined && records.length > 1) {
          return yield* Either.left(validation(at("where"), "an upsert with where takes exactly one record"))
        }
        return { ...base, kind: "upsert", records, where, dataIsList: Array.isArray(raw.data) } as const
      }
      case "update": {
        if (raw.where === undefined) {
          return yield* Either.left(validation(at("where"), "is required for update (use {} to match every record)"))
        }
        const changes = yield* Update.parseChecked(raw.data, at("data"))
        return { ...base, kind: "update", changes, where: yield* Filter.parseChecked(raw.where, at("where")) } as const
      }
      case "delete": {
        yield* absent(raw.data, at("data"), "delete")
        if (raw.where === undefined) {
          return yield* Either.left(validation(at("where"), "is required for delete (use {} to match every record)"))
        }
        return { ...base, kind: "delete", where: yield* Filter.parseChecked(raw.where, at("where")) } as const
      }
      case "select": {
        yield* absent(raw.data, at("data"), "select")
        const { rest, vectors } = splitVectors(raw.where)
        const where = rest === undefined ? Filter.all : yield* Filter.parseChecked(rest, at("where"))
        if (raw.limit !== undefined && raw.options?.limit !== undefined) {
          return yield* Either.left(validation("limit", "give limit or options.limit, not both"))
        }
        const clauses = yield* parseClauses(raw, vectors)
        const options = raw.limit === undefined ? base.options : { ...base.options, limit: raw.limit }
        return {
          ...base,
          options,
          kind: "select",
          where,
          ...(Object.keys(clauses).length === 0 ? {} : { clauses })
        } as const
      }
    }
  })

const Similar = Schema.Struct({
  vector: Schema.NonEmptyArray(Schema.Finite),
  topK: Schema.optional(Schema.Int.pipe(Schema.positive())),
  threshold: Schema.optional(Schema.Finite)
})

const Near = Schema.Struct({
  vector: Schema.NonEmptyArray(Schema.Finite),
  maxDistance: Schema.Finite.pipe(Schema.nonNegative()),
  topK: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

type VectorEntry = readonly [field: string, op: "similar" | "near", operand: unknown]

/** Takes the top-level `{ field: { $similar | $near: … } }` entries out of a select's `where`. */
const splitVectors = (where: Readonly<Record<string, unknown>> | undefined) => {
  if (where === undefined) return { rest: undefined, vectors: [] as ReadonlyArray<VectorEntry> }
  const rest: Record<string, unknown> = {}
  const vectors: Array<VectorEntry> = []
  for (const [field, condition] of Object.entries(where)) {
    const keys = isPlainObject(condition) ? Object.keys(condition) : []
    if (keys.length === 1 && (keys[0] === "$similar" || keys[0] === "$near")) {
      vectors.push([
        field,
        keys[0] === "$similar" ? "similar" : "near",
        (condition as Record<string, unknown>)[keys[0]]
      ])
    } else rest[field] = condition
  }
  return { rest, vectors }
}

const parseClauses = (
  raw: typeof OperationInput.Type,
  vectors: ReadonlyArray<VectorEntry>
): Either.Either<SelectClauses, StoreError> =>
  Either.gen(function*() {
    for (const [i, field] of (raw.fields ?? []).entries()) {
      yield* Identifier.check(field, "field name", join("fields", i))
    }
    const orderBy: ReadonlyArray<OrderBy> | undefined = raw.orderBy
    for (const [i, { field }] of (orderBy ?? []).entries()) {
      yield* Identifier.check(field, "field name", join(join("orderBy", i), "field"))
    }
    if (raw.offset !== undefined && orderBy === undefined) {
      return yield* Either.left(
        validation("offset", "needs orderBy: without an order, which records are skipped is the store's choice")
      )
    }
    if (vectors.length > 1) {
      return yield* Either.left(
        validation(join("where", vectors[1]![0]), "one vector search ($similar / $near) per select")
      )
    }
    let vector: { readonly similar: VectorSearch } | { readonly near: VectorSearch } | undefined
    for (const [field, op, operand] of vectors) {
      const path = join(join("where", field), `$${op}`)
      yield* Identifier.check(field, "field name", join("where", field))
      const search: VectorSearch = op === "similar"
        ? { field, path, ...(yield* decodeAt(Similar, operand, path)) }
        : { field, path, ...(yield* decodeAt(Near, operand, path)) }
      if (orderBy !== undefined) {
        return yield* Either.left(validation("orderBy", `a vector search ($${op}) orders its records by distance`))
      }
      vector = op === "similar" ? { similar: search } : { near: search }
    }
    return {
      ...(raw.fields === undefined ? {} : { fields: raw.fields }),
      ...(orderBy === undefined ? {} : { orderBy }),
      ...(raw.offset === undefined ? {} : { offset: raw.offset }),
      ...vector
    }
  })

/** Code point order (UTF-8 byte order: PostgreSQL's `COLLATE "C"`, MongoDB's binary comparison). */
const byCodePoint = (a: string, b: string): number => {
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]()
  for (;;) {
    const x = ia.next(), y = ib.next()
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!
    if (d !== 0) return d
  }
}

/** The order of two values of one field (`Operation.OrderBy`): null and missing first; one type by value. */
const compareForOrder = (a: unknown, b: unknown): number => {
  const na = a === null || a === undefined, nb = b === null || b === undefined
  if (na || nb) return na === nb ? 0 : na ? -1 : 1
  if (typeof a === "string" && typeof b === "string") return byCodePoint(a, b)
  const ta = a instanceof Date ? a.getTime() : a, tb = b instanceof Date ? b.getTime() : b
  if (typeof ta !== typeof tb) return typeof ta < typeof tb ? -1 : 1
  return (ta as number) < (tb as number) ? -1 : (ta as number) > (tb as number) ? 1 : 0
}

export const select = (
  operation: Extract<Operation, { readonly kind: "select" }>,
  records: ReadonlyArray<Row>
): ReadonlyArray<Row> => {
  const { fields, offset = 0, orderBy = [] } = operation.clauses ?? {}
  const sorted = records.filter((r) => Filter.matches(operation.where, r)).map((r, i) => [r, i] as const).sort(
    ([a, i], [b, j]) => {
      for (const { field, order } of orderBy) {
        const c = compareForOrder(a[field], b[field])
        if (c !== 0) return order === "ASC" ? c : -c
      }
      return i - j
    }
  ).map(([r]) => r)
  const limit = operation.options.limit ?? sorted.length
  return sorted.slice(offset, offset + limit).map((r) =>
    fields === undefined ? r : Object.fromEntries(fields.filter((f) => f in r).map((f) => [f, r[f]]))
  )
}
