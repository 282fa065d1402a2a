/**
 * The adapter's own checks of an operation. The conformance suite (and any caller) may hand `execute` an
 * operation that never went through `Operation.parse`, so every identifier, operator and value is checked
 * here again before anything is compiled: nothing from `data` or `where` can become a `$`-operator, a dotted
 * path or a BSON type tag.
 */
import { Filter, Identifier, Operation, StepBarrier, StoreError, type Update } from "@polysaga/store"
import * as Effect from "effect/Effect"

/** The engine name undo records carry. */
export const engine = "mongodb" as const

/** The field that holds the ids of undo records being applied to a document (see `undo.ts`). */
export const markerField = "_polysaga_undo"

/** The step barrier's marker field of the step whose outcome carries this undo id (see `barrier.ts`). */
export const stepField = (undoId: string): string => `_polysaga_step_${StepBarrier.undoMarker(undoId)}`

const compareOperators: ReadonlySet<string> = new Set(Filter.compareOperators)

/** A path inside an operation, e.g. `where.quantity.$gte`. */
export const join = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

export const storeError = (
  reason: StoreError["reason"],
  entity: string | undefined,
  path: string,
  message: string,
  cause?: unknown
): StoreError =>
  new StoreError({
    reason,
    engine,
    entity,
    path: path === "" ? undefined : path,
    message: path === "" ? message : `${path}: ${message}`,
    cause
  })

/** Adds `engine` / `entity` to an error raised by `@polysaga/store` helpers, which know neither. */
export const locate = (entity: string | undefined) => (error: StoreError): StoreError =>
  error.engine !== undefined ? error : new StoreError({
    reason: error.reason,
    message: error.message,
    engine,
    entity,
    path: error.path,
    cause: error.cause
  })

export const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) &&
  (Object.getPrototypeOf(u) === Object.prototype || Object.getPrototypeOf(u) === null)

const isScalar = (u: unknown): boolean =>
  u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date ||
  (typeof u === "number" && Number.isFinite(u))

/**
 * A top-level field name: an identifier, not one of the adapter's `_polysaga…` markers, not `_bsontype` (which the BSON serializer
 * reads as a type tag).
 */
export const checkField = (entity: string, field: string, path: string): Effect.Effect<void, StoreError> =>
  Identifier.check(field, "field name", path).pipe(
    Effect.mapError(locate(entity)),
    Effect.filterOrFail(
      () => !field.startsWith("_polysaga") && field !== "_bsontype",
      () => storeError("InvalidIdentifier", entity, path, `the field name ${JSON.stringify(field)} is reserved`)
    ),
    Effect.asVoid
  )

/**
 * A value a field may hold: JSON values and dates. Nested keys may not be empty, start with `$` (an operator),
 * contain `.` (a path) or be `_bsontype` (a BSON type tag).
 */
export const checkValue = (entity: string, u: unknown, path: string): Effect.Effect<void, StoreError> => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || u instanceof Date) return Effect.void
  if (typeof u === "number") {
    return Number.isFinite(u)
      ? Effect.void
      : Effect.fail(storeError("Validation", entity, path, "numbers must be finite"))
  }
  if (Array.isArray(u)) return Effect.forEach(u, (v, i) => checkValue(entity, v, join(path, i)), { discard: true })
  if (isPlainObject(u)) {
    return Effect.forEach(
      Object.entries(u),
      ([k, v]) =>
        k === "" || k.startsWith("$") || k.includes(".") || k === "_bsontype"
          ? Effect.fail(
            storeError(
              "Validation",
              entity,
              join(path, k),
              `nested key ${JSON.stringify(k)} may not be empty, start with '$', contain '.' or be '_bsontype'`
            )
          )
          : checkValue(entity, v, join(path, k)),
      { discard: true }
    )
  }
  return Effect.fail(storeError("Validation", entity, path, `unsupported value of type ${typeof u}`))
}

const checkRecord = (entity: string, record: unknown, path: string): Effect.Effect<void, StoreError> =>
  isPlainObject(record) && Object.keys(record).length > 0
    ? Effect.forEach(Object.entries(record), ([field, value]) => {
      const at = join(path, field)
      if (field === "_id" && Array.isArray(value)) {
        return Effect.fail(storeError("Validation", entity, at, "_id may not be an array"))
      }
      return Effect.zipRight(checkField(entity, field, at), checkValue(entity, value, at))
    }, { discard: true })
    : Effect.fail(storeError("Validation", entity, path, "a record is an object with at least one field"))

const operand = (entity: string, c: Filter.Compare, path: string): Effect.Effect<void, StoreError> => {
  const ok = (() => {
    switch (c.op) {
      case "eq":
      case "ne":
        return isScalar(c.value)
      case "contains":
        return isScalar(c.value) && c.value !== null
      case "gt":
      case "gte":
      case "lt":
      case "lte":
        return typeof c.value === "string" || c.value instanceof Date ||
          (typeof c.value === "number" && Number.isFinite(c.value))
      case "in":
      case "nin":
        return Array.isArray(c.value) && c.value.every((v) => isScalar(v) && v !== null)
      case "like":
      case "ilike":
      case "startsWith":
      case "endsWith":
        return typeof c.value === "string"
      case "regex":
        return typeof c.value === "string" && typeof Filter.regex(c.value) !== "string"
      case "null":
      case "exists":
        return typeof c.value === "boolean"
    }
  })()
  return ok ? Effect.void : Effect.fail(storeError("Validation", entity, path, `invalid operand for $${c.op}`))
}

