/**
 * The store kernel: builds a `Store` from an engine's primitives and owns, once, the checks, the error convention,
 * the select bound, the undo record's engine check, the spans and the step-barrier protocol.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Capabilities from "../Capabilities.js"
import * as KeyedLock from "../KeyedLock.js"
import * as Operation from "../Operation.js"
import type { Engine, ErrorOptions, Mark, Outcome, Step, StepContext, Store, WriteContext } from "../Store.js"
import { inDoubtOnWrite, StoreError, type StoreErrorReason } from "../StoreError.js"
import * as Undo from "../Undo.js"

export const fail = (
  engine: string,
  reason: StoreErrorReason,
  message: string,
  options: ErrorOptions = {}
): StoreError => {
  const path = options.path === "" ? undefined : options.path
  const prefix = path ?? (options.entity === undefined ? engine : `${engine} ${options.entity}`)
  return new StoreError({
    reason,
    engine,
    entity: options.entity,
    path,
    message: message.startsWith(`${prefix}:`) ? message : `${prefix}: ${message}`,
    cause: options.cause,
    ...(options.inDoubt === undefined ? {} : { inDoubt: options.inDoubt })
  })
}

/** Node's and undici's codes of a connection that failed or was lost. */
const socketCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTCONN",
  "EAI_AGAIN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_STREAM_DESTROYED",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT"
])

