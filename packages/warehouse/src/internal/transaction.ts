import { Saga, type SagaError, SagaJournal, SagaMetrics, Step } from "@polysaga/saga"
import { Operation, type Outcome, type StoreError } from "@polysaga/store"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Source } from "../Source.js"
import { Sources } from "../Source.js"
import { StepOutcome, TransactionOptions, type TransactionResult } from "../Transaction.js"
import { WarehouseError } from "../WarehouseError.js"
import * as Plan from "./plan.js"

/** What a step journals with its intent: the source tag and the operation as the user sent it (JSON). */
const OperationInput = Schema.Struct({ tag: Schema.String, operation: Schema.Unknown })

/**
 * The one step definition of the warehouse: its result is journaled by `StepOutcome`, its compensation applies
 * the undo record through the source with the same tag — so it can be rebuilt after a restart. A step cut short
 * (in doubt) is resolved by the source's store barrier (`store.resolve`); a store without one cannot tell, and the
 * step stays in doubt.
 */
export const operationStep: Step.StepDefinition<
  StepOutcome,
  typeof StepOutcome.Encoded,
  Sources,
  typeof OperationInput.Type
> = Step.define({
  name: "warehouse.operation",
  result: StepOutcome,
  input: OperationInput,
  compensate: (outcome: StepOutcome) =>
    Effect.flatMap(Sources, (sources) => sources.get(outcome.tag)).pipe(
      Effect.flatMap((source) => source.store.undo(outcome.undo))
    ),
  // the store is given the step's operation as it ran (journaled with the intent): a store whose keyed writes carry
  // their proof in their records (Chroma) finds the step's records from it
  resolve: ({ operation, tag }, context) =>
    Effect.flatMap(Sources, (sources) => sources.get(tag)).pipe(
      Effect.flatMap((
        { store }
      ): Effect.Effect<Option.Option<Outcome>, WarehouseError | StoreError | SagaError.StepTimeout> =>
        store.resolve === undefined
          ? new WarehouseError({
            code: "SOURCE_UNAVAILABLE",
            message: `source ${tag}: its ${store.engine} store has no step barrier, an in-doubt step cannot be resolved`
          })
          // bounded like a compensation (10 s) even where the saga cannot be interrupted: a frozen store's call is
          // left to finish in the background and the step to recovery. Its StepTimeout is not retried (one bounded
          // attempt) and stays transient: recovery leaves the saga for a later pass instead of ending it `failed`
          : Saga.bounded(
            context.sagaId,
            context.stepId,
            Effect.flatMap(Operation.parse(operation), (parsed) => store.resolve!(context, parsed))
          )
      ),
      Effect.map(Option.map((outcome): StepOutcome => ({
        tag,
        records: outcome.records,
        affected: outcome.affected,
        undo: outcome.undo
      })))
    )
})

/** The step definitions a recovering process needs. */
export const registry: Step.StepRegistry<Sources> = Step.registry(operationStep)

const fromStore = Plan.fromStore

interface Planned {
  readonly node: Plan.Node
  readonly needs: ReadonlyArray<string>
  readonly operation: Operation.Operation
  readonly source: Source
}

const tooFew = (path: string, message: string) =>
  new WarehouseError({ code: "VALIDATION_ERROR", path, message: `${path}: ${message}` })

/** Decodes and checks every operation and the graph they make before anything is written. */
const plan = (sources: Sources["Type"], input: unknown, maxOperations: number) =>
  Effect.gen(function*() {
    if (!Array.isArray(input)) return yield* tooFew("operations", "must be an array")
    if (input.length === 0) return yield* tooFew("operations", "a transaction needs at least one operation")
    if (input.length > maxOperations) {
      return yield* new WarehouseError({
        code: "TOO_MANY_OPERATIONS",
        path: "operations",
        message: `operations: ${input.length} operations exceed the limit of ${maxOperations}`
      })
    }
    const nodes = yield* Effect.forEach(input, Plan.node)
    const checked = yield* Effect.forEach(nodes, (node) =>
      Effect.gen(function*() {
        const { path } = node
        const operation = yield* Effect.mapError(Operation.parse(node.checked, path), fromStore)
        const source = yield* sources.get(operation.source.tag, `${path}.from.tag`)
        if (source.type !== operation.source.type) {
          return yield* new WarehouseError({
            code: "SOURCE_TYPE_MISMATCH",
            path: `${path}.from.type`,
            message:
              `${path}.from.type: the source ${source.tag} is a ${source.type} source, not ${operation.source.type}`
          })
        }
        yield* Effect.mapError(source.store.validate(operation, path), fromStore)
        return { operation, source }
      }))
    const ordered = yield* Plan.order(nodes)
    return ordered.map(({ needs, node }): Planned => ({ node, needs, ...checked[node.index]! }))
  })

