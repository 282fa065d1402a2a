import { type RecoveryResult, Saga, SagaJournal, Step } from "@polysaga/saga"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FC from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import type {
  RunScenarioOptions,
  SagaScenario,
  SagaShape,
  ScenarioEvent,
  ScenarioOptions,
  ScenarioRun
} from "../index.js"
import { faultPlan, injectFaults } from "./faults.js"
import { dependencies, flow, sagaShape, stepIds } from "./shape.js"

const DEFINITION = "polysaga.scenario.step"
const local = (id: string) => id.slice(id.lastIndexOf("/") + 1)
const engineIdOf = (shape: SagaShape, id: string) => stepIds(shape).find((engineId) => local(engineId) === id)!

/** @internal */
export const sagaScenario = (options: ScenarioOptions = {}): FC.Arbitrary<SagaScenario> =>
  sagaShape(options).chain((shape) => {
    const ids = stepIds(shape).map(local)
    return FC.record({
      shape: FC.constant(shape),
      plan: faultPlan(ids, options),
      interruptAt: options.interruption === false
        ? FC.constant(undefined)
        : FC.option(FC.constantFrom(...ids), { nil: undefined, freq: 4 }),
      cut: FC.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      resolvable: options.resolution === false ? FC.constant(false) : FC.boolean()
    })
  })

const nothingToRecover = (id: string): RecoveryResult => ({
  id,
  status: "compensated",
  alreadyFinished: false,
  compensatedSteps: [],
  pendingCompensations: [],
  inDoubt: [],
  resolvedSteps: []
})

/** @internal */
export const runScenario = (scenario: SagaScenario, options: RunScenarioOptions = {}): Effect.Effect<ScenarioRun> =>
  Effect.gen(function*() {
    const { interruptAt, plan, resolvable, shape } = scenario
    const sagaId = `scenario-${randomUUID()}`
    const engineId = new Map(stepIds(shape).map((id) => [local(id), id]))
    const events: Array<ScenarioEvent> = []
    const reached = yield* Deferred.make<void>()
    const retries = Schedule.recurs(Math.max(0, ...Object.values(plan).map((f) => f.transientFailures)))
    const compensationRetries = Schedule.recurs(
      Math.max(0, ...Object.values(plan).map((f) => f.compensationTransientFailures))
    )
    // With `resolvable`, steps journal their input and recovery asks whether an in-doubt step applied: it did
    // exactly when its action ran (the `Completed` event), as a store barrier would answer.
    const resolution = resolvable
      ? {
        input: Schema.String,
        resolve: (_input: string, context: Step.StepContext) =>
          Effect.sync(() =>
            events.some((e) => e._tag === "Completed" && e.stepId === context.stepId)
              ? Option.some(local(context.stepId))
              : Option.none()
          )
      }
      : {}
    const definition = Step.define({
      name: DEFINITION,
      result: Schema.String,
      compensate: (id: string) =>
        Effect.sync(() => void events.push({ _tag: "Compensated", stepId: engineId.get(id)! })),
      ...resolution
    })
    const inject = injectFaults(plan, { retry: retries, compensationRetry: compensationRetries })

    const step = (id: string, input: string) => {
      const action = id === interruptAt
        ? Deferred.succeed(reached, void 0).pipe(Effect.zipRight(Effect.never))
        : Effect.sync(() => {
          events.push({ _tag: "Completed", stepId: engineId.get(id)! })
          return id
        })
      const faulty = inject(Step.fromDefinition(definition, action, { id, input }))
      let started = false
      const observed = Effect.suspend(() => {
        if (!started) events.push({ _tag: "Started", stepId: engineId.get(id)!, input })
        started = true
        return faulty.action
      })
      return Saga.step({ ...faulty, action: observed })
    }
    const compile = (node: SagaShape, input: string): Effect.Effect<string, unknown, Saga.SagaContext> => {
      switch (node._tag) {
        case "Step":
          return step(node.id, input)
        case "Sequence":
          return Effect.reduce(node.children, input, (value, child) => compile(child, value))
        case "Concurrent":
          return Effect.all(node.children.map((child) => compile(child, input)), {
            concurrency: node.concurrency
          }).pipe(Effect.map((values) => values.join("+")))
        case "Nested":
          return Saga.step(Saga.make(node.name, compile(node.body, input)))
      }
    }

    const journal = options.journal ?? (yield* SagaJournal.makeMemory())
    const fiber = yield* Saga.execute(Saga.make("scenario", compile(shape, "input")), { id: sagaId }).pipe(
      Effect.provideService(SagaJournal.SagaJournal, journal),
      Effect.fork
    )
    if (interruptAt !== undefined) yield* Effect.raceFirst(Deferred.await(reached), Fiber.await(fiber))
    const exit = interruptAt === undefined ? yield* Fiber.await(fiber) : yield* Fiber.interrupt(fiber)
    const entries = yield* Effect.orDie(journal.entries(sagaId))

    // Recovery from the journal cut at some point, as if the process died there: the prefix is journaled again as
    // another saga (`…:cut`) of the same journal, and recovered.
    const cutId = `${sagaId}:cut`
    const cut = 1 + Math.floor(scenario.cut * entries.length)
    const prefix = entries.slice(0, cut).map((entry) => ({ ...entry, sagaId: cutId }))
    const undone: Array<string> = []
    yield* Effect.orDie(Effect.forEach(prefix, journal.append, { discard: true }))
    const registry = Step.registry(Step.define({
      name: DEFINITION,
      result: Schema.String,
      compensate: (id: string) => Effect.sync(() => void undone.push(engineId.get(id)!)),
      ...resolution
    }))
    const recovery = yield* Saga.recover(cutId, registry).pipe(
      Effect.provideService(SagaJournal.SagaJournal, journal),
      // a durable journal may write a `SagaStarted` together with the saga's next entry: cut right after it, the
      // saga left no record, and there is nothing to recover
      Effect.catchTag(
        "RecoveryError",
        (error) => prefix.length === 1 ? Effect.succeed(nothingToRecover(cutId)) : Effect.fail(error)
      ),
      Effect.orDie
    )
    return {
      scenario,
      result: Exit.isSuccess(exit) ? exit.value : undefined,
      events,
      journal: entries,
      recovery: { journal: prefix, result: recovery, undone }
    }
  })

