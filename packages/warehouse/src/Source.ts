/**
 * Sources by tag: each tag names a store of one type (`database`, `graph`, `vector`).
 *
 * @since 0.1.0
 */
import type { Operation, Store, StoreError } from "@polysaga/store"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { WarehouseError } from "./WarehouseError.js"

/**
 * A source built in code: a tag, its type and the adapter's scoped constructor, e.g.
 * `{ tag: "orders-postgres", type: "database", store: Postgres.make({ url }) }`.
 *
 * @since 0.1.0
 */
export interface SourceDefinition {
  readonly tag: string
  readonly type: Operation.SourceType
  readonly store: Effect.Effect<Store, StoreError, Scope.Scope>
}

/**
 * A source described by configuration (JSON). The adapter package for `engine` is loaded when the warehouse
 * starts, so only the adapters a configuration names need to be installed. `${VAR}` references are not
 * expanded here (the service does that).
 *
 * @since 0.1.0
 */
export const SourceConfig = Schema.Struct({
  tag: Schema.NonEmptyTrimmedString,
  type: Schema.Literal("database", "graph", "vector"),
  engine: Schema.Literal("postgres", "mongodb", "neo4j", "chroma"),
  url: Schema.NonEmptyTrimmedString,
  /** mongodb: the database (required); neo4j and chroma: the database (optional). */
  database: Schema.optional(Schema.NonEmptyTrimmedString),
  /** postgres: the schema (default `public`). */
  schema: Schema.optional(Schema.NonEmptyTrimmedString),
  /** neo4j: the user. */
  user: Schema.optional(Schema.String),
  /** neo4j: the password. */
  password: Schema.optional(Schema.String),
  /** chroma: the tenant. */
  tenant: Schema.optional(Schema.String),
  /** chroma: the auth token. */
  token: Schema.optional(Schema.String),
  /** chroma: the distance function of collections it creates (`l2`, `cosine`, `ip`). */
  distance: Schema.optional(Schema.Literal("l2", "cosine", "ip")),
  /** chroma: the vector dimension every record must have. */
  dimension: Schema.optional(Schema.Int.pipe(Schema.positive())),
  maxRecordsPerOperation: Schema.optional(Schema.Int.pipe(Schema.between(1, 100_000)))
})

/**
 * @since 0.1.0
 */
export type SourceConfig = typeof SourceConfig.Type

/**
 * A source the warehouse can use.
 *
 * @since 0.1.0
 */
export interface Source {
  readonly tag: string
  readonly type: Operation.SourceType
  readonly store: Store
}

/**
 * The registry of sources by tag.
 *
 * @since 0.1.0
 */
export class Sources extends Context.Tag("@polysaga/warehouse/Sources")<Sources, {
  readonly all: ReadonlyArray<Source>
  /** The source with this tag, or `SOURCE_NOT_FOUND` (with `path` when given). */
  readonly get: (tag: string, path?: string) => Effect.Effect<Source, WarehouseError>
}>() {}
