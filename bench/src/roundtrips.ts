/**
 * Round trips per step, counted on the wire (see `wire.ts`): each W4 operation run through its store as the
 * warehouse runs a step (`validate`, then `execute` with the step's saga and step id), its undo, the same write with
 * the raw driver, and the journal's statements per saga.
 */
import * as ChromaStore from "@polysaga/chroma"
import * as MongoStore from "@polysaga/mongodb"
import * as Neo4jStore from "@polysaga/neo4j"
import * as PostgresStore from "@polysaga/postgres"
import { Operation, type Store } from "@polysaga/store"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { warehouseRuntime } from "./variants.js"
import * as W4 from "./w4.js"
import * as Wire from "./wire.js"

export type StoreName = "postgres" | "mongodb" | "neo4j" | "chroma"
export const storeNames: ReadonlyArray<StoreName> = ["postgres", "mongodb", "neo4j", "chroma"]

const protocols: Readonly<Record<StoreName, Wire.Protocol>> = {
  postgres: "postgres",
  mongodb: "mongodb",
  neo4j: "bolt",
  chroma: "http"
}

const urlKey: Readonly<Record<StoreName, keyof W4.Urls>> = {
  postgres: "pg",
  mongodb: "mongo",
  neo4j: "neo4j",
  chroma: "chroma"
}

/** One store of W4 made on its proxied URL, as the warehouse makes it. */
const makeStore = (name: StoreName, url: string): Effect.Effect<Store, unknown, Scope.Scope> => {
  const u = Redacted.make(url)
  switch (name) {
    case "postgres":
      return PostgresStore.make({ url: u, schema: W4.names.schema })
    case "mongodb":
      return MongoStore.make({ url: u, database: W4.names.database })
    case "neo4j":
      return Neo4jStore.make({ url: u })
    case "chroma":
      return ChromaStore.make({ url: u, dimension: 3 })
  }
}

export interface StepCount {
  /** Requests of one step: `validate` + `execute` with a step context. */
  readonly step: number
  /** Requests of the step's undo. */
  readonly undo: number
  /** By kind, for the step then the undo. */
  readonly kinds: { readonly step: Readonly<Record<string, number>>; readonly undo: Readonly<Record<string, number>> }
}

/** A step's write other than W4's own: `prepare` runs first, uncounted (say, the insert of the row it updates). */
export interface Write {
  readonly prepare?: unknown
  readonly step: unknown
}

/** A PostgreSQL update or delete of the W4 `users` row, which W4's own insert writes first (uncounted). */
export const postgresWrite = (kind: "update" | "delete") => (id: string): Write => {
  const insert = W4.operations(id, false)[0]!
  return {
    prepare: insert,
    step: kind === "update"
      ? { operation: "update", from: insert.from, data: { name: "Jane Doe" }, where: { id } }
      : { operation: "delete", from: insert.from, where: { id } }
  }
}

/**
 * Each W4 operation through its store (or `write`'s): the requests of a step and of its undo, once warm (after
 * `warm` steps of the same store, so a store's caches count as a user's long-running process sees them).
 */
export const perStep = (
  name: StoreName,
  options: { readonly urls?: W4.Urls; readonly warm?: number; readonly write?: (id: string) => Write } = {}
) =>
  Effect.gen(function*() {
    const urls = options.urls ?? W4.env
    const index = storeNames.indexOf(name)
    const counter = yield* Effect.acquireRelease(
      Effect.promise(() => Wire.proxy(protocols[name], Wire.target(urls[urlKey[name]]))),
      (c) => Effect.promise(() => c.close())
    )
    const store = yield* makeStore(name, Wire.via(urls[urlKey[name]], counter))
    const run = (id: string) =>
      Effect.gen(function*() {
        const write = options.write?.(id) ?? { step: W4.operations(id, false)[index] }
        if (write.prepare !== undefined) yield* store.execute(yield* Operation.parse(write.prepare))
        const operation = yield* Operation.parse(write.step)
        counter.reset()
        yield* store.validate(operation)
        const outcome = yield* store.execute(operation, { sagaId: `rt-${id}`, stepId: `step_${index}` })
        const step = counter.kinds()
        counter.reset()
        yield* store.undo(outcome.undo)
        const undo = counter.kinds()
        const total = (kinds: Readonly<Record<string, number>>) => Object.values(kinds).reduce((a, b) => a + b, 0)
        return { step: total(step), undo: total(undo), kinds: { step, undo } } satisfies StepCount
      })
    const run0 = `${Date.now().toString(36)}-${name}`
    for (let i = 0; i < (options.warm ?? 1); i++) yield* run(`${run0}-warm-${i}`)
    return yield* run(`${run0}-counted`)
  })