const indexOf = (list: ReadonlyArray<string>) => new Map(list.map((id, i) => [id, i]))
const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && new Set(a).size === a.length && b.every((x) => a.includes(x))

/** @internal */
export const checkScenario = (run: ScenarioRun): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const check = (ok: boolean, problem: string) => void (ok || problems.push(problem))
  const { events, journal, result, scenario } = run
  const { interruptAt, plan, shape } = scenario
  const of = (tag: ScenarioEvent["_tag"]) => events.filter((e) => e._tag === tag).map((e) => e.stepId)
  const started = of("Started")
  const completed = of("Completed")
  const compensated = of("Compensated")
  const faults = (id: string) => plan[local(id)]
  const entries = <T extends SagaJournal.JournalEntry["_tag"]>(tag: T) =>
    journal.filter((e): e is Extract<SagaJournal.JournalEntry, { _tag: T }> => e._tag === tag)
  const ended = entries("SagaEnded").at(-1)

  // the outcome: the result, or (the run was interrupted) what the journal says
  const status = result?.status ?? ended?.status
  const compensatedSteps = result?.compensatedSteps ?? entries("CompensationSucceeded").map((e) => e.stepId)
  check(status !== undefined, "the saga has no outcome")
  check(new Set(started).size === started.length, `a step started twice: ${started}`)
  check(new Set(compensated).size === compensated.length, `a step was compensated twice: ${compensated}`)
  check(compensated.every((id) => completed.includes(id)), `a step that never completed was compensated`)
  check(
    JSON.stringify(compensatedSteps) === JSON.stringify(compensated),
    `compensatedSteps ${compensatedSteps} differ from the compensations that ran ${compensated}`
  )
  if (result !== undefined) {
    check(sameSet(result.completedSteps, completed), `completedSteps ${result.completedSteps} ≠ ${completed}`)
    for (const id of completed) {
      check(
        result.steps[id]?.attempts === faults(id)!.transientFailures + 1,
        `step ${id}: ${result.steps[id]?.attempts} attempts for ${faults(id)!.transientFailures} transient failures`
      )
    }
  }

  // status
  const failing = Object.entries(plan).find(([, f]) => f.fails)?.[0]
  const failed = result === undefined || failing === undefined ? undefined : result.steps[engineIdOf(shape, failing)]
  if (failed !== undefined && failed.error !== "interrupted") {
    check(
      failed.attempts === faults(failed.id)!.transientFailures + 1,
      `failing step ${failed.id}: ${failed.attempts} attempts, a business error must not be retried`
    )
  }
  const undoFails = completed.some((id) => faults(id)!.compensationFails)
  if (status === "completed") {
    check(failing === undefined && interruptAt === undefined, "completed despite a planned failure")
    check(compensated.length === 0, "completed, yet steps were compensated")
    check(sameSet(completed, stepIds(shape)), "completed, but not every step completed")
    check(result?.value === flow(shape, "input").output, `completed with value ${result?.value}`)
  } else {
    check(failing !== undefined || interruptAt !== undefined, `${status} without a planned failure`)
  }
  if (status !== "completed") {
    check((status === "failed") === undoFails, `status ${status}, but a compensation was planned to fail: ${undoFails}`)
  }
  if (status === "compensated") {
    check(sameSet(compensated, completed), `compensated ${compensated}, completed ${completed}`)
    check((result?.pendingCompensations.length ?? 0) === 0, "compensated, yet compensations are pending")
  }
  if (status === "failed" && result !== undefined) {
    const pending = result.pendingCompensations
    check(sameSet([...compensated, ...pending], completed), `undone ${compensated} + pending ${pending} ≠ ${completed}`)
    check(pending.length > 0 && faults(pending[0]!)!.compensationFails, `pending ${pending} starts with a sound step`)
  }

  // order: a step is undone before anything it depended on; nothing after a failure starts; results flow
  const position = indexOf(compensated)
  const { inputs } = flow(shape, "input")
  for (const [before, after] of dependencies(shape)) {
    if (position.has(before) && position.has(after)) {
      check(position.get(after)! < position.get(before)!, `${before} was undone before ${after}, which needed it`)
    }
    const stopped = local(before) === failing || local(before) === interruptAt
    check(!(stopped && started.includes(after)), `${after} started after ${before} failed`)
  }
  for (const event of events) {
    if (event._tag === "Started") {
      check(inputs.get(local(event.stepId)) === event.input, `${event.stepId} received ${event.input}`)
    }
  }

  // journal: every intent has one outcome, the end matches
  const outcomes = new Map<string, number>()
  for (const e of journal) {
    if (e._tag === "StepSucceeded" || e._tag === "StepFailed") {
      outcomes.set(`${e.stepId}#${e.attempt}`, (outcomes.get(`${e.stepId}#${e.attempt}`) ?? 0) + 1)
    }
  }
  for (const e of entries("StepIntent")) {
    check(outcomes.get(`${e.stepId}#${e.attempt}`) === 1, `intent ${e.stepId}#${e.attempt} has no single outcome`)
  }
  check(
    entries("CompensationIntent").length ===
      entries("CompensationSucceeded").length + entries("CompensationFailed").length,
    "a compensation intent has no outcome"
  )
  check(journal[0]?._tag === "SagaStarted" && journal.at(-1) === ended, "the journal does not start and end the saga")
  check(ended?.status === status, `the journal ends with ${ended?.status}, the saga with ${status}`)
  check(sameSet(entries("StepSucceeded").map((e) => e.stepId), completed), "journaled successes ≠ completed steps")

  // recovery from the journal cut short compensates exactly what was completed and not yet compensated
  // (with `resolvable`, the steps in doubt at the cut are settled first: those whose action ran are undone first)
  const { journal: prefix, result: recovery, undone } = run.recovery
  const done = new Set(prefix.flatMap((e) => e._tag === "CompensationSucceeded" ? [e.stepId] : []))
  const inDoubt = new Map<string, number>()
  prefix.forEach((e, i) => {
    if (e._tag === "StepIntent") {
      inDoubt.delete(e.stepId)
      inDoubt.set(e.stepId, i)
    } else if (e._tag === "StepSucceeded" || e._tag === "StepFailed") inDoubt.delete(e.stepId)
  })
  const doubts = Array.from(inDoubt.keys())
  const applied = scenario.resolvable ? doubts.filter((id) => completed.includes(id)) : []
  const expected = recovery.alreadyFinished ? [] : [
    ...applied.slice().reverse(),
    ...prefix.flatMap((e) => e._tag === "StepSucceeded" && !done.has(e.stepId) ? [e.stepId] : []).reverse()
  ]
  check(recovery.alreadyFinished === prefix.some((e) => e._tag === "SagaEnded"), "recovery misread the saga's end")
  check(JSON.stringify(undone) === JSON.stringify(expected), `recovery undid ${undone}, expected ${expected}`)
  check(JSON.stringify(recovery.compensatedSteps) === JSON.stringify(undone), "recovery misreports what it undid")
  if (!recovery.alreadyFinished) {
    const left = scenario.resolvable ? [] : doubts
    check(sameSet(recovery.inDoubt, left), `in doubt ${recovery.inDoubt}, expected ${left}`)
    check(recovery.status === (left.length > 0 ? "failed" : "compensated"), `recovery status ${recovery.status}`)
    const resolved = scenario.resolvable ? doubts.map((id) => `${id}:${completed.includes(id)}`) : []
    check(
      sameSet(recovery.resolvedSteps.map((r) => `${r.stepId}:${r.applied}`), resolved),
      `resolved ${JSON.stringify(recovery.resolvedSteps)}, expected ${resolved}`
    )
  }
  return problems
}
