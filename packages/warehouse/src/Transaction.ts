/**
 * The seed's `transaction(operations, options)` and its result.
 *
 * @since 0.1.0
 */
import { Limits, Undo } from "@polysaga/store"
import * as Schema from "effect/Schema"

const positiveInt = Schema.Int.pipe(Schema.positive()).annotations({
  message: () => ({ message: "expected a positive integer", override: true })
})

const retries = Schema.Int.pipe(Schema.between(0, 100)).annotations({
  message: () => ({ message: "expected an integer from 0 to 100", override: true })
})

const boolean = Schema.Boolean.annotations({ message: () => ({ message: "expected true or false", override: true }) })

/**
 * Options, with the seed's defaults: `timeout` 30000 ms, `retryOnFailure` false, `maxRetries` 3,
 * `compensateOnTimeout` true. `id` sets the saga id (default: a random UUID). `concurrency` (default 1: one step
 * after another, in operation order) lets up to that many steps whose dependencies are done run at once
 * (`"unbounded"`: all of them).
 *
 * @since 0.1.0
 */
export const TransactionOptions = Schema.Struct({
  timeout: Schema.optionalWith(positiveInt, { default: () => 30_000 }),
  retryOnFailure: Schema.optionalWith(boolean, { default: () => false }),
  maxRetries: Schema.optionalWith(retries, { default: () => 3 }),
  compensateOnTimeout: Schema.optionalWith(boolean, { default: () => true }),
  id: Schema.optional(
    Schema.NonEmptyTrimmedString.pipe(
      Schema.maxLength(200),
      Schema.filter(Limits.isStorableText, { message: () => "must not hold a NUL character or a lone surrogate" })
    )
  ),
  concurrency: Schema.optionalWith(
    Schema.Union(positiveInt, Schema.Literal("unbounded")).annotations({
      message: () => ({ message: "expected a positive integer or \"unbounded\"", override: true })
    }),
    { default: () => 1 }
  )
})

/**
 * @since 0.1.0
 */
export type TransactionOptions = typeof TransactionOptions.Encoded

/**
 * A step's own options (`operation.options`), overriding the transaction's: `timeout` (ms, per attempt),
 * `maxRetries` (retries of transient failures; setting it turns retries on for this step, `0` off). The others
 * are the store's per-operation options (`allowNoMatch`, `detach`, `key`, `limit`).
 *
 * @since 0.1.0
 */
export const StepOptions = Schema.Struct({
  timeout: Schema.optional(positiveInt),
  maxRetries: Schema.optional(retries)
})

/**
 * One step's result: the records it produced (inserted, updated as after the update, deleted as before,
 * selected), how many, and its error if it failed.
 *
 * @since 0.1.0
 */
export const StepResult = Schema.Struct({
  data: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  affectedRows: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String)
})

/**
 * The seed's `ISagaResult`, plus the saga `id` and, when `failed`, the steps left to undo.
 *
 * @since 0.1.0
 */
export const TransactionResult = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal("completed", "compensated", "failed"),
  executionTime: Schema.Number,
  stepResults: Schema.Record({ key: Schema.String, value: StepResult }),
  compensatedSteps: Schema.Array(Schema.String),
  pendingCompensations: Schema.optional(Schema.Array(Schema.String)),
  error: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 */
export type TransactionResult = typeof TransactionResult.Type

/**
 * What a step journals: the source tag, what it produced, and the undo record its compensation applies.
 *
 * @since 0.1.0
 */
export const StepOutcome = Schema.Struct({
  tag: Schema.String,
  records: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  affected: Schema.Number,
  undo: Undo.UndoRecord
})

/**
 * @since 0.1.0
 */
export type StepOutcome = typeof StepOutcome.Type

/**
 * A value taken at run time from an earlier step's result: `"<stepId>.data.<i>.<field>"` (a record it produced)
 * or `"<stepId>.affectedRows"`. It may stand for any value in `data` or `where`; the step then depends on
 * `stepId`, which must come earlier in the list.
 *
 * @since 0.1.0
 * @category input
 */
export interface Ref {
  readonly $ref: `${string}.${string}`
}

/**
 * @since 0.1.0
 * @category input
 */
export type Scalar = string | number | boolean | null | Date

type Letter =
  | "a"
  | "b"
  | "c"
  | "d"
  | "e"
  | "f"
  | "g"
  | "h"
  | "i"
  | "j"
  | "k"
  | "l"
  | "m"
  | "n"
  | "o"
  | "p"
  | "q"
  | "r"
  | "s"
  | "t"
  | "u"
  | "v"
  | "w"
  | "x"
  | "y"
  | "z"
