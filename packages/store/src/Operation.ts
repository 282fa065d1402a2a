/**
 * The operation model of the warehouse API: `{ operation, from: { type, tag, entity }, data, where, options }`,
 * decoded with Effect Schema and parsed into a form adapters compile.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Hash from "node:crypto"
import type { Filter } from "./Filter.js"
import * as internal from "./internal/operation.js"
import * as values from "./internal/values.js"
import type { StoreError } from "./StoreError.js"
import type { Change } from "./Update.js"

/**
 * @since 0.1.0
 */
export const OperationKind = Schema.Literal("insert", "update", "delete", "upsert", "select")

/**
 * @since 0.1.0
 */
export type OperationKind = typeof OperationKind.Type

/**
 * @since 0.1.0
 */
export const SourceType = Schema.Literal("database", "graph", "vector")

/**
 * @since 0.1.0
 */
export type SourceType = typeof SourceType.Type

/**
 * Per-operation options (an extension of the seed's shape):
 * - `allowNoMatch`: an `update` / `delete` whose `where` matches nothing succeeds with 0 affected records
 *   instead of failing with `NoMatch`;
 * - `detach`: (graph) a node delete also deletes its relationships, which its undo restores;
 * - `key`: (upsert) the fields that identify the record, when `where` is not given and the store's own key
 *   is not in `data`;
 * - `limit`: (select) the first this many records (at most the store's `maxRecordsPerOperation`). A select
 *   without `limit` whose filter matches more than the bound fails with `TooManyRecords`.
 *
 * @since 0.1.0
 */
