/**
 * Sources: configured entries decoded through their engine's adapter descriptor (loaded by package name), stores
 * shared between tags that configure the same database, and the registry by tag.
 */
import { Adapter, Operation, type Store, type StoreError } from "@polysaga/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Source, SourceDefinition, Sources } from "../Source.js"
import { WarehouseError } from "../WarehouseError.js"

export const SourceConfig = Schema.Struct(
  {
    tag: Schema.NonEmptyTrimmedString,
    type: Operation.SourceType,
    engine: Schema.String.pipe(Schema.pattern(/^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/, {
      message: () => "an engine name (`postgres`, `mongodb`, `neo4j`, `chroma`) or an adapter package (`@scope/name`)"
    }))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

type SourceConfig = typeof SourceConfig.Type

const invalid = (path: string, message: string) =>
  new WarehouseError({ code: "VALIDATION_ERROR", path, message: `${path}: ${message}` })

/** Settings whose values are secrets: a message about them never shows the value. */
const secrets = new Set(["url", "password", "token"])

/** The first issue of a decoding error, at its path under `base`, without the value when it is a secret. */
const firstIssue = (base: string, error: ParseResult.ParseError): WarehouseError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  // `optional` fields also report "Expected undefined": noise next to the real issue
  const issue = issues.find((i) => !i.message.startsWith("Expected undefined")) ?? issues[0]!
  const path = issue.path.reduce<string>(
    (at, segment) => typeof segment === "number" ? `${at}[${segment}]` : `${at}.${String(segment)}`,
    base
  )
  const secret = issue.path.some((segment) => typeof segment === "string" && secrets.has(segment))
  return invalid(path, secret ? issue.message.replace(/, actual [\s\S]*$/, " (value not shown)") : issue.message)
}

const specifier = (engine: string) => engine.startsWith("@") ? engine : `@polysaga/${engine}`

/** Adapter packages an application loads itself, by package name (see `Source.AdapterModules`). */
export class AdapterModules extends Context.Reference<AdapterModules>()("@polysaga/warehouse/AdapterModules", {
  defaultValue: (): { readonly [name: string]: () => Promise<unknown> } => ({})
}) {}

/** The adapter descriptor of an engine, from its package's `adapter` export. */
const load = (engine: string, path: string): Effect.Effect<Adapter.Adapter, WarehouseError> => {
  const name = specifier(engine)
  const notInstalled = (why: string) =>
    new WarehouseError({
      code: "ENGINE_NOT_INSTALLED",
      path: `${path}.engine`,
      message: `${path}.engine: engine ${engine} needs the adapter package ${name} (${why})`
    })
  return Effect.flatMap(AdapterModules, (modules) =>
    Effect.tryPromise({
      try: () => (modules[name]?.() ?? import(name)) as Promise<{ readonly adapter?: unknown }>,
      catch: (cause) => notInstalled(String(cause))
    })).pipe(Effect.flatMap((module) =>
      Adapter.isAdapter(module.adapter)
        ? Effect.succeed(module.adapter)
        : Effect.fail(notInstalled("it exports no `adapter` descriptor"))
    ))
}

/** A configured entry, decoded: its tag and type, its adapter and the adapter's settings. */
interface Configured {
  readonly tag: string
  readonly type: Operation.SourceType
  readonly adapter: Adapter.Adapter
  readonly settings: unknown
  /** What identifies the database it opens: tags with the same key share one store. */
  readonly key: string
}

const decode = (entry: unknown, path: string): Effect.Effect<Configured, WarehouseError> =>
  Effect.gen(function*() {
    const config: SourceConfig = yield* Schema.decodeUnknown(SourceConfig)(entry).pipe(
      Effect.mapError((e) => firstIssue(path, e))
    )
    const { engine, tag, type, ...rest } = config
    const adapter = yield* load(engine, path)
    if (!adapter.sourceTypes.includes(type)) {
      return yield* invalid(
        `${path}.type`,
        `${adapter.name} serves ${adapter.sourceTypes.join(" / ")} sources, not ${type}`
      )
    }
    const settings = yield* Schema.decodeUnknown(adapter.config, { onExcessProperty: "error" })(rest).pipe(
      Effect.mapError((e) => firstIssue(path, e))
    )
    return { tag, type, adapter, settings, key: JSON.stringify([engine, rest]) }
  })

export const check = (entries: ReadonlyArray<SourceConfig>, path = "sources"): Effect.Effect<void, WarehouseError> =>
  Effect.forEach(entries, (entry, i) => decode(entry, `${path}[${i}]`), { discard: true })

const isDefinition = (u: SourceDefinition | SourceConfig): u is SourceDefinition => "store" in u

/**
 * Builds every source, the stores concurrently (each opens and checks its connection). Configured sources with
 * the same settings but the tag (the seed's `orders-db`, `inventory-db` and `payments-db`, say) share one store
 * and its connection pool.
 */
const buildAll = (
  entries: ReadonlyArray<SourceDefinition | SourceConfig>
): Effect.Effect<ReadonlyArray<Source>, WarehouseError, Scope.Scope> =>
  Effect.gen(function*() {
    const decoded = yield* Effect.forEach(
      entries,
      (entry, i): Effect.Effect<SourceDefinition | Configured, WarehouseError> =>
        isDefinition(entry) ? Effect.succeed(entry) : decode(entry, `sources[${i}]`),
      { concurrency: "unbounded" }
    )
    type Open = Effect.Effect<Store, WarehouseError, Scope.Scope>
    const shared = new Map<string, Open>()
    const opening: Array<{ readonly tag: string; readonly type: Operation.SourceType; readonly store: Open }> = []
    for (const [i, item] of decoded.entries()) {
      const path = `sources[${i}]`
      let store: Open
      if ("store" in item) {
        store = Effect.mapError(item.store, (e) => unavailable(item.tag, path, e))
      } else {
        store = shared.get(item.key) ?? (yield* Effect.cached(
          Effect.mapError(item.adapter.make(item.settings), (e) => unavailable(item.tag, path, e))
        ))
        shared.set(item.key, store)
      }
      opening.push({ tag: item.tag, type: item.type, store })
    }
    return yield* Effect.forEach(
      opening,
      ({ store, tag, type }) => Effect.map(store, (store): Source => ({ tag, type, store })),
      { concurrency: "unbounded" }
    )
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
        return yield* invalid(`sources[${i}].tag`, `the tag ${JSON.stringify(entry.tag)} is used twice`)
      }
      seen.add(entry.tag)
    }
    const all = yield* buildAll(entries)
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