type Digit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"

/**
 * A field name as the stores accept it (an identifier): it starts with a letter or `_`, so an operator
 * (`$gte`) written where a field goes does not compile.
 *
 * @since 0.1.0
 * @category input
 */
export type FieldName = `${Letter | Uppercase<Letter> | "_"}${string}`

/**
 * A key of a nested object value: it may not start with `$` (that would read as an operator).
 *
 * @since 0.1.0
 * @category input
 */
export type NestedKey = `${Letter | Uppercase<Letter> | Digit | "_" | "-"}${string}`

/**
 * A value a record field may hold: JSON values and dates, or a `$ref`.
 *
 * @since 0.1.0
 * @category input
 */
export type FieldValue =
  | Scalar
  | Ref
  | ReadonlyArray<FieldValue>
  | { readonly [key: NestedKey]: FieldValue }

/**
 * A record to insert or upsert: plain values (no operators), `$ref`s allowed.
 *
 * @since 0.1.0
 * @category input
 */
export type Row = { readonly [field: string]: FieldValue }

type Ordered = string | number | Date

/**
 * The comparison operators of one field (several are ANDed). Operands may be `$ref`s.
 *
 * @since 0.1.0
 * @category input
 */
export interface Comparison {
  readonly $eq?: Scalar | Ref
  readonly $ne?: Scalar | Ref
  readonly $gt?: Ordered | Ref
  readonly $gte?: Ordered | Ref
  readonly $lt?: Ordered | Ref
  readonly $lte?: Ordered | Ref
  readonly $in?: ReadonlyArray<Exclude<Scalar, null> | Ref> | Ref
  readonly $nin?: ReadonlyArray<Exclude<Scalar, null> | Ref> | Ref
  readonly $contains?: Exclude<Scalar, null> | Ref
  readonly $like?: string | Ref
  readonly $ilike?: string | Ref
  readonly $startsWith?: string | Ref
  readonly $endsWith?: string | Ref
  readonly $null?: boolean
  readonly $exists?: boolean
  /** An array field holding every listed value. */
  readonly $containsAll?: ReadonlyArray<Exclude<Scalar, null> | Ref> | Ref
  /** An array field holding at least one listed value. */
  readonly $containsAny?: ReadonlyArray<Exclude<Scalar, null> | Ref> | Ref
  /** A pattern of the safe subset (see `Filter.regex` in `@polysaga/store`); written out, never a `$ref`. */
  readonly $regex?: string
}

/**
 * A vector search on a select (Chroma): the `topK` nearest records whose similarity (`1 - distance`) is at least
 * `threshold`, or the records within `maxDistance`; nearest first, each with its `distance`.
 *
 * @since 0.1.0
 * @category input
 */
export type VectorSearch =
  | {
    readonly $similar: { readonly vector: ReadonlyArray<number>; readonly topK?: number; readonly threshold?: number }
  }
  | {
    readonly $near: { readonly vector: ReadonlyArray<number>; readonly maxDistance: number; readonly topK?: number }
  }

/**
 * A select's `where`: a `Where`, and at its top level a field may hold one vector search instead of a condition.
 *
 * @since 0.1.0
 * @category input
 */
export type SelectWhere =
  & { readonly [field: FieldName]: Condition | VectorSearch }
  & {
    readonly $and?: ReadonlyArray<Where>
    readonly $or?: ReadonlyArray<Where>
    readonly $not?: Where
  }

/**
 * One key of a select's order (`order` defaults to `ASC`; null values sort first in `ASC`, last in `DESC`).
 *
 * @since 0.1.0
 * @category input
 */
export interface OrderBy {
  readonly field: string
  readonly order?: "ASC" | "DESC"
}

/**
 * A field's condition: a value (`$eq`), a `$ref`, or an object of comparison operators.
 *
 * @since 0.1.0
 * @category input
 */
export type Condition = Scalar | Ref | Comparison

/**
 * A `where`: fields and their conditions (ANDed), and the logical operators.
 *
 * @since 0.1.0
 * @category input
 */
export type Where =
  & { readonly [field: FieldName]: Condition }
  & {
    readonly $and?: ReadonlyArray<Where>
    readonly $or?: ReadonlyArray<Where>
    readonly $not?: Where
  }

/**
 * One field's change in an `update`: a value sets it, or one update operator.
 *
 * @since 0.1.0
 * @category input
 */
export type Change =
  | FieldValue
  | { readonly $increment: number | Ref }
  | { readonly $decrement: number | Ref }
  | { readonly $multiply: number | Ref }
  | { readonly $push: FieldValue }
  | { readonly $pull: FieldValue }