const decodeOptions = (options: unknown) => Plan.decodeAt(TransactionOptions, options ?? {}, "options")

const journaled = (journal: SagaJournal.SagaJournal.Service, id: string) =>
  journal.entries(id).pipe(
    Effect.mapError((error) => new WarehouseError({ code: "JOURNAL_UNAVAILABLE", message: error.message }))
  )

/**
 * A saga the journal could not record: when the journal holds nothing of it, not even the intent of a step, none
 * of it ran (a step journals its intent before it acts). The transaction is refused as the journal's failure
 * (`JOURNAL_UNAVAILABLE`), never answered as a result the journal does not know.
 */
const refuseUnjournaled = (
  id: string,
  journal: Option.Option<SagaJournal.SagaJournal.Service>,
  error: string | undefined
) =>
  Effect.gen(function*() {
    if (Option.isNone(journal)) return
    if ((yield* journaled(journal.value, id)).length > 0) return
    return yield* new WarehouseError({
      code: "JOURNAL_UNAVAILABLE",
      message: `the journal could not record transaction ${id}, so none of it ran${
        error === undefined ? "" : `: ${error}`
      }`
    })
  })

const duplicateId = (id: string, where: string) =>
  new WarehouseError({
    code: "DUPLICATE_ID",
    path: "options.id",
    message: `options.id: a transaction with the id ${id} ${where}; choose a new id`
  })

/**
 * A saga id the client chose must be new: a saga the journal knows is never answered from its old record, nor run
 * again under the same id.
 */
const unused = (
  id: string,
  journal: Option.Option<SagaJournal.SagaJournal.Service>,
  planned: ReadonlyArray<Planned>
) =>
  Effect.gen(function*() {
    const duplicate = (where: string) => duplicateId(id, where)
    if (Option.isSome(journal) && (yield* journaled(journal.value, id)).length > 0) {
      return yield* duplicate("is already in the journal")
    }
    // the stores' barriers outlive the journal's retention (or a journal reset): an old step there must not answer
    const barriers = new Map(planned.map(({ source }) => [source.store, source.tag] as const))
    yield* Effect.forEach(barriers, ([store, tag]) =>
      store.used === undefined ? Effect.void : store.used(id).pipe(
        Effect.mapError(fromStore),
        Effect.flatMap((used) =>
          used ? Effect.fail(duplicate(`was used before (source ${tag} holds its steps)`)) : Effect.void
        )
      ), { concurrency: "unbounded", discard: true })
  })

/** Retries with exponential backoff and jitter; the saga engine only lets transient errors through to it. */
const retrySchedule = (maxRetries: number) =>
  Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(maxRetries)))

/** The step's operation with its `$ref`s resolved from the results of the steps it needs, parsed again. */
const resolved = (planned: Planned, deps: Readonly<Record<string, StepOutcome>>) =>
  Effect.gen(function*() {
    if (!planned.node.hasRefs) return { operation: planned.operation, raw: planned.node.operation }
    const results: Record<string, Plan.RefTarget> = {}
    for (const [id, outcome] of Object.entries(deps)) {
      results[id] = { data: outcome.records, affectedRows: outcome.affected }
    }
    const raw = yield* Plan.resolve(planned.node.operation, results, planned.node.path)
    return { operation: yield* Operation.parse(raw, planned.node.path), raw }
  })

const stepDuration = (engine: string, outcome: "success" | "failure") =>
  SagaMetrics.stepDuration.pipe(Metric.tagged("engine", engine), Metric.tagged("outcome", outcome))

/**
 * Records each attempt's duration in `SagaMetrics.stepDuration`, by engine and outcome (the tagged metrics made once
 * per store: tagging builds and hashes a new metric key).
 */
const timer = (engine: string) => {
  const success = stepDuration(engine, "success")
  const failure = stepDuration(engine, "failure")
  return <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(
      Clock.currentTimeNanos,
      (start) =>
        Effect.onExit(attempt, (exit) =>
          Effect.flatMap(
            Clock.currentTimeNanos,
            (end) => Metric.update(Exit.isSuccess(exit) ? success : failure, Number(end - start) / 1e9)
          ))
    )
}

const timers = new Map<string, ReturnType<typeof timer>>()
const timed = (engine: string) => {
  const found = timers.get(engine)
  if (found !== undefined) return found
  const made = timer(engine)
  timers.set(engine, made)
  return made
}

/** `SagaMetrics.sagas` tagged by status, once per status. */
const sagasBy = {
  completed: Metric.tagged(SagaMetrics.sagas, "status", "completed"),
  compensated: Metric.tagged(SagaMetrics.sagas, "status", "compensated"),
  failed: Metric.tagged(SagaMetrics.sagas, "status", "failed")
} as const

