import * as Either from "effect/Either"
import type { StoreError } from "../StoreError.js"
import type { Change } from "../Update.js"
import * as Identifier from "./identifier.js"
import { checkBounds, checkValue, dataBounds, each, equals, isPlainObject, join, validation } from "./values.js"

const operators = ["$increment", "$decrement", "$multiply", "$push", "$pull"] as const

const number = (u: unknown, path: string, op: string): Either.Either<number, StoreError> =>
  typeof u === "number" && Number.isFinite(u)
    ? Either.right(u)
    : Either.left(validation(path, `${op} takes a finite number`))

const parseChange = (field: string, value: unknown, path: string): Either.Either<Change, StoreError> => {
  const keys = isPlainObject(value) ? Object.keys(value) : []
  const dollar = keys.filter((k) => k.startsWith("$"))
  if (dollar.length === 0) {
    return Either.map(checkValue(value, path), (): Change => ({ op: "set", field, value, path }))
  }
  if (dollar.length !== keys.length || keys.length !== 1) {
    return Either.left(validation(path, "an update operator object holds exactly one operator"))
  }
  const key = keys[0]!
  const operand = (value as Record<string, unknown>)[key]
  const at = join(path, key)
  switch (key as typeof operators[number]) {
    case "$increment":
      return Either.map(number(operand, at, key), (by): Change => ({ op: "increment", field, by, path: at }))
    case "$decrement":
      return Either.map(number(operand, at, key), (by): Change => ({ op: "increment", field, by: -by, path: at }))
    case "$multiply":
      return Either.map(number(operand, at, key), (by): Change => ({ op: "multiply", field, by, path: at }))
    case "$push":
      return Either.map(checkValue(operand, at), (): Change => ({ op: "push", field, value: operand, path: at }))
    case "$pull":
      return operand === null
        ? Either.left(validation(at, "$pull takes a non-null value"))
        : Either.map(checkValue(operand, at), (): Change => ({ op: "pull", field, value: operand, path: at }))
    default:
      return Either.left(
        validation(at, `unknown update operator ${JSON.stringify(key)} (known: ${operators.join(", ")})`)
      )
  }
}

/** Parses the changes of an update whose bounds were checked (see `parse`). A plain function (an `Either`). */
export const parseChecked = (data: unknown, path = "data"): Either.Either<ReadonlyArray<Change>, StoreError> => {
  if (!isPlainObject(data)) return Either.left(validation(path, "the data of an update is one object of changes"))
  const entries = Object.entries(data)
  if (entries.length === 0) return Either.left(validation(path, "an update needs at least one change"))
  return each(entries, ([field, value]) => {
    const at = join(path, field)
    return Either.flatMap(Identifier.check(field, "field name", at), () => parseChange(field, value, at))
  })
}

export const parse = (data: unknown, path = "data"): Either.Either<ReadonlyArray<Change>, StoreError> =>
  Either.flatMap(checkBounds(data, path, dataBounds), () => parseChecked(data, path))

export const apply = (
  changes: ReadonlyArray<Change>,
  record: Readonly<Record<string, unknown>>
): Record<string, unknown> => {
  const next: Record<string, unknown> = { ...record }
  for (const change of changes) {
    const current = next[change.field] ?? null
    switch (change.op) {
      case "set":
        next[change.field] = change.value
        break
      case "increment":
        next[change.field] = (current as number) + change.by
        break
      case "multiply":
        next[change.field] = (current as number) * change.by
        break
      case "push":
        next[change.field] = [...(Array.isArray(current) ? current : []), change.value]
        break
      case "pull":
        next[change.field] = (Array.isArray(current) ? current : []).filter((v) => !equals(v, change.value))
        break
    }
  }
  return next
}
