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
  options: Schema.optional(OperationOptions)
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
  | (Base & { readonly kind: "select"; readonly where: Filter })

/**
 * Decodes and parses one raw operation. `path` prefixes error paths (the warehouse passes `operations[2]`).
 * Rules: `insert` and `upsert` need `data` (one record or a non-empty array) and `upsert` takes plain values
 * only; `update` needs `data` (one object of changes) and `where`; `delete` needs `where` and no `data`;
 * `select` takes an optional `where` and no `data`. `where: {}` matches every record (bounded by the store's
 * per-operation limit: past it a select fails with `TooManyRecords` unless it says `options.limit`).
 *
 * @since 0.1.0
 */
export const parse: (input: unknown, path?: string) => Effect.Effect<Operation, StoreError> = internal.parse(
  OperationInput
)

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