/**
 * The transactions of one warehouse. A client-chosen id is held while its transaction runs: a second transaction
 * with the same id at the same moment is `DUPLICATE_ID` at once — the journal and the barriers cannot tell it
 * apart before either has written.
 */
export const transaction = (
  sources: Sources["Type"],
  journal: Option.Option<SagaJournal.SagaJournal.Service>,
  maxOperations: number
) => {
  const running = new Set<string>()
  const run = (operations: unknown, options: typeof TransactionOptions.Type) =>
    runTransaction(sources, journal, maxOperations, operations, options)
  return (operations: unknown, rawOptions?: unknown): Effect.Effect<TransactionResult, WarehouseError> =>
    Effect.flatMap(decodeOptions(rawOptions), (options) => {
      const id = options.id
      if (id === undefined) return run(operations, options)
      return Effect.acquireUseRelease(
        Effect.suspend(() => {
          if (running.has(id)) return Effect.fail(duplicateId(id, "is running"))
          running.add(id)
          return Effect.void
        }),
        () => run(operations, options),
        () => Effect.sync(() => void running.delete(id))
      )
    }).pipe(Effect.withSpan("Warehouse.transaction", { captureStackTrace: false }))
}

/**
 * The checks before the first write, awaited at most `timeout` ms. They run in a fiber of their own, so a store that
 * hangs there is not waited for once the time is up (its call finishes in the background). Checks that wait on no
 * store (the catalogs and barriers kept, no client id) have finished when that fiber first yields: they are answered
 * without a timer — a timer and the race around it cost more CPU than the checks (#15).
 */
const withinTimeout = <A>(
  checks: Effect.Effect<A, WarehouseError>,
  timeout: number
): Effect.Effect<A, WarehouseError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkDaemon(restore(checks)), (fiber) =>
      restore(Effect.zipRight(
        Effect.yieldNow(),
        Effect.suspend(() =>
          fiber.unsafePoll() ?? Fiber.join(fiber).pipe(
            Effect.timeoutFail({
              duration: timeout,
              onTimeout: () =>
                new WarehouseError({
                  code: "SOURCE_UNAVAILABLE",
                  message: `the sources did not answer the checks before the first write within ${timeout} ms`
                })
            })
          )
        )
      )).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Fiber.interruptFork(fiber))))
  )

/**
 * `Effect.disconnect` without its join: `effect` runs in a fiber of its own, and an interruption of the caller
 * interrupts it without waiting for it. Its result is taken as an `Exit` (awaited, not joined): the fiber's
 * `FiberRef`s are not merged back into the step's, which a store call has nothing to give and which cost more CPU
 * than the call on an in-memory store (#15).
 */
const disconnected = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkDaemon(restore(effect)), (fiber) =>
      restore(Fiber.await(fiber)).pipe(
        Effect.onInterrupt(() => Fiber.interruptFork(fiber)),
        Effect.flatten
      ))
  )

