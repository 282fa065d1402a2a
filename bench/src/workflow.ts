/**
 * The peer: Effect's own durable workflows (`@effect/workflow`). W4 as a workflow of four activities — the same raw
 * driver writes as RAW — each with its compensation (the same plain delete), and the failing W4's 5th activity.
 * In memory (`WorkflowEngine.layerMemory`), and durable with `@effect/cluster`'s `SingleRunner` on the bench's
 * PostgreSQL (its message and runner tables).
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Activity from "@effect/workflow/Activity"
import * as Workflow from "@effect/workflow/Workflow"
import * as WorkflowEngine from "@effect/workflow/WorkflowEngine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Status, Variant } from "./variants.js"
import * as W4 from "./w4.js"

const W4Workflow = Workflow.make({
  name: "BenchW4",
  payload: { id: Schema.String, fail: Schema.Boolean, steps: Schema.Number },
  idempotencyKey: ({ id }) => id,
  error: Schema.String
})

/** `execute` a step as an activity; its error (a driver's) becomes the workflow's. */
const activity = (name: string, execute: () => Promise<string>) =>
  Activity.make({
    name,
    success: Schema.String,
    error: Schema.String,
    execute: Effect.tryPromise({ try: execute, catch: (error) => String(error) })
  })

/** W4 (`steps` 0), or the step-scaling saga of `steps` PostgreSQL inserts; each write compensated by its delete. */
const registered = (raw: W4.Raw) =>
  W4Workflow.toLayer(Effect.fnUntraced(function*({ fail, id, steps }) {
    if (steps > 0) {
      for (let i = 0; i < steps; i++) {
        yield* activity(`step-${i}`, async () => {
          await W4.rawSteps(raw, `${id}-${i}`, 1)
          return `${id}-${i}`
        })
      }
      return
    }
    for (const write of W4.writes(raw, id)) {
      yield* activity(write.name, write.write).pipe(
        W4Workflow.withCompensation((key) => Effect.promise(() => write.undo(key)))
      )
    }
    if (fail) yield* activity("audit", () => W4.failingInsert(raw).then(() => "inserted"))
  }))

export type Engine = "memory" | "durable"

const engineLayer = (engine: Engine, url: string): Layer.Layer<WorkflowEngine.WorkflowEngine, unknown> =>
  engine === "memory"
    ? WorkflowEngine.layerMemory
    : ClusterWorkflowEngine.layer.pipe(
      Layer.provide(SingleRunner.layer()),
      Layer.provide(PgClient.layer({ url: Redacted.make(url) }))
    )

export const workflow = async (raw: W4.Raw, engine: Engine, url: string = W4.env.pg): Promise<Variant> => {
  const runtime = ManagedRuntime.make(
    registered(raw).pipe(
      Layer.provideMerge(engineLayer(engine, url)),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
  await runtime.runPromise(WorkflowEngine.WorkflowEngine)
  const run = (id: string, fail: boolean, steps: number) =>
    runtime.runPromise(
      W4Workflow.execute({ id, fail, steps }).pipe(
        Effect.match({ onFailure: (): Status => "compensated", onSuccess: (): Status => "completed" })
      )
    )
  return {
    name: `@effect/workflow, ${engine === "memory" ? "in memory" : "durable (PostgreSQL)"}`,
    w4: (id, fail) => run(id, fail, 0),
    steps: (id, n) => run(id, false, n),
    close: () => runtime.dispose()
  }
}
