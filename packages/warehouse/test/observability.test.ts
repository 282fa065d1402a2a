/**
 * createWarehouse as a library user sees it: quiet by default (warnings only), its spans in the application's
 * globally registered OpenTelemetry provider, its metrics in Effect's registry. Against the real PostgreSQL.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { trace } from "@opentelemetry/api"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { SagaMetrics } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import { afterAll, afterEach, assert, beforeAll, describe, it, vi } from "vitest"
import { createWarehouse } from "../src/index.js"

const url = process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga"
const sql = (statement: string) =>
  Effect.flatMap(PgClient.PgClient, (client) => client.unsafe(statement)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })),
    Effect.scoped,
    Effect.runPromise
  )
const insert = [{
  operation: "insert",
  from: { type: "database", tag: "db", entity: "wh_observed" },
  data: { id: 1 }
}] as const
const sources = [{ tag: "db", type: "database" as const, engine: "postgres" as const, url }]

beforeAll(async () => {
  await sql("DROP TABLE IF EXISTS wh_observed")
  await sql("CREATE TABLE wh_observed (id integer PRIMARY KEY)")
})
afterAll(() => sql("DROP TABLE IF EXISTS wh_observed"))
afterEach(() => {
  vi.restoreAllMocks()
  trace.disable()
})

const printed = () => {
  const lines: Array<string> = []
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
  }
  return lines
}

describe("createWarehouse observability", () => {
  it("prints nothing for a transaction by default, its INFO lines with logLevel info", async () => {
    await sql("TRUNCATE wh_observed")
    const quiet = printed()
    const warehouse = await createWarehouse({ sources })
    assert.strictEqual((await warehouse.transaction(insert)).status, "completed")
    await warehouse.close()
    assert.deepStrictEqual(quiet, [])
    vi.restoreAllMocks()

    await sql("TRUNCATE wh_observed")
    const chatty = printed()
    const verbose = await createWarehouse({ sources, logLevel: "info" })
    assert.strictEqual((await verbose.transaction(insert)).status, "completed")
    await verbose.close()
    assert.isTrue(chatty.some((line) => line.includes("saga completed")), chatty.join("\n"))
  })

  it("sends its spans to the globally registered OpenTelemetry provider", async () => {
    await sql("TRUNCATE wh_observed")
    const exporter = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    trace.setGlobalTracerProvider(provider)
    const warehouse = await createWarehouse({ sources })
    const result = await warehouse.transaction(insert)
    await warehouse.close()
    await provider.forceFlush()
    const spans = exporter.getFinishedSpans()
    const names = spans.map((span) => span.name)
    assert.includeMembers(names, ["Warehouse.transaction", "Saga.execute"])
    const root = spans.find((span) => span.name === "Warehouse.transaction")!
    const execute = spans.find((span) => span.name === "Saga.execute")!
    assert.strictEqual(execute.parentSpanContext?.spanId, root.spanContext().spanId)
    assert.strictEqual(execute.spanContext().traceId, root.spanContext().traceId)
    assert.strictEqual(result.status, "completed")
  })

  it("has no spans to give when no provider is registered, and tracing: false ignores a registered one", async () => {
    await sql("TRUNCATE wh_observed")
    const exporter = new InMemorySpanExporter()
    const warehouse = await createWarehouse({ sources })
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
    await warehouse.transaction(insert)
    await warehouse.close()
    await sql("TRUNCATE wh_observed")
    const off = await createWarehouse({ sources, tracing: false })
    await off.transaction(insert)
    await off.close()
    assert.deepStrictEqual(exporter.getFinishedSpans().map((span) => span.name), [])
  })

  it("counts sagas by status and times steps by engine", async () => {
    await sql("TRUNCATE wh_observed")
    const completed = Metric.tagged(SagaMetrics.sagas, "status", "completed")
    const steps = SagaMetrics.stepDuration.pipe(
      Metric.tagged("engine", "postgres"),
      Metric.tagged("outcome", "success")
    )
    const before = await Effect.runPromise(Effect.all([Metric.value(completed), Metric.value(steps)]))
    const warehouse = await createWarehouse({ sources })
    await warehouse.transaction(insert)
    await warehouse.close()
    const [sagas, durations] = await Effect.runPromise(Effect.all([Metric.value(completed), Metric.value(steps)]))
    assert.strictEqual(sagas.count - before[0].count, 1)
    assert.strictEqual(durations.count - before[1].count, 1)
    assert.isAbove(durations.sum - before[1].sum, 0)
    assert.strictEqual((await Effect.runPromise(Metric.value(SagaMetrics.inFlight))).value, 0)
  })
})