const runTransaction = (
  sources: Sources["Type"],
  journal: Option.Option<SagaJournal.SagaJournal.Service>,
  maxOperations: number,
  operations: unknown,
  options: typeof TransactionOptions.Type
): Effect.Effect<TransactionResult, WarehouseError> =>
  Effect.gen(function*() {
    // the checks before the first write ask the stores too (catalogs, barriers): they count against the timeout,
    // and a store that hangs there is unavailable, not a transaction that never answers
    const checksStarted = yield* Clock.currentTimeMillis
    const planned = yield* withinTimeout(
      Effect.gen(function*() {
        const planned = yield* plan(sources, operations, maxOperations)
        if (options.id !== undefined) yield* unused(options.id, journal, planned)
        return planned
      }),
      options.timeout
    )
    const checked = (yield* Clock.currentTimeMillis) - checksStarted
    const id = options.id ?? crypto.randomUUID()
    const retryFor = (own: number | undefined) => {
      const n = own ?? (options.retryOnFailure ? options.maxRetries : 0)
      return n > 0 ? { retry: retrySchedule(n) } : {}
    }
    const graph = planned.reduce(
      (graph, planned) =>
        graph.add(
          planned.node.id,
          planned.needs,
          (deps: Record<string, StepOutcome>) =>
            Effect.flatMap(Effect.either(resolved(planned, deps)), (input) => {
              const { source } = planned
              const stepId = planned.node.id
              const { maxRetries, timeout } = planned.node.options
              const action = Effect.flatMap(
                input,
                // cut off by a timeout, the store call is not waited for: what cannot be interrupted (a driver's
                // rollback or session close on a store that hangs) finishes in the background; the step is in doubt
                // and resolved through the store's barrier, which fences a late write
                ({ operation }) => disconnected(source.store.execute(operation, { sagaId: id, stepId }))
              ).pipe(
                timed(source.store.engine),
                Effect.map((outcome): StepOutcome => ({
                  tag: source.tag,
                  records: outcome.records,
                  affected: outcome.affected,
                  undo: outcome.undo
                }))
              )
              const raw = input._tag === "Right" ? input.right.raw : planned.node.operation
              const step = Step.fromDefinition(operationStep, action, {
                id: stepId,
                input: { tag: source.tag, operation: raw },
                ...retryFor(maxRetries),
                ...(timeout === undefined ? {} : { timeout: Duration.millis(timeout) })
              })
              // a step whose reply was lost is resolved through the store's barrier; a store without one cannot tell.
              // Without a journal its outcome is not checked against `StepOutcome`: it is built just above from the
              // store's typed `Outcome`, and the check (a journal's encoding does it) cost ~0.09 ms of the ~0.56 ms
              // of CPU an in-memory step takes (#15)
              return Saga.step({
                ...step,
                ...(source.store.resolve === undefined ? { resolve: undefined } : {}),
                ...(Option.isNone(journal) ? { result: undefined } : {})
              })
            })
        ),
      Saga.graph() as unknown as Saga.Graph<
        Record<string, StepOutcome>,
        StoreError | SagaError.StepError,
        Sources | Saga.SagaContext
      >
    )
    // the plan journals each step whose input is known now (no `$ref`) and whose store's barrier can answer for it:
    // such a step writes no intent; the others journal theirs as they run
    const sagaPlan = planned.map(({ node, source }): Saga.PlannedStep => ({
      id: node.id,
      name: operationStep.name,
      ...(node.hasRefs || source.store.resolve === undefined ? {} : {
        input: { schema: OperationInput, value: { tag: source.tag, operation: node.operation } }
      })
    }))
    const result = yield* Saga.execute(
      Saga.make(
        "warehouse.transaction",
        graph.run({
          concurrency: options.concurrency === "unbounded" ? Number.MAX_SAFE_INTEGER : options.concurrency
        })
      ),
      {
        id,
        timeout: Math.max(1, options.timeout - checked),
        compensateOnTimeout: options.compensateOnTimeout,
        plan: sagaPlan
      }
    ).pipe(
      Effect.provideService(Sources, sources),
      Option.isSome(journal) ? Effect.provideService(SagaJournal.SagaJournal, journal.value) : (e) => e,
      (execute) =>
        Effect.acquireUseRelease(
          Metric.increment(SagaMetrics.inFlight),
          () => execute,
          () => Metric.incrementBy(SagaMetrics.inFlight, -1)
        ),
      Effect.tap((result) => Metric.increment(sagasBy[result.status]))
    )
    // another instance (on the same journal) started a transaction with this id at the same moment: none of this one
    // ran, and the other is not answered for
    if (result.idTaken === true) return yield* duplicateId(id, "was started at the same moment by another instance")
    if (result.journalError !== undefined) yield* refuseUnjournaled(id, journal, result.error)
    // results in operation order, whatever order the steps ran in
    const inOrder = [...planned].sort((a, b) => a.node.index - b.node.index)
    const selects = new Set(inOrder.flatMap(({ node, operation }) => operation.kind === "select" ? [node.id] : []))
    const position = new Map(inOrder.map(({ node }, i) => [node.id, i]))
    const wrote = (stepId: string) => !selects.has(stepId)
    const stepResults: Record<string, TransactionResult["stepResults"][string]> = {}
    for (const { node } of inOrder) {
      const record = result.steps[node.id]
      if (record === undefined) continue
      const outcome = record.result as StepOutcome | undefined
      stepResults[node.id] = {
        ...(outcome === undefined ? {} : { data: outcome.records, affectedRows: outcome.affected }),
        ...(record.error === undefined ? {} : { error: record.error })
      }
    }
    return {
      id: result.id,
      status: result.status,
      executionTime: result.executionTime,
      stepResults,
      // the seed lists undone steps in operation order (`['step_0', 'step_1']`); they were undone walking the
      // graph backwards (the journal has that order). A select wrote nothing, so it is not listed as undone.
      compensatedSteps: result.compensatedSteps.filter(wrote).sort((a, b) => position.get(a)! - position.get(b)!),
      ...(result.status === "failed" ? { pendingCompensations: result.pendingCompensations.filter(wrote) } : {}),
      ...(result.error === undefined ? {} : {
        error: result.compensationError === undefined
          ? result.error
          : `${result.error}; then a compensation failed: ${result.compensationError}`
      })
    }
  })
