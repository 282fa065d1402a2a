/**
 * The store kernel: builds a `Store` from an engine's primitives and owns, once, the checks, the error convention,
 * the select bound, the undo record's engine check, the spans and the step-barrier protocol.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Capabilities from "../Capabilities.js"
import * as Operation from "../Operation.js"
import type { Engine, ErrorOptions, Mark, Outcome, Step, StepContext, Store, WriteContext } from "../Store.js"
import { StoreError, type StoreErrorReason } from "../StoreError.js"
import * as Undo from "../Undo.js"

export const fail = (
  engine: string,
  reason: StoreErrorReason,
  message: string,
  options: ErrorOptions = {}
): StoreError => {
  const prefix = options.path ?? (options.entity === undefined ? engine : `${engine} ${options.entity}`)
  return new StoreError({
    reason,
    engine,
    entity: options.entity,
    path: options.path,
    message: message.startsWith(`${prefix}:`) ? message : `${prefix}: ${message}`,
    cause: options.cause
  })
}

/** The barrier decision: `None` to apply the step, `Some` to answer with its recorded outcome, or a refusal. */
const admit = (
  engine: string,
  entity: string,
  step: Step,
  earlier: Option.Option<Mark>
): Effect.Effect<Option.Option<Outcome>, StoreError> => {
  if (Option.isNone(earlier)) return Effect.succeed(Option.none())
  const mark = earlier.value
  const which = `step ${step.stepId} of saga ${step.sagaId}`
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
  // a mark without an outcome (a marker store's write that stopped part way) is applied again: each record's
  // write carries the marker, so the records it already wrote are not written twice
  return Effect.succeed(mark.outcome)
}

export const make = <Prepared, Unit>(engine: Engine<Prepared, Unit>): Store => {
  const name = engine.name
  const capabilities = engine.capabilities
  const max = capabilities.maxRecordsPerOperation
  const barrier = engine.barrier

  const prepare = (operation: Operation.Operation, path: string) =>
    Effect.zipRight(Capabilities.check(name, capabilities, operation, path), engine.prepare(operation, path))

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
      fail: (reason, message, options) => fail(name, reason, message, { entity, ...options })
    }
  }

  const execute = (operation: Operation.Operation, context?: StepContext): Effect.Effect<Outcome, StoreError> =>
    Effect.gen(function*() {
      const prepared = yield* prepare(operation, "")
      const step: Step | undefined = context !== undefined && operation.kind !== "select" && barrier !== undefined
        ? { sagaId: context.sagaId, stepId: context.stepId, fingerprint: Operation.fingerprint(operation) }
        : undefined
      const write = writeContext(operation, step)
      const outcome = yield* engine.transaction(operation.entity, (unit) =>
        Effect.gen(function*() {
          if (step !== undefined) {
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
            undo: Undo.make(name, operation.entity, written.actions)
          }
          if (step !== undefined) yield* barrier!.record(unit, step, outcome)
          return outcome
        }))
      yield* Effect.annotateCurrentSpan("store.affected", outcome.affected)
      return outcome
    }).pipe(Effect.withSpan("Store.execute", {
      attributes: {
        "store.engine": name,
        "store.entity": operation.entity,
        "store.operation": operation.kind,
        ...(context === undefined ? {} : { "saga.id": context.sagaId, "step.id": context.stepId })
      }
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
        }))
    }).pipe(Effect.withSpan("Store.undo", {
      attributes: { "store.engine": name, "store.entity": record.entity, "store.affected": record.actions.length }
    }))

  const resolve = barrier === undefined ?
    undefined :
    (context: StepContext) =>
      engine.transaction(undefined, (unit) =>
        Effect.map(
          barrier.claim(unit, context, "fence", null),
          (earlier) => Option.isNone(earlier) || earlier.value.kind === "fence" ? Option.none() : earlier.value.outcome
        )).pipe(Effect.withSpan("Store.resolve", {
          attributes: { "store.engine": name, "saga.id": context.sagaId, "step.id": context.stepId }
        }))

  const used = barrier?.used === undefined ?
    undefined :
    (sagaId: string) =>
      engine.transaction(undefined, (unit) => barrier.used!(unit, sagaId)).pipe(
        Effect.withSpan("Store.used", { attributes: { "store.engine": name, "saga.id": sagaId } })
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