/**
 * Where an operation writes. `type` completes to `"database" | "graph" | "vector"` but also takes a plain
 * `string`: TypeScript widens it to `string` in objects built by a callback (the seed's
 * `...order.items.map(item => ({ … }))`), which must compile as written; it is checked at run time
 * (`VALIDATION_ERROR` / `SOURCE_TYPE_MISMATCH` with its path).
 *
 * @since 0.1.0
 * @category input
 */
export interface From {
  readonly type: "database" | "graph" | "vector" | (string & {})
  readonly tag: string
  readonly entity: string
}

/**
 * An operation's own options: the step's (`timeout`, `maxRetries`) and the store's (`allowNoMatch` for an
 * `update` / `delete` that may match nothing, `detach` for a graph delete, `key` for an upsert, `limit` for a
 * select).
 *
 * @since 0.1.0
 * @category input
 */
export interface OperationOptions {
  readonly timeout?: number
  readonly maxRetries?: number
  readonly allowNoMatch?: boolean
  readonly detach?: boolean
  readonly key?: readonly [string, ...Array<string>]
  readonly limit?: number
}

interface Common {
  /** The step id (an identifier, unique in the transaction; default `step_N`). */
  readonly id?: string
  readonly from: From
  /** Steps (by id) that must be done before this one (`$ref`s add theirs). */
  readonly dependsOn?: ReadonlyArray<string>
  readonly options?: OperationOptions
}

/**
 * One operation of `transaction`, discriminated on `operation`: a typo in the kind, the source type, an
 * operator or an option does not compile.
 *
 * @since 0.1.0
 * @category input
 */
export type Operation =
  | (Common & { readonly operation: "insert"; readonly data: Row | ReadonlyArray<Row> })
  | (Common & { readonly operation: "upsert"; readonly data: Row | ReadonlyArray<Row>; readonly where?: Where })
  | (Common & {
    readonly operation: "update"
    readonly data: { readonly [field: string]: Change }
    readonly where: Where
  })
  | (Common & { readonly operation: "delete"; readonly where: Where })
  | (Common & {
    readonly operation: "select"
    readonly where?: SelectWhere
    /** The fields each record returns (the store's key is always returned too). */
    readonly fields?: ReadonlyArray<string>
    readonly orderBy?: ReadonlyArray<OrderBy>
    /** At most this many records (or `options.limit`; not both). */
    readonly limit?: number
    /** Skip this many records of the order first (needs `orderBy`; at most the source's bound). */
    readonly offset?: number
  })

const refPattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}\.(data(\.[^.]+)*|affectedRows)$/

/**
 * The JSON form of the input, as Schemas — what the HTTP API documents in its OpenAPI schema (JSON has no
 * dates: they are ISO strings). The warehouse itself checks operations with the store's parser; these describe
 * the same shape as the `Operation` type.
 *
 * @since 0.1.0
 * @category json
 */
export const RefJson = Schema.Struct({
  $ref: Schema.String.pipe(Schema.pattern(refPattern))
}).annotations({
  identifier: "Ref",
  description: "A value taken at run time from an earlier step's result: \"<stepId>.data.<index>.<field>\" or " +
    "\"<stepId>.affectedRows\". The step then depends on <stepId>, which must come earlier in the list.",
  examples: [{ $ref: "createOrder.data.0.id" }]
})

const ScalarJson = Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null)
const ValueJson = Schema.Union(ScalarJson, RefJson)
const OrderedJson = Schema.Union(Schema.String, Schema.Number, RefJson)
const TextJson = Schema.Union(Schema.String, RefJson)
const NonEmptyListJson = Schema.Union(
  Schema.NonEmptyArray(Schema.Union(Schema.String, Schema.Number, Schema.Boolean, RefJson)),
  RefJson
)
const ListJson = Schema.Union(
  Schema.Array(Schema.Union(Schema.String, Schema.Number, Schema.Boolean, RefJson)),
  RefJson
)

/**
 * @since 0.1.0
 * @category json
 */