export const OperationOptions = Schema.Struct({
  allowNoMatch: Schema.optional(Schema.Boolean),
  detach: Schema.optional(Schema.Boolean),
  key: Schema.optional(Schema.NonEmptyArray(Schema.String)),
  limit: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * @since 0.1.0
 */
export type OperationOptions = typeof OperationOptions.Type

/**
 * The raw operation as users write it. `data` and `where` are checked further by {@link parse}.
 *
 * @since 0.1.0
 */
export const OperationInput = Schema.Struct({
  operation: OperationKind,
  from: Schema.Struct({
    type: SourceType,
    tag: Schema.NonEmptyTrimmedString,
    entity: Schema.NonEmptyTrimmedString
  }),
  data: Schema.optional(
    Schema.Union(
      Schema.Record({ key: Schema.String, value: Schema.Unknown }),
      Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
    )
  ),
  where: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  options: Schema.optional(OperationOptions),
  /** select: the fields each record returns (the store's own key is always returned too). */
  fields: Schema.optional(Schema.NonEmptyArray(Schema.String).pipe(Schema.maxItems(100))),
  /** select: the order, by the first field, then the next. */
  orderBy: Schema.optional(
    Schema.NonEmptyArray(Schema.Struct({
      field: Schema.String,
      order: Schema.optionalWith(Schema.Literal("ASC", "DESC"), { default: () => "ASC" as const })
    })).pipe(Schema.maxItems(8))
  ),
  /** select: at most this many records (the same as `options.limit`; give one of them). */
  limit: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** select: skip this many records of the order first (needs `orderBy`). */
  offset: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})

/**
 * @since 0.1.0
 */
export type OperationInput = typeof OperationInput.Encoded

/**
 * A record to write: field names are identifiers, values JSON values or dates.
 *
 * @since 0.1.0
 */
export type Row = Readonly<Record<string, unknown>>

interface Base {
  readonly source: { readonly type: SourceType; readonly tag: string }
  readonly entity: string
  readonly options: OperationOptions
}

/**
 * A parsed operation.
 *
 * @since 0.1.0
 */
export type Operation =
  | (Base & { readonly kind: "insert"; readonly records: ReadonlyArray<Row>; readonly dataIsList?: boolean })
  | (Base & { readonly kind: "update"; readonly changes: ReadonlyArray<Change>; readonly where: Filter })
  | (Base & { readonly kind: "delete"; readonly where: Filter })
  | (Base & {
    readonly kind: "upsert"
    readonly records: ReadonlyArray<Row>
    readonly where: Filter | undefined
    readonly dataIsList?: boolean
  })
  | (Base & { readonly kind: "select"; readonly where: Filter; readonly clauses?: SelectClauses | undefined })

/**
 * One key of a select's order: `null` and missing values sort before every value in `ASC` and after them in
 * `DESC`; strings by code point (PostgreSQL with `COLLATE "C"`), numbers, dates and booleans (`false` first) by
 * value. Values of different types, and arrays, sort in an order each store chooses: order by a field of one
 * scalar type.
 *
 * @since 0.1.0
 */
export interface OrderBy {
  readonly field: string
  readonly order: "ASC" | "DESC"
}

/**
 * A vector search, written in a select's `where` as `{ <field>: { $similar: { vector, topK, threshold } } }`
 * (the `topK` nearest records whose similarity, `1 - distance`, is at least `threshold`) or
 * `{ <field>: { $near: { vector, maxDistance, topK } } }` (the records within `maxDistance`, nearest first). The
 * records come back nearest first, each with its `distance`. `path` is where it was written.
 *
 * @since 0.1.0
 */
export interface VectorSearch {
  readonly field: string
  readonly vector: ReadonlyArray<number>
  readonly topK?: number | undefined
  readonly threshold?: number | undefined
  readonly maxDistance?: number | undefined
  readonly path: string
}

/**
 * What a select says beyond `where` and `limit` (`options.limit`): `fields`, `orderBy`, `offset` (as the query
 * reference writes them) and a vector search (`similar` / `near`). Each is opt-in per store: a store that does
 * not declare it (`Capabilities.selectClauses`) rejects a select using it before anything runs.
 *
 * @since 0.1.0
 */
export interface SelectClauses {
  readonly fields?: ReadonlyArray<string> | undefined
  readonly orderBy?: ReadonlyArray<OrderBy> | undefined
  readonly offset?: number | undefined
  readonly similar?: VectorSearch | undefined
  readonly near?: VectorSearch | undefined
}

/**
 * @since 0.1.0
 */
export type SelectClause = keyof SelectClauses

/**
 * Every select clause of the model.
 *
 * @since 0.1.0
 */
export const selectClauses: ReadonlyArray<SelectClause> = ["fields", "orderBy", "offset", "similar", "near"]

/**
 * The reference semantics of a select without a vector search over `records` (an entity's records): those
 * matching `where`, ordered by `orderBy` (see {@link OrderBy}; ties keep the input order), `offset` skipped, at
 * most `options.limit` kept, each reduced to the `fields` it has. Used by the conformance suite and in-memory
 * stores.
 *
 * @since 0.1.0
 */
export const select: (
  operation: Extract<Operation, { readonly kind: "select" }>,
  records: ReadonlyArray<Row>
) => ReadonlyArray<Row> = internal.select

/**
 * The fields a select's clauses name (`fields`, `orderBy`, a vector search), with the path of each: stores with a
 * catalog check them like the fields of `where`.
 *
 * @since 0.1.0
 */
export const clauseFields = (operation: Operation): ReadonlyArray<readonly [field: string, path: string]> => {
  if (operation.kind !== "select" || operation.clauses === undefined) return []
  const { fields = [], near, orderBy = [], similar } = operation.clauses
  return [
    ...fields.map((f, i) => [f, `fields[${i}]`] as const),
    ...orderBy.map((o, i) => [o.field, `orderBy[${i}].field`] as const),
    ...[similar, near].flatMap((v) => v === undefined ? [] : [[v.field, v.path] as const])
  ]
}

/**
 * Decodes and parses one raw operation. `path` prefixes error paths (the warehouse passes `operations[2]`).
 * Rules: `insert` and `upsert` need `data` (one record or a non-empty array) and `upsert` takes plain values
 * only; `update` needs `data` (one object of changes) and `where`; `delete` needs `where` and no `data`;
 * `select` takes an optional `where` and no `data`. `where: {}` matches every record (bounded by the store's
 * per-operation limit: past it a select fails with `TooManyRecords` unless it says `options.limit`). Only a
 * `select` takes `fields`, `orderBy`, `limit` (or `options.limit`, not both) and `offset` (with `orderBy`), and
 * a vector search (`$similar` / `$near`, at the top level of its `where`, one per select).
 *
 * @since 0.1.0
 */
export const parse: (input: unknown, path?: string) => Effect.Effect<Operation, StoreError> = internal.parse(
  OperationInput
)

/**
 * A path inside an operation, as errors name it: `joinPath("where", "quantity")` is `where.quantity`,
 * `joinPath("data", 1)` is `data[1]`, `joinPath("", "where")` is `where`.
 *
 * @since 0.1.0
 * @category paths
 */
export const joinPath: (path: string, key: string | number) => string = values.join

/**
 * Whether `u` is an object as the operation model reads one (a record of `data`, a filter, an options object):
 * not an array, not a `Date`, with `Object.prototype` or no prototype (class instances, `Map`s and the like are
 * not). Adapters use the same rule for the values they convert.
 *
 * @since 0.1.0
 * @category values
 */
export const isPlainObject: (u: unknown) => u is Record<string, unknown> = values.isPlainObject

/**
 * The path of the `i`-th record of an insert or upsert, as the user wrote it: `data` when `data` was one
 * object, `data[i]` when it was an array. `path` prefixes it.
 *
 * @since 0.1.0
 */
export const recordPath = (operation: Operation, i: number, path = ""): string => {
  const data = path === "" ? "data" : `${path}.data`
  return "dataIsList" in operation && operation.dataIsList === false ? data : `${data}[${i}]`
}

const stable = (u: unknown): unknown =>
  u instanceof Date
    ? { $date: u.toISOString() }
    : Array.isArray(u)
    ? u.map(stable)
    : typeof u === "object" && u !== null
    ? Object.fromEntries(Object.keys(u).sort().map((k) => [k, stable((u as Record<string, unknown>)[k])]))
    : u

/**
 * A digest of what an operation does (kind, source, entity, records, changes, filter, options), stable across
 * processes. Step barriers keep it with a step, so a step id that comes back with another operation (a saga id
 * reused for a different transaction) is refused instead of answered with the other operation's outcome.
 *
 * @since 0.1.0
 */
export const fingerprint = (operation: Operation): string => {
  // where an operator came from (`operations[2].where…`) is not what it does
  const withoutPaths = (filter: Filter): unknown => {
    switch (filter._tag) {
      case "And":
      case "Or":
        return { _tag: filter._tag, filters: filter.filters.map(withoutPaths) }
      case "Not":
        return { _tag: "Not", filter: withoutPaths(filter.filter) }
      case "Compare":
        return { field: filter.field, op: filter.op, value: filter.value }
    }
  }
  const { dataIsList: _, ...rest } = operation as Operation & { readonly dataIsList?: boolean }
  const what = {
    ...rest,
    ...("where" in operation && operation.where !== undefined ? { where: withoutPaths(operation.where) } : {}),
    ...(operation.kind === "update" ? { changes: operation.changes.map(({ path: _, ...change }) => change) } : {})
  }
  return Hash.createHash("sha256").update(JSON.stringify(stable(what))).digest("hex")
}
