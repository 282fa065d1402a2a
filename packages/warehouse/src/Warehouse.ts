/**
 * The warehouse: transactions across the registered sources, as an Effect service and as a Promise facade.
 *
 * @since 0.1.0
 */
import { Saga, SagaJournal, type Step } from "@polysaga/saga"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as sourcesInternal from "./internal/sources.js"
import * as tracing from "./internal/tracing.js"
import * as internal from "./internal/transaction.js"
import { type SourceConfig, type SourceDefinition, Sources } from "./Source.js"
import type { Operation, TransactionOptions, TransactionResult } from "./Transaction.js"
import { WarehouseError } from "./WarehouseError.js"

/**
 * @since 0.1.0
 */
export interface WarehouseConfig {
  /** Sources by tag, from code (`{ tag, type, store }`) or configuration (`{ tag, type, engine, url, … }`). */
  readonly sources: ReadonlyArray<SourceDefinition | SourceConfig>
  /** The most operations one transaction may hold (default 100). */
  readonly maxOperations?: number | undefined
}

/**
 * @since 0.1.0
 */
export class Warehouse extends Context.Tag("@polysaga/warehouse/Warehouse")<Warehouse, {
  /**
   * Runs `operations` as one saga. Fails (nothing written) with a `WarehouseError` when the input is bad or a
   * source is unreachable during validation; otherwise returns the result, whatever its status.
   */
  readonly transaction: (
    operations: ReadonlyArray<Operation>,
    options?: TransactionOptions
  ) => Effect.Effect<TransactionResult, WarehouseError>
  /**
   * `transaction` for input nobody typed (JSON from a request): checked the same way, at run time only.
   */
  readonly transactionUnknown: (
    operations: unknown,
    options?: unknown
  ) => Effect.Effect<TransactionResult, WarehouseError>
}>() {}

/**
 * The registry of sources alone.
 *
 * @since 0.1.0
 */
export const sourcesLayer = (sources: WarehouseConfig["sources"]): Layer.Layer<Sources, WarehouseError> =>
  Layer.scoped(Sources, sourcesInternal.make(sources))

/**
 * The warehouse on a registry of sources. Sagas are journaled when a `SagaJournal` is in the context.
 *
 * @since 0.1.0
 */
export const layerFromSources = (options?: { readonly maxOperations?: number | undefined }): Layer.Layer<
  Warehouse,
  never,
  Sources
> =>
  Layer.effect(
    Warehouse,
    Effect.gen(function*() {
      const sources = yield* Sources
      const journal = yield* Effect.serviceOption(SagaJournal.SagaJournal)
      const transaction = internal.transaction(sources, journal, options?.maxOperations ?? 100)
      return { transaction, transactionUnknown: transaction }
    })
  )

/**
 * The warehouse and its sources (a `SagaJournal` in the context is used when present).
 *
 * @since 0.1.0
 */
export const layer = (config: WarehouseConfig): Layer.Layer<Warehouse | Sources, WarehouseError> =>
  layerFromSources(config).pipe(Layer.provideMerge(sourcesLayer(config.sources)))

/**
 * `transaction(operations, options)` on the `Warehouse` in the context.
 *
 * @since 0.1.0
 */
export const transaction = (
  operations: ReadonlyArray<Operation>,
  options?: TransactionOptions
): Effect.Effect<TransactionResult, WarehouseError, Warehouse> =>
  Effect.flatMap(Warehouse, (warehouse) => warehouse.transaction(operations, options))

/**
 * `transactionUnknown(operations, options)` on the `Warehouse` in the context: for input nobody typed.
 *
 * @since 0.1.0
 */
export const transactionUnknown = (
  operations: unknown,
  options?: unknown
): Effect.Effect<TransactionResult, WarehouseError, Warehouse> =>
  Effect.flatMap(Warehouse, (warehouse) => warehouse.transactionUnknown(operations, options))

/**
 * The step definitions a recovering process registers to rebuild warehouse compensations from a journal.
 *
 * @since 0.1.0
 */
export const registry: Step.StepRegistry<Sources> = internal.registry

/**
 * The options of `createWarehouse` beyond the sources.
 *
 * @since 0.1.0
 */
export interface CreateWarehouseOptions {
  /** Sagas are journaled there (e.g. `@polysaga/journal`'s `PostgresJournal.layer`); default: no journal. */
  readonly journal?: Layer.Layer<SagaJournal.SagaJournal, unknown> | undefined
  /**
   * The least severe log line printed (Effect's logger, to the console): default `"warning"` — a library stays
   * quiet until something goes wrong; `"info"` adds a line per saga (`Saga.EndLogLevel` raised to `Info`),
   * `"none"` prints nothing.
   */
  readonly logLevel?: "debug" | "info" | "warning" | "error" | "none" | undefined
  /**
   * Spans (`Warehouse.transaction` → `Saga.execute` → `Saga.step`) go to the OpenTelemetry tracer provider
   * registered globally (`NodeSDK.start()`, `provider.register()`) when there is one as the warehouse is created
   * and `@effect/opentelemetry` and `@opentelemetry/api` are installed. Default `true`; `false` turns it off.
   */
  readonly tracing?: boolean | undefined
}

const logLevels = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
} as const

/**
 * A warehouse for code that does not use Effect, used like the seed's `ductape.warehouse`:
 *
 * ```ts
 * const warehouse = await createWarehouse({ sources: [{ tag: "orders-postgres", type: "database", engine: "postgres", url }] })
 * const result = await warehouse.transaction([{ operation: "insert", from: { … }, data: { … } }])
 * await warehouse.close()
 * ```
 *
 * `transaction` resolves with the result for every outcome (`completed`, `compensated`, `failed`) and rejects
 * with a `WarehouseError` (it has `code`, `message`, `path`) when the input is bad or a system fault stops it.
 *
 * @since 0.1.0
 */
export const createWarehouse = async (
  config: WarehouseConfig & CreateWarehouseOptions
): Promise<{
  readonly transaction: (
    operations: ReadonlyArray<Operation>,
    options?: TransactionOptions
  ) => Promise<TransactionResult>
  readonly close: () => Promise<void>
}> => {
  const journal = config.journal ?? Layer.empty
  const level = logLevels[config.logLevel ?? "warning"]
  const observability = Layer.mergeAll(
    Logger.minimumLogLevel(level),
    // a saga's end is logged at Debug by default: asked for info lines, one per saga
    LogLevel.lessThanEqual(level, LogLevel.Info) ? Layer.succeed(Saga.EndLogLevel, LogLevel.Info) : Layer.empty,
    config.tracing === false ? Layer.empty : await tracing.globalTracer("@polysaga/warehouse")
  )
  const runtime = ManagedRuntime.make(
    layer(config).pipe(Layer.provide(journal as Layer.Layer<never, unknown>), Layer.provideMerge(observability))
  )
  const run = async <A>(effect: Effect.Effect<A, unknown, Warehouse | Sources>): Promise<A> => {
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause))
  }
  await run(Effect.void.pipe(Effect.zipRight(Warehouse)))
  return {
    transaction: (operations, options) => run(transaction(operations, options)),
    close: () => runtime.dispose()
  }
}