export const ComparisonJson = Schema.Struct({
  $eq: Schema.optional(ValueJson),
  $ne: Schema.optional(ValueJson),
  $gt: Schema.optional(OrderedJson),
  $gte: Schema.optional(OrderedJson),
  $lt: Schema.optional(OrderedJson),
  $lte: Schema.optional(OrderedJson),
  $in: Schema.optional(ListJson),
  $nin: Schema.optional(ListJson),
  $contains: Schema.optional(ValueJson),
  $like: Schema.optional(TextJson),
  $ilike: Schema.optional(TextJson),
  $startsWith: Schema.optional(TextJson),
  $endsWith: Schema.optional(TextJson),
  $null: Schema.optional(Schema.Boolean),
  $exists: Schema.optional(Schema.Boolean),
  $containsAll: Schema.optional(NonEmptyListJson),
  $containsAny: Schema.optional(NonEmptyListJson),
  $regex: Schema.optional(
    Schema.String.pipe(Schema.maxLength(256)).annotations({
      description: "A pattern of the safe subset: literal characters, ., escaped metacharacters, classes with " +
        "ranges in a-z / A-Z / 0-9, quantifiers ? * + {n} {n,} {n,m} (counts ≤ 100), a leading ^ and trailing $; " +
        "at most one unbounded quantifier, only with ^; no groups, alternation, \\d \\w \\s \\b or flags. " +
        "Not on Chroma."
    })
  )
}).annotations({
  identifier: "Comparison",
  description: "Comparison operators on one field, ANDed. $like/$ilike use SQL patterns (% and _); a comparison " +
    "on a null or missing field is false, except $ne and $nin. $containsAll / $containsAny match an array field " +
    "holding every / some listed value."
})

const VectorJson = Schema.NonEmptyArray(Schema.Number).annotations({ description: "The query vector" })

/**
 * @since 0.1.0
 * @category json
 */
export const VectorSearchJson = Schema.Union(
  Schema.Struct({
    $similar: Schema.Struct({
      vector: VectorJson,
      topK: Schema.optional(positiveInt.annotations({ description: "at most this many (≤ the bound)" })),
      threshold: Schema.optional(Schema.Number.annotations({ description: "the least similarity, 1 - distance" }))
    })
  }),
  Schema.Struct({
    $near: Schema.Struct({
      vector: VectorJson,
      maxDistance: Schema.NonNegative.annotations({ description: "the greatest distance" }),
      topK: Schema.optional(positiveInt)
    })
  })
).annotations({
  identifier: "VectorSearch",
  description: "A vector search (Chroma selects only, at the top level of where): nearest first, each record " +
    "with its distance. Other sources refuse it before the first write.",
  examples: [{ $similar: { vector: [0.1, 0.2, 0.3], topK: 5, threshold: 0.8 } }]
})

const ConditionJson = Schema.Union(ScalarJson, RefJson, ComparisonJson).annotations({
  identifier: "Condition",
  description: "A value (equality), a $ref, or an object of comparison operators"
})

/**
 * The JSON form of a `where` (see `WhereJson`).
 *
 * @since 0.1.0
 * @category json
 */
export interface WhereJsonType {
  readonly $and?: ReadonlyArray<WhereJsonType>
  readonly $or?: ReadonlyArray<WhereJsonType>
  readonly $not?: WhereJsonType
  readonly [field: string]: unknown
}

/**
 * @since 0.1.0
 * @category json
 */
export const WhereJson: Schema.Schema<WhereJsonType> = Schema.Struct(
  {
    $and: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<WhereJsonType> => WhereJson))),
    $or: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<WhereJsonType> => WhereJson))),
    $not: Schema.optional(Schema.suspend((): Schema.Schema<WhereJsonType> => WhereJson))
  },
  Schema.Record({ key: Schema.String, value: ConditionJson })
  // the index signature's type and the logical operators' do not unify in TypeScript; the JSON shape is exact
).pipe((schema) => schema as unknown as Schema.Schema<WhereJsonType>).annotations({
  identifier: "Where",
  description: "Fields (identifiers) and their conditions, ANDed; $and / $or / $not combine filters. {} matches " +
    "every record (bounded by the source's maxRecordsPerOperation).",
  examples: [{ productId: { $eq: "p1" }, quantity: { $gte: 1 } }]
})

/**
 * A select's `where`: a `Where` whose top-level fields may each hold a vector search.
 *
 * @since 0.1.0
 * @category json
 */
export const SelectWhereJson: Schema.Schema<WhereJsonType> = Schema.Struct(
  {
    $and: Schema.optional(Schema.Array(WhereJson)),
    $or: Schema.optional(Schema.Array(WhereJson)),
    $not: Schema.optional(WhereJson)
  },
  Schema.Record({ key: Schema.String, value: Schema.Union(ConditionJson, VectorSearchJson) })
).pipe((schema) => schema as unknown as Schema.Schema<WhereJsonType>).annotations({
  identifier: "SelectWhere",
  description: "A Where whose top-level fields may each hold a vector search ($similar / $near)"
})