export const connectionLost = (error: unknown): boolean => {
  let current: unknown = error
  // a cause chain is short; a cycle must not hang
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string" && socketCodes.has(code)) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/** The kernel's spans carry no stack trace: their call site is always a line of this file, and each costs an `Error`. */
const captureStackTrace = false

const stepOf = (step: StepContext) => `step ${step.stepId} of saga ${step.sagaId}`

/** The cause of the error a unit fails with when a late claim found the step claimed before. */
class ClaimedBefore {
  constructor(readonly mark: Mark) {}
}

const claimedBefore = (mark: Mark) =>
  new StoreError({
    reason: "Conflict",
    engine: "",
    message: "the step was claimed before",
    cause: new ClaimedBefore(mark)
  })

/**
 * The barrier decision: `None` to apply the step, `Some` to answer with its recorded outcome, or a refusal.
 *
 * A mark without an outcome means an earlier attempt claimed the step and did not finish recording it: on a
 * transactional store that cannot be seen (claim and outcome commit together); on a marker store the earlier write
 * may have applied in part or whole (its reply lost, its process killed). It is never applied again, it fails
 * **in doubt** (`Conflict`, `inDoubt: true`): the saga then resolves it through `resolve`, which reads the markers.
 */
const admit = (
  engine: string,
  entity: string,
  step: Step,
  earlier: Option.Option<Mark>
): Effect.Effect<Option.Option<Outcome>, StoreError> => {
  if (Option.isNone(earlier)) return Effect.succeed(Option.none())
  const mark = earlier.value
  const which = stepOf(step)
  if (mark.kind === "fence") {
    return Effect.fail(
      fail(engine, "Conflict", `${which} was compensated before it arrived; it is refused`, { entity })
    )
  }
  if (mark.fingerprint !== null && mark.fingerprint !== step.fingerprint) {
    return Effect.fail(
      fail(engine, "Conflict", `${which} already ran another operation (a saga id used twice?)`, { entity })
    )
  }
  if (Option.isSome(mark.outcome)) return Effect.succeed(mark.outcome)
  return Effect.fail(
    fail(
      engine,
      "Conflict",
      `${which} is in doubt (an earlier attempt did not finish): it is resolved, not run again`,
      {
        entity,
        inDoubt: true
      }
    )
  )
}

export const make = <Prepared, Unit>(engine: Engine<Prepared, Unit>): Store => {
  const name = engine.name
  // Attempts (and the resolution) of one step through one store run one at a time: a marker store's claim has no
  // transaction to wait on, so a second attempt running beside the first would find its claim unfinished (in doubt).
  const steps = KeyedLock.make()
  const oneAtATime = <A, E>(step: StepContext, effect: Effect.Effect<A, E>) =>
    steps(JSON.stringify([step.sagaId, step.stepId]), effect)
  const capabilities = engine.capabilities
  const max = capabilities.maxRecordsPerOperation
  const barrier = engine.barrier

  /** An error of a `@polysaga/store` helper (an identifier check, say) the engine passed on names no engine. */
  const located = (entity: string) => (error: StoreError): StoreError =>
    error.engine !== undefined ? error : fail(name, error.reason, error.message, {
      entity,
      path: error.path,
      cause: error.cause,
      inDoubt: error.inDoubt
    })

  const prepare = (operation: Operation.Operation, path: string) =>
    Effect.zipRight(Capabilities.check(name, capabilities, operation, path), engine.prepare(operation, path)).pipe(
      Effect.mapError(located(operation.entity))
    )

  const writeContext = (operation: Operation.Operation, step: Step | undefined): WriteContext => {
    const entity = operation.entity
    const allowNoMatch = operation.options.allowNoMatch === true
    return {
      step,
      readLimit: operation.kind === "select" && operation.options.limit !== undefined
        ? operation.options.limit
        : max + 1,
      matched: (count) =>
        count > max
          ? Effect.fail(
            fail(name, "TooManyRecords", `the filter matches more than ${max} records, the per-operation limit`, {
              entity,
              path: "where"
            })
          )
          : count === 0 && !allowNoMatch && (operation.kind === "update" || operation.kind === "delete")
          ? Effect.fail(fail(name, "NoMatch", "no record matches the filter", { entity, path: "where" }))
          : Effect.void,
      fail: (reason, message, options) => fail(name, reason, message, { entity, ...options }),
      recorded: claimedBefore
    }
  }

  /** The answer of a step whose mark was found by its unit (a late claim, or a keyed write's own reads). */
  const answerFrom = (entity: string, step: Step, mark: Mark, error: StoreError): Effect.Effect<Outcome, StoreError> =>
    Effect.flatMap(
      admit(name, entity, step, Option.some(mark)),
      Option.match({ onNone: () => Effect.fail(error), onSome: Effect.succeed })
    )

  /**
   * A store that claims after the write ({@link Barrier.claimWithOutcome}): a unit that found the step claimed
   * before fails with the mark (rolling its write back); the kernel then answers from it. A write that failed asks
   * whether an earlier attempt applied the step (a retry of a step that applied finds its recorded outcome, not its
   * own duplicate-key error); without a mark, or when the store cannot tell, the write's own error stands.
   */
  const lateClaim = barrier?.claimWithOutcome === undefined || barrier.read === undefined ? undefined : {
    claim: barrier.claimWithOutcome,
    answer: (entity: string, step: Step, error: StoreError): Effect.Effect<Outcome, StoreError> => {
      const answer = (mark: Mark) => answerFrom(entity, step, mark, error)
      if (error.cause instanceof ClaimedBefore) return answer(error.cause.mark)
      return barrier.read!(step).pipe(
        Effect.option,
        Effect.flatMap((read) =>
          Option.isSome(read) && Option.isSome(read.value) ? answer(read.value.value) : Effect.fail(error)
        )
      )
    }
  }

  const execute = (operation: Operation.Operation, context?: StepContext): Effect.Effect<Outcome, StoreError> =>
    Effect.gen(function*() {
      const prepared = yield* prepare(operation, "")
      const step: Step | undefined = context !== undefined && operation.kind !== "select" && barrier !== undefined
        ? {
          sagaId: context.sagaId,
          stepId: context.stepId,
          fingerprint: Operation.fingerprint(operation),
          undoId: barrier.keyed?.undoId(context, operation) ?? crypto.randomUUID()
        }
        : undefined
      const write = writeContext(operation, step)
      const run = (effect: Effect.Effect<Outcome, StoreError>) => step === undefined ? effect : oneAtATime(step, effect)
      const late = step === undefined ? undefined : lateClaim
      const outcome = yield* run(
        engine.transaction(operation.entity, (unit) =>
          Effect.gen(function*() {
            if (step !== undefined && late === undefined) {
              const earlier = yield* barrier!.claim(unit, step, "action", step.fingerprint)
              const recorded = yield* admit(name, operation.entity, step, earlier)
              if (Option.isSome(recorded)) return recorded.value
            }
            const written = yield* engine.write(unit, prepared, operation, write)
            if (operation.kind === "select" && operation.options.limit === undefined) {
              yield* write.matched(written.records.length)
            }
            const outcome: Outcome = {
              records: written.records,
              affected: written.affected ?? written.records.length,
              undo: Undo.make(name, operation.entity, written.actions, step?.undoId)
            }
            if (step !== undefined && late !== undefined) {
              const earlier = yield* late.claim(unit, step, outcome)
              // claimed before: roll the write back, answer from the mark after the unit
              if (Option.isSome(earlier)) return yield* Effect.fail(claimedBefore(earlier.value))
            } else if (step !== undefined && barrier!.record !== undefined) {
              yield* barrier!.record(unit, step, outcome)
            }
            return outcome
          })).pipe(
            Effect.catchAll((error) =>
              step === undefined
                ? Effect.fail(error)
                : late !== undefined
                ? late.answer(operation.entity, step, error)
                : error.cause instanceof ClaimedBefore
                ? answerFrom(operation.entity, step, error.cause.mark, error)
                : Effect.fail(error)
            ),
            // a write whose reply was lost (a dropped connection, a timeout after sending) may have applied: in doubt
            Effect.mapError((error) => step !== undefined ? inDoubtOnWrite(error) : error)
          )
      )
      yield* Effect.annotateCurrentSpan("store.affected", outcome.affected)
      return outcome
    }).pipe(Effect.withSpan("Store.execute", {
      attributes: {
        "store.engine": name,
        "store.entity": operation.entity,
        "store.operation": operation.kind,
        ...(context === undefined ? {} : { "saga.id": context.sagaId, "step.id": context.stepId })
      },
      captureStackTrace
    }))

  const undo = (record: Undo.UndoRecord): Effect.Effect<void, StoreError> =>
    Effect.gen(function*() {
      if (record.engine !== name) {
        return yield* fail(name, "Validation", `an undo record of ${record.engine} given to ${name}`, {
          entity: record.entity,
          path: "engine"
        })
      }
      if (record.actions.length === 0) return
      yield* engine.undo(record, (reason, message, options) =>
        fail(name, reason, message, {
          entity: record.entity,
          ...options
        })).pipe(Effect.mapError(located(record.entity)))
    }).pipe(Effect.withSpan("Store.undo", {
      attributes: { "store.engine": name, "store.entity": record.entity, "store.affected": record.actions.length },
      captureStackTrace
    }))

  /**
   * Resolve: claims the step as a fence. Nothing there → fenced, not applied. A fence → not applied. A recorded
   * outcome → applied. A claim without an outcome (a marker store's write in doubt) → the engine's `settle` reads the
   * markers and answers what applied, fencing the rest; a store without `settle` fails (never "not applied" by guess).
   */
  const claimToResolve = (barrier: NonNullable<Engine<Prepared, Unit>["barrier"]>, context: StepContext) =>
    engine.transaction(undefined, (unit) =>
      Effect.flatMap(barrier.claim(unit, context, "fence", null), (earlier) => {
        if (Option.isNone(earlier) || earlier.value.kind === "fence") return Effect.succeed(Option.none())
        const mark = earlier.value
        if (Option.isSome(mark.outcome)) return Effect.succeed(mark.outcome)
        return barrier.settle === undefined
          ? Effect.fail(fail(name, "Unknown", `${stepOf(context)} holds a claim without an outcome; cannot tell`))
          : barrier.settle(unit, context)
      }))

  /**
   * `Store.resolve`: a keyed step (see `Barrier.keyed`) is answered from the records its operation writes, any other
   * by the claim.
   */
  const resolve = barrier === undefined ?
    undefined :
    (context: StepContext, operation?: Operation.Operation) =>
      oneAtATime(
        context,
        barrier.keyed === undefined ? claimToResolve(barrier, context) : Effect.suspend(() => {
          const keyed = barrier.keyed!
          if (operation === undefined) {
            return Effect.fail(
              fail(name, "Validation", `resolving ${stepOf(context)} needs the step's operation on ${name}`)
            )
          }
          const undoId = keyed.undoId(context, operation)
          if (undoId === undefined) return claimToResolve(barrier, context)
          const step: Step = { ...context, fingerprint: Operation.fingerprint(operation), undoId }
          return engine.transaction(operation.entity, (unit) => keyed.resolve(unit, step, operation))
        })
      ).pipe(Effect.withSpan("Store.resolve", {
        attributes: { "store.engine": name, "saga.id": context.sagaId, "step.id": context.stepId },
        captureStackTrace
      }))

  const used = barrier?.used === undefined ?
    undefined :
    (sagaId: string) =>
      engine.transaction(undefined, (unit) => barrier.used!(unit, sagaId)).pipe(
        Effect.withSpan("Store.used", { attributes: { "store.engine": name, "saga.id": sagaId }, captureStackTrace })
      )

  return {
    engine: name,
    capabilities,
    validate: (operation, path = "") => {
      const prepared = prepare(operation, path)
      const check = engine.validate
      return check === undefined
        ? Effect.asVoid(prepared)
        : Effect.flatMap(prepared, (p) => check(p, operation, path))
    },
    execute,
    undo,
    ping: engine.ping,
    resolve,
    used,
    prune: engine.prune
  }
}
