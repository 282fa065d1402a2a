/**
 * `validate`: an operation checked against the capabilities and turned into Cypher fragments, with every
 * identifier checked and every value converted to a driver parameter. Nothing here touches the database.
 */
import { Filter, Identifier, type Operation, type StoreError, type Update } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { storeError } from "./connection.js"
import {
  isRelationshipType,
  isReserved,
  nodeTarget,
  Params,
  quote,
  relationshipTarget,
  selectTail,
  type Target,
  where
} from "./cypher.js"
import { scalarToDriver, userToDriver, ValueError } from "./values.js"

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

export const join = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Date)

/** `Identifier.check`, with the error saying where it happened. */
export const checkName = (entity: string | undefined, value: string, what: string, path: string) =>
  Identifier.check(value, what, path).pipe(
    Effect.mapError((e) => storeError(e.reason, entity, e.message, { path }))
  )

const convert = <A>(entity: string, path: string, f: () => A): Effect.Effect<A, StoreError> =>
  Effect.try({
    try: f,
    catch: (e) =>
      e instanceof ValueError
        ? storeError("Validation", entity, e.message, { path })
        : storeError("Unknown", entity, String(e), { path, cause: e })
  })

const compileFilter = (filter: Filter.Filter, target: Target, prefix: string, path: string) =>
  Effect.gen(function*() {
    for (const [field, at] of Filter.fields(filter)) yield* checkName(target.entity, field, "field name", at)
    const params = new Params(prefix)
    const text = yield* convert(target.entity, path, () => where(filter, target, params))
    return { text, params: params.values }
  })

const matcher = (entity: string, u: unknown, path: string): Effect.Effect<Matcher, StoreError> =>
  Effect.gen(function*() {
    const shape = "an endpoint matcher is { label: \"Label\", match: { property: value, … } }"
    if (!isPlainObject(u) || Object.keys(u).some((k) => k !== "label" && k !== "match")) {
      return yield* storeError("Validation", entity, shape, { path })
    }
    if (typeof u.label !== "string") {
      return yield* storeError("Validation", entity, shape, { path: join(path, "label") })
    }
    const label = yield* checkName(entity, u.label, "label", join(path, "label"))
    const match = u.match ?? {}
    if (!isPlainObject(match)) return yield* storeError("Validation", entity, shape, { path: join(path, "match") })
    for (const [key, value] of Object.entries(match)) {
      const at = join(join(path, "match"), key)
      yield* checkName(entity, key, "property key", at)
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
      yield* checkName(target.entity, key, "property key", at)
      if (endpoints && (key === "from" || key === "to")) {
        ends[key] = yield* matcher(target.entity, value, at)
        continue
      }
      if (isReserved(target.kind, key)) {
        return yield* storeError("Validation", target.entity, `${key} is reserved by the neo4j adapter`, { path: at })
      }
      const converted = yield* convert(target.entity, at, () => userToDriver(value))
      if (converted !== null) props[key] = converted
    }
    if (endpoints && (ends.from === undefined || ends.to === undefined)) {
      return yield* storeError(
        "Validation",
        target.entity,
        "a relationship insert needs data.from and data.to endpoint matchers ({ label, match })",
        { path }
      )
    }
    return { path, props, ...ends }
  })

const compileChanges = (target: Target, changes: ReadonlyArray<Update.Change>): Effect.Effect<Changes, StoreError> =>
  Effect.gen(function*() {
    const params = new Params("c")
    const sets: Array<string> = []
    for (const change of changes) {
      yield* checkName(target.entity, change.field, "field name", change.path)
      if (isReserved(target.kind, change.field)) {
        return yield* storeError("Validation", target.entity, `${change.field} is reserved by the neo4j adapter`, {
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
    const entity = yield* checkName(operation.entity, operation.entity, "entity name", join(path, "from.entity"))
    if (entity.startsWith("_Polysaga")) {
      return yield* storeError("Validation", entity, `${entity} is reserved by the neo4j adapter`, {
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
          return yield* storeError(
            "UnsupportedOperator",
            entity,
            "neo4j cannot upsert relationships (insert or update them instead)",
            { path: join(path, "operation") }
          )
        }
        if (operation.where !== undefined && operation.records.length > 1) {
          return yield* storeError("Validation", entity, "an upsert with where takes exactly one record", {
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
                return yield* storeError("Validation", entity, `the key field ${missing} is missing`, {
                  path: join(at, missing)
                })
              }
              filter = Filter.byKey(Object.fromEntries(key.map((k) => [k, record[k]])))
            } else {
              return yield* storeError(
                "Validation",
                entity,
                "a Neo4j upsert needs where or options.key (nodes have no natural key)",
                { path: join(path, "where") }
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