const FieldJson = Schema.Unknown.annotations({
  identifier: "FieldValue",
  description: "A JSON value (object keys may not start with $ or contain .), or a $ref",
  jsonSchema: {
    anyOf: [
      { type: "string" },
      { type: "number" },
      { type: "boolean" },
      { type: "null" },
      { type: "array" },
      { type: "object", propertyNames: { pattern: "^[^$.][^.]*$" } }
    ]
  }
})

const RowJson = Schema.Record({ key: Schema.String, value: Schema.Union(RefJson, FieldJson) }).annotations({
  identifier: "Row",
  description: "A record to write: plain values (no operators) or $refs"
})

const DataJson = Schema.Union(RowJson, Schema.Array(RowJson).pipe(Schema.minItems(1))).annotations({
  description: "One record, or an array of records (a batch: one step, undone together, at most the source's " +
    "maxRecordsPerOperation)"
})

const number = Schema.Union(Schema.Number, RefJson)

const ChangeJson = Schema.Union(
  RefJson,
  Schema.Struct({ $increment: number }),
  Schema.Struct({ $decrement: number }),
  Schema.Struct({ $multiply: number }),
  Schema.Struct({ $push: FieldJson }),
  Schema.Struct({ $pull: FieldJson }),
  FieldJson
).annotations({
  identifier: "Change",
  description: "A value sets the field; or one of $increment, $decrement (undone by the inverse), $multiply, " +
    "$push, $pull"
})

const FromJson = Schema.Struct({
  type: Schema.Literal("database", "graph", "vector"),
  tag: Schema.String.annotations({ description: "A configured source's tag" }),
  entity: Schema.String.annotations({ description: "Table, collection, label or Chroma collection (an identifier)" })
}).annotations({ identifier: "From" })

const OperationOptionsJson = Schema.Struct({
  timeout: Schema.optional(positiveInt.annotations({ description: "ms per attempt of this step" })),
  maxRetries: Schema.optional(
    retries.annotations({ description: "retries of transient failures of this step (turns retries on; 0 off)" })
  ),
  allowNoMatch: Schema.optional(
    Schema.Boolean.annotations({ description: "update/delete: matching nothing succeeds with 0 rows" })
  ),
  detach: Schema.optional(Schema.Boolean.annotations({ description: "graph delete: also its relationships" })),
  key: Schema.optional(
    Schema.NonEmptyArray(Schema.String).annotations({ description: "upsert: the fields identifying the record" })
  ),
  limit: Schema.optional(positiveInt.annotations({ description: "select: at most this many records" }))
}).annotations({ identifier: "OperationOptions" })

const common = {
  id: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)).annotations({
      description: "The step id (unique in the transaction; default step_N)"
    })
  ),
  from: FromJson,
  dependsOn: Schema.optional(
    Schema.Array(Schema.String).annotations({
      description: "Step ids that must be done before this one ($refs add theirs); no cycles"
    })
  ),
  options: Schema.optional(OperationOptionsJson)
}

/**
 * One operation as JSON, discriminated on `operation`.
 *
 * @since 0.1.0
 * @category json
 */
export const OperationJson = Schema.Union(
  Schema.Struct({ operation: Schema.Literal("insert"), ...common, data: DataJson }),
  Schema.Struct({ operation: Schema.Literal("upsert"), ...common, data: DataJson, where: Schema.optional(WhereJson) }),
  Schema.Struct({
    operation: Schema.Literal("update"),
    ...common,
    data: Schema.Record({ key: Schema.String, value: ChangeJson }),
    where: WhereJson
  }),
  Schema.Struct({ operation: Schema.Literal("delete"), ...common, where: WhereJson }),
  Schema.Struct({
    operation: Schema.Literal("select"),
    ...common,
    where: Schema.optional(SelectWhereJson),
    fields: Schema.optional(
      Schema.NonEmptyArray(Schema.String).pipe(Schema.maxItems(100)).annotations({
        description: "The fields each record returns (the source's key is always returned too)"
      })
    ),
    orderBy: Schema.optional(
      Schema.NonEmptyArray(Schema.Struct({
        field: Schema.String,
        order: Schema.optional(Schema.Literal("ASC", "DESC").annotations({ description: "default ASC" }))
      })).pipe(Schema.maxItems(8)).annotations({
        description: "The order, by the first field then the next; null first in ASC, last in DESC (not on Chroma)"
      })
    ),
    limit: Schema.optional(positiveInt.annotations({ description: "At most this many records (or options.limit)" })),
    offset: Schema.optional(
      Schema.NonNegativeInt.annotations({
        description: "Skip this many records of the order first (needs orderBy; at most the source's bound)"
      })
    )
  })
).annotations({ identifier: "Operation" })
