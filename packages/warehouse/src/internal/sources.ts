import type { Store, StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Source, SourceConfig, SourceDefinition, Sources } from "../Source.js"
import { SourceConfig as SourceConfigSchema } from "../Source.js"
import { WarehouseError } from "../WarehouseError.js"

/** What every adapter package exports. */
interface AdapterModule {
  readonly make: (config: Record<string, unknown>) => Effect.Effect<Store, StoreError, Scope.Scope>
}

const redacted = (value: string | undefined) => value === undefined ? undefined : Redacted.make(value)

/** The adapter's own config for a configured source. */
const adapterConfig = (source: SourceConfig): Record<string, unknown> => {
  const common = { url: Redacted.make(source.url), maxRecordsPerOperation: source.maxRecordsPerOperation }
  switch (source.engine) {
    case "postgres":
      return { ...common, schema: source.schema }
    case "mongodb":
      return { ...common, database: source.database }
    case "neo4j":
      return { ...common, user: source.user, password: redacted(source.password), database: source.database }
    case "chroma":
      return {
        ...common,
        tenant: source.tenant,
        database: source.database,
        token: redacted(source.token),
        distance: source.distance,
        dimension: source.dimension
      }
  }
}

const load = (source: SourceConfig, path: string): Effect.Effect<AdapterModule, WarehouseError> => {
  const specifier = `@polysaga/${source.engine}`
  return Effect.tryPromise({
    try: () => import(specifier) as Promise<AdapterModule>,
    catch: (cause) =>
      new WarehouseError({
        code: "ENGINE_NOT_INSTALLED",
        path,
        message: `${path}: engine ${source.engine} needs the package ${specifier} (${String(cause)})`
      })
  })
}

const isDefinition = (u: SourceDefinition | SourceConfig): u is SourceDefinition => "store" in u

/**
 * Stores of configured sources, by everything that configures them but the tag: tags that name the same database
 * (the seed's `orders-db`, `inventory-db` and `payments-db`, say) share one store and its connection pool.
 */
type Shared = Map<string, Effect.Effect<Store, WarehouseError, Scope.Scope>>

const build = (
  entry: SourceDefinition | SourceConfig,
  path: string,
  shared: Shared
): Effect.Effect<Source, WarehouseError, Scope.Scope> =>
  Effect.gen(function*() {
    if (isDefinition(entry)) {
      const store = yield* Effect.mapError(entry.store, (e) => unavailable(entry.tag, path, e))
      return { tag: entry.tag, type: entry.type, store }
    }
    const config = yield* Schema.decodeUnknown(SourceConfigSchema, { onExcessProperty: "error" })(entry).pipe(
      Effect.mapError((e) => new WarehouseError({ code: "VALIDATION_ERROR", path, message: `${path}: ${e.message}` }))
    )
    if (config.engine === "mongodb" && config.database === undefined) {
      return yield* new WarehouseError({
        code: "VALIDATION_ERROR",
        path: `${path}.database`,
        message: `${path}.database: a mongodb source needs a database`
      })
    }
    const { tag, type, ...settings } = config
    const key = JSON.stringify(settings)
    const known = shared.get(key)
    const store = known ?? (yield* Effect.cached(
      Effect.flatMap(load(config, path), (adapter) =>
        Effect.mapError(adapter.make(adapterConfig(config)), (e) => unavailable(tag, path, e)))
    ))
    if (known === undefined) {
      shared.set(key, store)
    }
    return { tag, type, store: yield* store }
  })

const unavailable = (tag: string, path: string, error: StoreError) =>
  new WarehouseError({
    code: "SOURCE_UNAVAILABLE",
    path,
    message: `source ${tag}: ${error.message}`
  })

export const make = (
  entries: ReadonlyArray<SourceDefinition | SourceConfig>
): Effect.Effect<Sources["Type"], WarehouseError, Scope.Scope> =>
  Effect.gen(function*() {
    const seen = new Set<string>()
    for (const [i, entry] of entries.entries()) {
      if (seen.has(entry.tag)) {
        return yield* new WarehouseError({
          code: "VALIDATION_ERROR",
          path: `sources[${i}].tag`,
          message: `sources[${i}].tag: the tag ${JSON.stringify(entry.tag)} is used twice`
        })
      }
      seen.add(entry.tag)
    }
    const shared: Shared = new Map()
    const all = yield* Effect.forEach(entries, (entry, i) => build(entry, `sources[${i}]`, shared))
    const byTag = new Map(all.map((s) => [s.tag, s]))
    return {
      all,
      get: (tag, path) => {
        const source = byTag.get(tag)
        if (source !== undefined) return Effect.succeed(source)
        const where = path === undefined ? "" : `${path}: `
        return Effect.fail(
          new WarehouseError({
            code: "SOURCE_NOT_FOUND",
            message: `${where}no source is registered with the tag ${JSON.stringify(tag)} (known: ${
              [...byTag.keys()].join(", ") || "none"
            })`,
            ...(path === undefined ? {} : { path })
          })
        )
      }
    }
  })