/** Checks every field, operator and operand of a filter. */
export const checkFilter = (entity: string, filter: Filter.Filter, path: string): Effect.Effect<void, StoreError> => {
  switch (filter._tag) {
    case "And":
    case "Or":
      return Array.isArray(filter.filters)
        ? Effect.forEach(filter.filters, (f) => checkFilter(entity, f, path), { discard: true })
        : Effect.fail(storeError("Validation", entity, path, "a logical filter holds an array of filters"))
    case "Not":
      return checkFilter(entity, filter.filter, path)
    case "Compare": {
      const at = join(path, filter.path ?? filter.field)
      if (!compareOperators.has(filter.op)) {
        return Effect.fail(storeError("Validation", entity, at, `unknown filter operator ${JSON.stringify(filter.op)}`))
      }
      return Effect.zipRight(checkField(entity, filter.field, at), operand(entity, filter, at))
    }
    default:
      return Effect.fail(storeError("Validation", entity, path, "unknown filter node"))
  }
}

const checkChange = (entity: string, change: Update.Change, path: string): Effect.Effect<void, StoreError> => {
  const at = join(path, change.path ?? change.field)
  const field = checkField(entity, change.field, at).pipe(
    Effect.filterOrFail(
      () => change.field !== "_id",
      () => storeError("Validation", entity, at, "_id is immutable")
    )
  )
  switch (change.op) {
    case "set":
      return Effect.zipRight(field, checkValue(entity, change.value, at))
    case "increment":
    case "multiply":
      return typeof change.by === "number" && Number.isFinite(change.by)
        ? field
        : Effect.fail(storeError("Validation", entity, at, `$${change.op} takes a finite number`))
    case "push":
      return Effect.zipRight(field, checkValue(entity, change.value, at))
    case "pull":
      return change.value === null
        ? Effect.fail(storeError("Validation", entity, at, "$pull takes a non-null value"))
        : Effect.zipRight(field, checkValue(entity, change.value, at))
    default:
      return Effect.fail(storeError("Validation", entity, at, "unknown update operator"))
  }
}

/**
 * Checks an operation the way `execute` will compile it. `path` prefixes error paths.
 */
export const checkOperation = (operation: Operation.Operation, path: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const entity = operation.entity
    yield* Identifier.check(entity, "entity name", join(path, "from.entity")).pipe(Effect.mapError(locate(undefined)))
    const data = join(path, "data")
    const where = join(path, "where")
    switch (operation.kind) {
      case "insert":
      case "upsert": {
        if (!Array.isArray(operation.records) || operation.records.length === 0) {
          return yield* storeError("Validation", entity, data, "needs at least one record")
        }
        const many = operation.records.length > 1
        yield* Effect.forEach(
          operation.records,
          (r, i) => checkRecord(entity, r, many ? join(data, i) : data),
          { discard: true }
        )
        if (operation.kind === "insert") return
        if (operation.where !== undefined) {
          if (many) {
            return yield* storeError("Validation", entity, where, "an upsert with where takes exactly one record")
          }
          return yield* checkFilter(entity, operation.where, path)
        }
        const key = operation.options.key
        if (key !== undefined) {
          const at = join(path, "options.key")
          yield* Effect.forEach(key, (field, i) => checkField(entity, field, join(at, i)), { discard: true })
          for (const [i, record] of operation.records.entries()) {
            const missing = key.find((field) => record[field] === undefined)
            if (missing !== undefined) {
              return yield* storeError("Validation", entity, many ? join(data, i) : data, `lacks the key ${missing}`)
            }
          }
          return
        }
        const keyless = operation.records.findIndex((r) => r._id === undefined)
        if (keyless >= 0) {
          return yield* storeError(
            "Validation",
            entity,
            many ? join(data, keyless) : data,
            "an upsert needs where, options.key or an _id in each record"
          )
        }
        return
      }
      case "update": {
        if (!Array.isArray(operation.changes) || operation.changes.length === 0) {
          return yield* storeError("Validation", entity, data, "an update needs at least one change")
        }
        const seen = new Set<string>()
        for (const change of operation.changes) {
          yield* checkChange(entity, change, path)
          if (seen.has(change.field)) {
            return yield* storeError("Validation", entity, join(data, change.field), "a field may change only once")
          }
          seen.add(change.field)
        }
        return yield* checkFilter(entity, operation.where, path)
      }
      case "delete":
        return yield* checkFilter(entity, operation.where, path)
      case "select":
        for (const [field, at] of Operation.clauseFields(operation)) yield* checkField(entity, field, join(path, at))
        return yield* checkFilter(entity, operation.where, path)
      default:
        return yield* storeError("Validation", entity, join(path, "operation"), "unknown operation")
    }
  })
