/**
 * What a store can express. The warehouse checks every operation against its store's capabilities before the
 * first write, so an operator a store cannot express is rejected with its path and nothing is written.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Filter from "./Filter.js"
import * as Identifier from "./Identifier.js"
import { join } from "./internal/values.js"
import * as Limits from "./Limits.js"
import {
  clauseFields,
  type Operation,
  type OperationKind,
  recordPath,
  type SelectClause,
  type SourceType
} from "./Operation.js"
import { StoreError } from "./StoreError.js"
import type { UpdateOperator } from "./Update.js"

/**
 * @since 0.1.0
 */
export interface Capabilities {
  /** The source types this store serves (`database`, `graph`, `vector`). */
  readonly sourceTypes: ReadonlyArray<SourceType>
  readonly operations: ReadonlyArray<OperationKind>
  readonly filterOperators: ReadonlyArray<Filter.FilterOperator>
  readonly updateOperators: ReadonlyArray<UpdateOperator>
  /**
   * The most records one operation may write, match or select (so undo records and results stay bounded): more
   * records in `data`, or a filter matching more, fail with `TooManyRecords`; a `select` may say `limit` (at most
   * this bound) to take the first records instead.
   */
  readonly maxRecordsPerOperation: number
  /**
   * The select clauses it runs beyond `where` and `limit` (`fields`, `orderBy`, `offset`, a vector search
   * `similar` / `near`; see `Operation.SelectClauses`); none when absent. A select using another is rejected
   * before anything runs. A select's `offset` is at most `maxRecordsPerOperation`, and so is a vector search's
   * `topK`: a store never reads more than twice the bound for one select.
   */
  readonly selectClauses?: ReadonlyArray<SelectClause> | undefined
}

/**
 * Every filter operator of the model.
 *
 * @since 0.1.0
 */
export const allFilterOperators: ReadonlyArray<Filter.FilterOperator> = [...Filter.compareOperators, "and", "or", "not"]

/**
 * Capabilities of a store that supports every operation and operator of the model, and the select clauses
 * `fields`, `orderBy` and `offset` (not a vector search).
 *
 * @since 0.1.0
 */
export const full = (options: {
  readonly sourceTypes: ReadonlyArray<SourceType>
  readonly maxRecordsPerOperation: number
}): Capabilities => ({
  ...options,
  operations: ["insert", "update", "delete", "upsert", "select"],
  filterOperators: allFilterOperators,
  updateOperators: ["set", "increment", "multiply", "push", "pull"],
  selectClauses: ["fields", "orderBy", "offset"]
})

const unsupported = (engine: string, path: string, message: string) =>
  new StoreError({ reason: "UnsupportedOperator", engine, path, message: `${path}: ${message}` })

/**
 * Fails with `UnsupportedOperator` (naming the path) when `operation` uses something `capabilities` lacks,
 * with `Validation` when its source type is not one the store serves, with `InvalidIdentifier` when its entity
 * or any field (in records, changes or the filter) is not an identifier, and with `TooManyRecords` past the
 * bound (records in `data`, a select's `limit`). It re-checks what `Operation.parse` checked because an `Operation` can be built without it: adapters
 * call it at the start of `execute` as well as in `validate`. `path` prefixes error paths.
 *
 * @since 0.1.0
 */
export const check = (
  engine: string,
  capabilities: Capabilities,
  operation: Operation,
  path = ""
): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    yield* Identifier.check(operation.entity, "entity name", join(path, "from.entity"))
    if ("records" in operation) {
      for (const [i, record] of operation.records.entries()) {
        for (const field of Object.keys(record)) {
          yield* Identifier.check(field, "field name", join(recordPath(operation, i, path), field))
        }
      }
    }
    if (operation.kind === "update") {
      for (const change of operation.changes) {
        yield* Identifier.check(change.field, "field name", join(path, change.path))
      }
    }
    for (const [field, at] of clauseFields(operation)) {
      yield* Identifier.check(field, "field name", join(path, at))
    }
    if ("where" in operation && operation.where !== undefined) {
      // before any recursive walk over it (the adapters' filter compilers)
      if (Filter.depth(operation.where) > Limits.maxWhereDepth) {
        const at = join(path, "where")
        return yield* new StoreError({
          reason: "Validation",
          engine,
          path: at,
          message: `${at}: nests deeper than ${Limits.maxWhereDepth} levels (the limit)`
        })
      }
      for (const [field, at] of Filter.fields(operation.where)) {
        yield* Identifier.check(field, "field name", join(path, at))
      }
    }
    if (!capabilities.sourceTypes.includes(operation.source.type)) {
      const at = join(path, "from.type")
      return yield* new StoreError({
        reason: "Validation",
        engine,
        path: at,
        message: `${at}: ${engine} serves ${capabilities.sourceTypes.join(" / ")} sources, not ${operation.source.type}`
      })
    }
    if (!capabilities.operations.includes(operation.kind)) {
      return yield* unsupported(engine, join(path, "operation"), `${engine} does not support ${operation.kind}`)
    }
    if ("where" in operation && operation.where !== undefined) {
      for (const [op, at] of Filter.operators(operation.where)) {
        if (!capabilities.filterOperators.includes(op)) {
          return yield* unsupported(engine, join(path, at), `${engine} cannot express the filter operator $${op}`)
        }
      }
    }
    if (operation.kind === "select" && operation.clauses !== undefined) {
      const clauses = operation.clauses
      for (const clause of Object.keys(clauses) as Array<SelectClause>) {
        if (clauses[clause] === undefined || (capabilities.selectClauses ?? []).includes(clause)) continue
        const search = clause === "similar" || clause === "near" ? clauses[clause] : undefined
        const at = join(path, search?.path ?? clause)
        const name = search === undefined ? `the select clause ${clause}` : `a vector search ($${clause})`
        return yield* unsupported(engine, at, `${engine} cannot run ${name}`)
      }
      const bound = (what: string, at: string, n: number | undefined) =>
        n !== undefined && n > capabilities.maxRecordsPerOperation
          ? Effect.fail(
            new StoreError({
              reason: "TooManyRecords",
              engine,
              path: join(path, at),
              message: `${
                join(path, at)
              }: ${what} of ${n} exceeds the per-operation limit of ${engine}, ${capabilities.maxRecordsPerOperation}`
            })
          )
          : Effect.void
      yield* bound("an offset", "offset", clauses.offset)
      for (const search of [clauses.similar, clauses.near]) {
        if (search !== undefined) yield* bound("a topK", join(search.path, "topK"), search.topK)
      }
    }
    if (operation.kind === "update") {
      for (const change of operation.changes) {
        if (!capabilities.updateOperators.includes(change.op)) {
          const name = change.op === "set" ? "a plain set" : `$${change.op}`
          return yield* unsupported(engine, join(path, change.path), `${engine} cannot express ${name}`)
        }
      }
    }
    if ("records" in operation && operation.records.length > capabilities.maxRecordsPerOperation) {
      const at = join(path, "data")
      return yield* new StoreError({
        reason: "TooManyRecords",
        engine,
        path: at,
        message: `${at}: ${operation.records.length} records exceed the limit of ${capabilities.maxRecordsPerOperation}`
      })
    }
    const limit = operation.options.limit
    if (operation.kind === "select" && limit !== undefined && limit > capabilities.maxRecordsPerOperation) {
      const at = join(path, "options.limit")
      return yield* new StoreError({
        reason: "TooManyRecords",
        engine,
        path: at,
        message: `${at}: a limit of ${limit} exceeds the per-operation limit of ${capabilities.maxRecordsPerOperation}`
      })
    }
  })
