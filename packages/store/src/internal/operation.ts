import * as Effect from "effect/Effect"
import * as Identifier from "../Identifier.js"
import type { Operation, OperationInput, Row } from "../Operation.js"
import type { StoreError } from "../StoreError.js"
import * as Filter from "./filter.js"
import * as Update from "./update.js"
import {
  checkBounds,
  checkValue,
  dataBounds,
  decodeAt,
  isPlainObject,
  join,
  validation,
  whereBounds,
  within
} from "./values.js"

const parseRow = (u: unknown, path: string): Effect.Effect<Row, StoreError> =>
  isPlainObject(u)
    ? Effect.forEach(Object.entries(u), ([field, value]) => {
      const at = join(path, field)
      if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith("$"))) {
        return Effect.fail(validation(at, "operators are not allowed here: insert and upsert take plain values"))
      }
      return Effect.zipRight(Identifier.check(field, "field name", at), checkValue(value, at))
    }, { discard: true }).pipe(
      Effect.zipRight(
        Object.keys(u).length === 0 ? Effect.fail(validation(path, "a record needs at least one field")) : Effect.void
      ),
      Effect.as(u)
    )
    : Effect.fail(validation(path, "a record is an object"))

const parseRows = (data: unknown, path: string): Effect.Effect<ReadonlyArray<Row>, StoreError> => {
  if (data === undefined) return Effect.fail(validation(path, "is required"))
  if (Array.isArray(data)) {
    return data.length === 0
      ? Effect.fail(validation(path, "needs at least one record"))
      : Effect.forEach(data, (row, i) => parseRow(row, join(path, i)))
  }
  return Effect.map(parseRow(data, path), (row) => [row])
}

const absent = (u: unknown, path: string, kind: string): Effect.Effect<void, StoreError> =>
  u === undefined ? Effect.void : Effect.fail(validation(path, `is not allowed in a ${kind}`))

/**
 * Paths inside the parsed operation (`Compare.path`, `Change.path`) are relative to it (`where.q.$gte`); errors
 * get `path` in front.
 */
export const parse =
  (schema: typeof OperationInput) => (input: unknown, path = ""): Effect.Effect<Operation, StoreError> =>
    Effect.mapError(parseRelative(schema, input), within(path))

const parseRelative = (schema: typeof OperationInput, input: unknown): Effect.Effect<Operation, StoreError> =>
  Effect.gen(function*() {
    // before anything else: the schema decode below copies `data` and `where` (and would drop a `__proto__` key)
    if (isPlainObject(input)) {
      yield* checkBounds(input.where, "where", whereBounds)
      yield* checkBounds(input.data, "data", dataBounds)
    }
    const raw = yield* decodeAt(schema, input, "")
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
        yield* Effect.forEach(
          raw.options?.key ?? [],
          (field, i) => Identifier.check(field, "field name", join(at("options.key"), i))
        )
        const records = yield* parseRows(raw.data, at("data"))
        const where = raw.where === undefined ? undefined : yield* Filter.parseChecked(raw.where, at("where"))
        if (where !== undefined && records.length > 1) {
          return yield* Effect.fail(validation(at("where"), "an upsert with where takes exactly one record"))
        }
        return { ...base, kind: "upsert", records, where, dataIsList: Array.isArray(raw.data) } as const
      }
      case "update": {
        if (raw.where === undefined) {
          return yield* Effect.fail(validation(at("where"), "is required for update (use {} to match every record)"))
        }
        const changes = yield* Update.parseChecked(raw.data, at("data"))
        return { ...base, kind: "update", changes, where: yield* Filter.parseChecked(raw.where, at("where")) } as const
      }
      case "delete": {
        yield* absent(raw.data, at("data"), "delete")
        if (raw.where === undefined) {
          return yield* Effect.fail(validation(at("where"), "is required for delete (use {} to match every record)"))
        }
        return { ...base, kind: "delete", where: yield* Filter.parseChecked(raw.where, at("where")) } as const
      }
      case "select": {
        yield* absent(raw.data, at("data"), "select")
        const where = raw.where === undefined ? Filter.all : yield* Filter.parseChecked(raw.where, at("where"))
        return { ...base, kind: "select", where } as const
      }
    }
  })
