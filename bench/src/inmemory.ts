/**
 * The engine's own CPU, no store in the way: sagas of `n` steps, interleaved, on
 *
 * - **bare Saga**: `Saga.step`s whose action is `Effect.succeed` (the saga engine alone: journal-less, no store);
 * - **Saga + TestStore**: `Saga.step`s that each `execute` one parsed insert on the in-memory `TestStore` of
 *   `@polysaga/testing` and `undo` it on compensation (the engine and the store kernel, barrier included);
 * - **warehouse, TestStore**: `Warehouse.transaction` of the same `n` inserts (decoding, checks, the step graph).
 *
 * CPU per step (`process.cpuUsage` around each saga, all threads) and wall time per step, with the ratios to the bare
 * Saga. Where the CPU of a warehouse step goes beyond the engine's is this table's difference.
 */
import { Saga, Step } from "@polysaga/saga"
import { Operation } from "@polysaga/store"
import { TestStore } from "@polysaga/testing"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"

export interface InMemoryVariant {
  readonly name: string
  /** One saga of `n` steps; `key` (unique) is its saga id and makes its records' ids unique. */
  readonly run: (key: string, n: number) => Promise<void>
}

const insert = (key: string, i: number) => ({
  operation: "insert" as const,
  from: { type: "database" as const, tag: "memory", entity: "steps" },
  data: { id: `${key}-${i}`, n: i, name: "John Doe" }
})

/** The three variants on one TestStore (logs at error, as the other variants). */
export const variants = async (): Promise<{
  readonly variants: ReadonlyArray<InMemoryVariant>
  readonly close: () => Promise<void>
}> => {
  const store = await Effect.runPromise(TestStore.make({ maxRecordsPerOperation: 1000 }))
  const runtime = ManagedRuntime.make(
    Warehouse.layer({ sources: [{ tag: "memory", type: "database", store: Effect.succeed(store) }] }).pipe(
      Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
  await runtime.runPromise(Warehouse.Warehouse)
  const completed = (status: string) => {
    if (status !== "completed") throw new Error(`an in-memory saga ended ${status}`)
  }
  return {
    variants: [
      {
        name: "bare Saga",
        run: async (_, n) =>
          completed(
            (await runtime.runPromise(Saga.execute(Saga.make(
              "bare",
              Effect.forEach(
                Array.from({ length: n }, (_, i) => i),
                (i) => Saga.step(Step.make({ name: `s${i}`, action: Effect.succeed(i), compensate: () => Effect.void }))
              )
            )))).status
          )
      },
      {
        name: "Saga + TestStore",
        run: async (key, n) =>
          completed(
            (await runtime.runPromise(Saga.execute(
              Saga.make(
                "store",
                Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
                  Effect.flatMap(
                    Operation.parse(insert(key, i), `operations[${i}]`),
                    (operation) =>
                      Saga.step(Step.make({
                        name: `s${i}`,
                        action: store.execute(operation, { sagaId: key, stepId: `s${i}` }),
                        compensate: (outcome) => store.undo(outcome.undo)
                      }))
                  ))
              ),
              { id: key }
            ))).status
          )
      },
      {
        name: "warehouse, TestStore",
        run: async (key, n) =>
          completed(
            (await runtime.runPromise(
              Warehouse.transaction(Array.from({ length: n }, (_, i) => insert(key, i)))
            )).status
          )
      }
    ],
    close: () => runtime.dispose()
  }
}
