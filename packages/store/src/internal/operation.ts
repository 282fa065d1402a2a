import * as Effect from "effect/Effect"
import * as Filter from "../Filter.js"
import * as Identifier from "../Identifier.js"
import type { Operation, Row } from "../Operation.js"
import { OperationInput } from "../Operation.js"
import type { StoreError } from "../StoreError.js"
import * as Update from "../Update.js"
import { checkValue, decodeAt, isPlainObject, join, validation } from "./values.js"

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

export const parse = (input: unknown, path = ""): Effect.Effect<Operation, StoreError> =>
  Effect.gen(function*() {
    const raw = yield* decodeAt(OperationInput, input, path)
    const at = (key: string) => join(path, key)
    const entity = yield* Identifier.check(raw.from.entity, "entity name", at("from.entity"))
    const base = { source: { type: raw.from.type, tag: raw.from.tag }, entity, options: raw.options ?? {} }
    switch (raw.operation) {
      case "insert": {
        yield* absent(raw.where, at("where"), "insert")
        const records = yield* parseRows(raw.data, at("data"))
        return { ...base, kind: "insert", records, dataIsList: Array.isArray(raw.data) } as const
      }
      case "upsert": {
        const records = yield* parseRows(raw.data, at("data"))
        const where = raw.where === undefined ? undefined : yield* Filter.parse(raw.where, at("where"))
        if (where !== undefined && records.length > 1) {
          return yield* Effect.fail(validation(at("where"), "an upsert with where takes exactly one record"))
        }
        return { ...base, kind: "upsert", records, where, dataIsList: Array.isArray(raw.data) } as const
      }
      case "update": {
        if (raw.where === undefined) {
          return yield* Effect.fail(validation(at("where"), "is required for update (use {} to match every record)"))
        }
        const changes = yield* Update.parse(raw.data, at("data"))
        return { ...base, kind: "update", changes, where: yield* Filter.parse(raw.where, at("where")) } as const
      }
      case "delete": {
        yield* absent(raw.data, at("data"), "delete")
        if (raw.where === undefined) {
          return yield* Effect.fail(validation(at("where"), "is required for delete (use {} to match every record)"))
        }
        return { ...base, kind: "delete", where: yield* Filter.parse(raw.where, at("where")) } as const
      }
      case "select": {
        yield* absent(raw.data, at("data"), "select")
        const where = raw.where === undefined ? Filter.all : yield* Filter.parse(raw.where, at("where"))
        return { ...base, kind: "select", where } as const
      }
    }
  })
