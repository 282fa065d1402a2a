/**
 * An adapter's descriptor: the engine's name, the source types it serves, its configuration as JSON gives it and
 * how to build a store from that configuration. Every adapter package exports one as `adapter`; the warehouse and
 * the service read configured sources through it (`{ "engine": "postgres", "url": "…" }` loads
 * `@polysaga/postgres` and decodes the rest of the entry with its `config`), so adding an engine adds a package
 * and touches no code in either.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { SourceType } from "./Operation.js"
import type { Store } from "./Store.js"
import type { StoreError } from "./StoreError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Adapter<Config = any> {
  /** The engine's name, as stores and undo records carry it (`postgres`). */
  readonly name: string
  /** The source types it serves (`database`, `graph`, `vector`). */
  readonly sourceTypes: ReadonlyArray<SourceType>
  /**
   * The configuration of one source as JSON holds it — every field of the entry but `tag`, `type` and `engine`;
   * secrets as strings, durations in milliseconds — decoded to what `make` takes (secrets `Redacted`).
   */
  readonly config: Schema.Schema<Config, any>
  /** A scoped store: its client is opened (and checked) when made and closed with the scope. */
  readonly make: (config: Config) => Effect.Effect<Store, StoreError, Scope.Scope>
}

/**
 * Builds a descriptor (the identity, typed by its config schema).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Config, Encoded>(adapter: {
  readonly name: string
  readonly sourceTypes: ReadonlyArray<SourceType>
  readonly config: Schema.Schema<Config, Encoded>
  readonly make: (config: Config) => Effect.Effect<Store, StoreError, Scope.Scope>
}): Adapter<Config> => adapter

/**
 * Whether a value (an adapter package's `adapter` export, say) is a descriptor.
 *
 * @since 0.1.0
 * @category guards
 */
export const isAdapter = (u: unknown): u is Adapter =>
  Predicate.isRecord(u) && Predicate.isString(u.name) && Array.isArray(u.sourceTypes) &&
  Predicate.isFunction(u.make) && Predicate.hasProperty(u, "config")

/**
 * The configuration fields every adapter shares, for its `config` schema: `url` (a secret: it may hold
 * credentials) and `maxRecordsPerOperation` (1 to 100,000).
 *
 * @since 0.1.0
 * @category schemas
 */
export const fields = {
  url: Schema.Redacted(Schema.NonEmptyTrimmedString),
  maxRecordsPerOperation: Schema.optional(Schema.Int.pipe(Schema.between(1, 100_000)))
}

/**
 * A connection pool's size, for adapters that keep one (`maxConnections`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const maxConnections = Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000)))

/**
 * A duration given in milliseconds in JSON (`connectTimeout: 5000`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const millis = Schema.optional(Schema.DurationFromMillis.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero), { message: () => "must be more than 0 ms" })
))
