/**
 * Configured sources go through their engine's adapter descriptor: the package is found by the engine's name, the
 * entry's settings are decoded by the adapter's own schema (fields named in errors, secrets never shown), and an
 * engine the warehouse has never heard of — here the TestStore of `@polysaga/testing` — works with no change to it.
 * Nothing here opens a real store: these checks fail before any connection is made.
 */
import { assert, describe, it } from "@effect/vitest"
import { SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Source, Warehouse } from "../src/index.js"

const pg = { tag: "orders", type: "database", engine: "postgres", url: "postgres://127.0.0.1:1/x" } as const

describe("configured sources", () => {
  it.effect("each bad entry fails before anything opens, naming the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[Source.SourceConfig, string, string]> = [
        [
          { tag: "m", type: "database", engine: "mongodb", url: "mongodb://127.0.0.1:1/" },
          "VALIDATION_ERROR",
          "sources[0].database"
        ],
        [{ ...pg, engine: "mysql" }, "ENGINE_NOT_INSTALLED", "sources[0].engine"],
        [{ ...pg, engine: "../../etc/passwd" }, "VALIDATION_ERROR", "sources[0].engine"],
        [{ ...pg, engine: "@polysaga/store" }, "ENGINE_NOT_INSTALLED", "sources[0].engine"],
        [
          { tag: "v", type: "database", engine: "chroma", url: "http://127.0.0.1:1" },
          "VALIDATION_ERROR",
          "sources[0].type"
        ],
        [{ ...pg, shema: "app" }, "VALIDATION_ERROR", "sources[0].shema"],
        [{ ...pg, maxConnections: 0 }, "VALIDATION_ERROR", "sources[0].maxConnections"],
        [{ ...pg, connectTimeout: "soon" }, "VALIDATION_ERROR", "sources[0].connectTimeout"],
        [
          { tag: "g", type: "graph", engine: "neo4j", url: "bolt://127.0.0.1:1", password: 42 },
          "VALIDATION_ERROR",
          "sources[0].password"
        ],
        [
          { tag: "c", type: "vector", engine: "chroma", url: "http://127.0.0.1:1", distance: "manhattan" },
          "VALIDATION_ERROR",
          "sources[0].distance"
        ]
      ]
      for (const [entry, code, path] of cases) {
        const error = yield* Effect.flip(Source.check([entry]))
        assert.strictEqual(error.code, code, error.message)
        assert.strictEqual(error.path, path, error.message)
        assert.include(error.message, path)
      }
    }))

  it.effect("a secret in a bad value is not shown", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Source.check([{ ...pg, url: "  " }, { ...pg, url: 7 }], "src"))
      assert.strictEqual(error.path, "src[0].url")
      const typed = yield* Effect.flip(Source.check([{ ...pg, url: 7 }]))
      assert.strictEqual(typed.path, "sources[0].url")
      assert.include(typed.message, "value not shown")
      assert.notInclude(typed.message, "7")
      const password = yield* Effect.flip(
        Source.check([{ tag: "g", type: "graph", engine: "neo4j", url: "bolt://x", password: ["hunter2"] }])
      )
      assert.notInclude(password.message, "hunter2")
    }))

  it.effect("valid entries of the four engines pass the check", () =>
    Source.check([
      { ...pg, schema: "app", maxConnections: 4, connectTimeout: 2000 },
      { tag: "m", type: "database", engine: "mongodb", url: "mongodb://127.0.0.1:1/", database: "shop" },
      { tag: "g", type: "graph", engine: "neo4j", url: "bolt://127.0.0.1:1", user: "neo4j", password: "p" },
      { tag: "c", type: "vector", engine: "chroma", url: "http://127.0.0.1:1", dimension: 4, timeout: 500 }
    ]))

  it.effect("an engine the warehouse has no code for: the TestStore of @polysaga/testing, by configuration", () =>
    Effect.gen(function*() {
      const customers = { type: "database", tag: "crm", entity: "customers" } as const
      const ok = yield* Warehouse.transaction([
        { operation: "insert", from: customers, data: { id: "c1", name: "Ada" } }
      ])
      assert.strictEqual(ok.status, "completed", ok.error)
      const failed = yield* Warehouse.transaction([
        { operation: "insert", from: customers, data: { id: "c2", name: "Grace" } },
        { operation: "update", from: customers, data: { name: "X" }, where: { id: { $eq: "nobody" } } }
      ])
      assert.strictEqual(failed.status, "compensated", failed.error)
      const read = yield* Warehouse.transaction([{ operation: "select", from: customers, where: {} }])
      assert.deepStrictEqual(read.stepResults.step_0!.data, [{ id: "c1", name: "Ada" }])
    }).pipe(
      Effect.provide(
        Warehouse.layer({ sources: [{ tag: "crm", type: "database", engine: "testing", maxRecordsPerOperation: 10 }] })
          .pipe(Layer.provide(SagaJournal.layerMemory))
      )
    ))

  it.effect("AdapterModules: a module the application gives is used for its package name, not import(name)", () =>
    Effect.gen(function*() {
      const loaded: Array<string> = []
      const modules = {
        // a name no package has: only the given module can make it load
        "@acme/polysaga-crm": () => {
          loaded.push("@acme/polysaga-crm")
          return import("@polysaga/testing")
        }
      }
      const entry = { tag: "crm", type: "database", engine: "@acme/polysaga-crm", maxRecordsPerOperation: 10 } as const
      const missing = yield* Effect.flip(Source.check([entry]))
      assert.strictEqual(missing.code, "ENGINE_NOT_INSTALLED")
      yield* Source.check([entry]).pipe(Effect.provideService(Source.AdapterModules, modules))
      const result = yield* Warehouse.transaction([
        { operation: "insert", from: { type: "database", tag: "crm", entity: "customers" }, data: { id: "c1" } }
      ]).pipe(
        Effect.provide(Warehouse.layer({ sources: [entry] })),
        Effect.provideService(Source.AdapterModules, modules)
      )
      assert.strictEqual(result.status, "completed", result.error)
      assert.deepStrictEqual(loaded, ["@acme/polysaga-crm", "@acme/polysaga-crm"])
      // the default loader is untouched
      assert.strictEqual((yield* Effect.flip(Source.check([entry]))).code, "ENGINE_NOT_INSTALLED")
    }))
})