/** The raw driver's requests for the same write (and its plain delete), warm. */
export const rawPerWrite = (options: { readonly urls?: W4.Urls } = {}) =>
  Effect.gen(function*() {
    const urls = options.urls ?? W4.env
    const counters = yield* Effect.acquireRelease(
      Effect.promise(() =>
        Promise.all(storeNames.map((name) => Wire.proxy(protocols[name], Wire.target(urls[urlKey[name]]))))
      ),
      (cs) => Effect.promise(() => Promise.all(cs.map((c) => c.close())))
    )
    const proxied: W4.Urls = {
      pg: Wire.via(urls.pg, counters[0]!),
      mongo: Wire.via(urls.mongo, counters[1]!),
      neo4j: Wire.via(urls.neo4j, counters[2]!),
      chroma: Wire.via(urls.chroma, counters[3]!)
    }
    const raw = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const r = await W4.openRaw(proxied)
        await W4.attach(r)
        return r
      }),
      (r) => Effect.promise(() => r.close())
    )
    const run = (id: string) =>
      Effect.promise(async () => {
        const writes = W4.writes(raw, id)
        const counts: Array<{ step: number; undo: number }> = []
        for (const [i, w] of writes.entries()) {
          counters[i]!.reset()
          const key = await w.write()
          const step = counters[i]!.total()
          counters[i]!.reset()
          await w.undo(key)
          counts.push({ step, undo: counters[i]!.total() })
        }
        return counts
      })
    const id = `${Date.now().toString(36)}-raw`
    yield* run(`${id}-warm`)
    const counts = yield* run(`${id}-counted`)
    return Object.fromEntries(storeNames.map((name, i) => [name, counts[i]!])) as Record<
      StoreName,
      { step: number; undo: number }
    >
  })

/** The PostgreSQL journal's statements for one W4 saga (and one failing W4), warm, stores not proxied. */
export const journalPerSaga = (options: { readonly urls?: W4.Urls } = {}) =>
  Effect.gen(function*() {
    const urls = options.urls ?? W4.env
    const counter = yield* Effect.acquireRelease(
      Effect.promise(() => Wire.proxy("postgres", Wire.target(urls.pg))),
      (c) => Effect.promise(() => c.close())
    )
    // the stores on the real URLs, the journal alone through the proxy
    const runtime = yield* Effect.acquireRelease(
      Effect.sync(() => warehouseRuntime("postgres", urls, Wire.via(urls.pg, counter))),
      (r) => Effect.promise(() => r.dispose())
    )
    const run = (id: string, fail: boolean) =>
      Effect.promise(async () => {
        counter.reset()
        const result = await runtime.runPromise(Warehouse.transaction(W4.operations(id, fail)))
        if (result.status !== (fail ? "compensated" : "completed")) {
          throw new Error(`journal count: W4 ${fail ? "failing " : ""}ended ${result.status}: ${result.error}`)
        }
        return counter.total()
      })
    const id = `${Date.now().toString(36)}-journal`
    yield* run(`${id}-warm`, false)
    return { w4: yield* run(`${id}-w4`, false), failing: yield* run(`${id}-failing`, true), steps: 4 }
  })

/** The Chroma operations beyond W4's keyed upsert whose step cost the budget covers. */
export const chromaOperations = ["update by id", "update by where", "upsert by key", "delete by id"] as const

/** A Chroma step of `chromaOperations` on the record W4's upsert writes first (uncounted). */
export const chromaWrite = (kind: (typeof chromaOperations)[number]) => (id: string): Write => {
  const upsert = W4.operations(id, false)[3]!
  const from = upsert.from
  const email = `${id}@example.com`
  return {
    prepare: upsert,
    step: kind === "update by id"
      ? { operation: "update", from, where: { id }, data: { score: { $increment: 1 } } }
      : kind === "update by where"
      ? { operation: "update", from, where: { email }, data: { name: "Jane" } }
      : kind === "upsert by key"
      ? {
        operation: "upsert",
        from,
        data: { vector: [0.5, 0.1, 0.9], metadata: { email, name: "Jane" } },
        options: { key: ["email"] }
      }
      : { operation: "delete", from, where: { id } }
  }
}
