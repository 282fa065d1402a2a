/**
 * The two layers every adapter exports, built the same way from its `Context.Tag` and scoped `make`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Store } from "./Store.js"
import type { StoreError } from "./StoreError.js"

/**
 * @since 0.1.0
 */
export interface StoreLayers<I, C> {
  /** The store as a scoped layer: the client is opened (and checked) when built, closed with the scope. */
  readonly layer: (config: C) => Layer.Layer<I, StoreError>
  /** The same, configured through `Config` (e.g. `{ url: Config.redacted("DATABASE_URL") }`). */
  readonly layerConfig: (config: Config.Config.Wrap<C>) => Layer.Layer<I, StoreError | ConfigError.ConfigError>
}

/**
 * @since 0.1.0
 */
export const make = <I, C>(
  tag: Context.Tag<I, Store>,
  make: (config: C) => Effect.Effect<Store, StoreError, Scope.Scope>
): StoreLayers<I, C> => ({
  layer: (config) => Layer.scoped(tag, make(config)),
  layerConfig: (config) => Layer.scoped(tag, Effect.flatMap(Config.unwrap(config), make))
})
