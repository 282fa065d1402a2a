import { Saga, type SagaJournal } from "@polysaga/saga"
import { Undo } from "@polysaga/store"
import { Transaction } from "@polysaga/warehouse"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { StepRecord, TransactionRecord } from "../Api.js"

type Entry = SagaJournal.JournalEntry

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const iso = (at: number) => new Date(at).toISOString()

const decodeOutcome = Schema.decodeUnknownOption(Transaction.StepOutcome)

/** The part of a warehouse step's journaled input the console shows: the source tag and the operation. */
const decodeInput = Schema.decodeUnknownOption(Schema.Struct({
  tag: Schema.String,
  operation: Schema.Struct({
    operation: Schema.String,
    from: Schema.Struct({ entity: Schema.String })
  })
}))

/**
 * A saga as its journal tells it: the steps (attempts, timings, results, errors, compensation), the end, and what
 * is left to undo. `undefined` when the journal holds nothing for `sagaId`.
 */
export const fromEntries = (
  sagaId: string,
  entries: ReadonlyArray<Entry>,
  engineOf: (tag: string) => string | undefined = () => undefined
): TransactionRecord | undefined => {
  const started = entries.find((entry): entry is Extract<Entry, { _tag: "SagaStarted" }> =>
    entry._tag === "SagaStarted"
  )
  if (started === undefined) return undefined
  const steps = new Map<string, Mutable<StepRecord> & { firstAt: number }>()
  const compensatedSteps: Array<string> = []
  const events: Array<TransactionRecord["events"][number]> = []
  let status: TransactionRecord["status"] = "running"
  let endedAt: number | undefined
  let error: string | undefined
  let resolution: TransactionRecord["resolution"]
  /** The inputs of the steps journaled by the saga's plan (they have no intent). */
  const planned = new Map((started.plan ?? []).map((step) => [step.stepId, step.input]))
  /** A step seen for the first time: what its input says (source, entity, operation). */
  const stepOf = (stepId: string, name: string, attempts: number, at: number, raw: unknown) => {
    const input = decodeInput(raw)
    const engine = Option.isSome(input) ? engineOf(input.value.tag) : undefined
    const step: Mutable<StepRecord> & { firstAt: number } = {
      id: stepId,
      name,
      status: "running",
      attempts,
      startedAt: iso(at),
      firstAt: at,
      ...(Option.isSome(input)
        ? {
          tag: input.value.tag,
          ...(engine === undefined ? {} : { engine }),
          entity: input.value.operation.from.entity,
          operation: input.value.operation.operation
        }
        : {})
    }
    steps.set(stepId, step)
    return step
  }
  for (const entry of entries) {
    switch (entry._tag) {
      case "SagaStarted":
        events.push({ at: iso(entry.at), type: entry._tag })
        break
      case "StepIntent": {
        const step = steps.get(entry.stepId)
        if (step === undefined) {
          stepOf(entry.stepId, entry.name, entry.attempt, entry.at, entry.input)
        } else {
          step.attempts = entry.attempt
          step.status = "running"
          delete step.error
        }
        events.push({ at: iso(entry.at), type: entry._tag, stepId: entry.stepId, attempt: entry.attempt })
        break
      }
      case "StepSucceeded":
      case "StepFailed": {
        // a step journaled by the plan has no intent: its outcome is its first entry
        const step = steps.get(entry.stepId) ?? (planned.has(entry.stepId)
          ? stepOf(entry.stepId, entry.name, entry.attempt, entry.startedAt ?? entry.at, planned.get(entry.stepId))
          : undefined)
        const ok = entry._tag === "StepSucceeded"
        if (step !== undefined) {
          step.attempts = Math.max(step.attempts, entry.attempt)
          step.status = ok ? "completed" : "failed"
          step.endedAt = iso(entry.at)
          step.duration = entry.at - step.firstAt
          if (entry.resolved === true) step.resolved = true
          const outcome = ok ? decodeOutcome(entry.result) : Option.none()
          if (Option.isSome(outcome)) {
            step.tag = outcome.value.tag
            step.engine = outcome.value.undo.engine
            step.entity = outcome.value.undo.entity
            step.data = outcome.value.records
            step.affectedRows = outcome.value.affected
            step.undo = outcome.value.undo.actions.map(Undo.describe)
          }
          if (!ok) step.error = entry.error
        }
        events.push({
          at: iso(entry.at),
          type: entry._tag,
          stepId: entry.stepId,
          attempt: entry.attempt,
          ...(ok ? {} : { error: entry.error })
        })
        break
      }
      case "CompensationIntent": {
        const step = steps.get(entry.stepId)
        if (step !== undefined) {
          step.status = "compensating"
          step.compensation = { status: "running", startedAt: iso(entry.at) }
        }
        events.push({ at: iso(entry.at), type: entry._tag, stepId: entry.stepId })
        break
      }
      case "CompensationSucceeded":
      case "CompensationFailed": {
        const step = steps.get(entry.stepId)
        const ok = entry._tag === "CompensationSucceeded"
        if (step !== undefined) {
          step.status = ok ? "compensated" : "compensationFailed"
          const since = step.compensation === undefined ? entry.at : Date.parse(step.compensation.startedAt)
          step.compensation = {
            status: ok ? "succeeded" : "failed",
            startedAt: iso(since),
            endedAt: iso(entry.at),
            duration: entry.at - since,
            ...(ok ? {} : { error: entry.error })
          }
        }
        if (ok) compensatedSteps.push(entry.stepId)
        events.push({
          at: iso(entry.at),
          type: entry._tag,
          stepId: entry.stepId,
          ...(ok ? {} : { error: entry.error })
        })
        break
      }
      case "SagaEnded":
        status = entry.status
        endedAt = entry.at
        error = entry.error
        events.push({
          at: iso(entry.at),
          type: entry._tag,
          status: entry.status,
          ...(entry.error === undefined ? {} : { error: entry.error })
        })
        break
      case "SagaReopened":
        status = "running"
        endedAt = undefined
        resolution = undefined
        events.push({ at: iso(entry.at), type: entry._tag, error: entry.reason })
        break
      case "SagaResolved":
        resolution = { at: iso(entry.at), reason: entry.reason }
        events.push({ at: iso(entry.at), type: entry._tag, reason: entry.reason })
        break
    }
  }
  const plan = Saga.compensationPlan(sagaId, entries)
  return {
    id: sagaId,
    name: started.name,
    status,
    startedAt: iso(started.at),
    ...(endedAt === undefined ? {} : { endedAt: iso(endedAt), executionTime: endedAt - started.at }),
    ...(error === undefined ? {} : { error }),
    ...(resolution === undefined ? {} : { resolution }),
    steps: Array.from(steps.values(), ({ firstAt: _, ...step }) => step),
    compensatedSteps,
    pendingCompensations: status === "failed" || (status === "running" && plan.undoing)
      ? plan.steps.map((step) => step.stepId)
      : [],
    // a running saga's steps of the plan without an outcome are in doubt too: recovery asks their barriers
    inDoubt: status === "running" ? [...plan.inDoubt, ...plan.planned.map((step) => step.stepId)] : plan.inDoubt,
    events
  }
}
