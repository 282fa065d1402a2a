/**
 * Sources by tag: each tag names a store of one type (`database`, `graph`, `vector`).
 *
 * @since 0.1.0
 */
import type { Operation, Store, StoreError } from "@polysaga/store"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/sources.js"
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
 * A source described by configuration (JSON): its `tag`, `type` and `engine`, and the engine's own settings
 * (`url` and more; see each adapter's `adapter` descriptor). `engine` names the adapter package: `postgres` is
 * `@polysaga/postgres`, a scoped name (`@acme/polysaga-dynamo`) is used as it is. The package is loaded when the
 * warehouse starts, so only the adapters a configuration names need to be installed, and an engine of your own
 * needs no change here. `${VAR}` references are not expanded here (the service does that).
 *
 * @since 0.1.0
 */
export const SourceConfig: typeof internal.SourceConfig = internal.SourceConfig

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

/**
 * How the adapter package of an engine is loaded: `import(name)` unless the application gives the module itself
 * here, by package name (`{ "@polysaga/postgres": () => import("@polysaga/postgres") }`). A bundled application
 * (one file with its adapters inside, e.g. built with esbuild) needs this: a computed `import(name)` is left to
 * Node's resolver at run time, which would load a second copy of the adapter and of everything it imports from
 * `node_modules` — if it can find them there at all. Provide it with `Effect.provideService(Source.AdapterModules, …)`
 * around what builds the warehouse (or checks its sources).
 *
 * @since 0.1.0
 */
export const AdapterModules: typeof internal.AdapterModules = internal.AdapterModules

/**
 * @since 0.1.0
 */
export type AdapterModules = internal.AdapterModules

/**
 * Checks configured sources without opening them: each engine's adapter package is loaded and the entry's
 * settings decoded with its descriptor (`ENGINE_NOT_INSTALLED` or `VALIDATION_ERROR` naming the field, e.g.
 * `sources[1].database`). A service checks its configuration with it before it starts anything.
 *
 * @since 0.1.0
 */
export const check: (entries: ReadonlyArray<SourceConfig>, path?: string) => Effect.Effect<void, WarehouseError> =
  internal.check
