import { assert, describe, it } from "@effect/vitest"
import { Saga, SagaError, SagaJournal, Step } from "@polysaga/saga"
import { Cause, Data, Deferred, Duration, Effect, Exit, Fiber, Option, Schedule, Schema, TestClock } from "effect"

class Declined extends Data.TaggedError("Declined")<{ readonly reason: string }> {}

/** A log of what happened, and steps that write to it. */
const makeLog = () => {
  const events: Array<string> = []
  const step = <A>(name: string, value: A, options: {
    readonly fail?: unknown
    readonly id?: string
    readonly failCompensation?: boolean
  } = {}) =>
    Step.make({
      name,
      ...(options.id ? { id: options.id } : {}),
      action: options.fail === undefined
        ? Effect.sync(() => {
          events.push(`do:${options.id ?? name}`)
          return value
        })
        : Effect.fail(options.fail),
      compensate: () =>
        options.failCompensation
          ? Effect.fail(new Declined({ reason: "cannot undo" }))
          : Effect.sync(() => void events.push(`undo:${options.id ?? name}`)),
      compensationRetry: Schedule.recurs(2)
    })
  return { events, step }
}

/** A saga that runs the given steps one after the other. */
const sequence = (name: string, ...steps: ReadonlyArray<Step.Step<any, any>>) =>
  Saga.make(name, Effect.forEach(steps, (step) => Saga.step(step), { discard: true }))

describe("Saga", () => {
  it.effect("completes and passes results to later steps", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = Saga.make(
        "order",
        Effect.gen(function*() {
          const order = yield* Saga.step(step("create", { id: "o1" }))
          const reserved = yield* Saga.step(step("reserve", `${order.id}:reserved`))
          return reserved
        })
      )
      const result = yield* Saga.execute(saga, { id: "s1" })
      assert.strictEqual(result.status, "completed")
      assert.strictEqual(result.value, "o1:reserved")
      assert.strictEqual(result.id, "s1")
      assert.deepStrictEqual(result.completedSteps, ["create", "reserve"])
      assert.deepStrictEqual(result.compensatedSteps, [])
      assert.deepStrictEqual(events, ["do:create", "do:reserve"])
      assert.strictEqual(result.steps["reserve"]?.result, "o1:reserved")
      assert.strictEqual(result.steps["reserve"]?.attempts, 1)
    }))

  it.effect("undoes completed steps in reverse order when a step fails; later steps never start", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = sequence(
        "order",
        step("a", 1),
        step("b", 2),
        step("c", 3, { fail: new Declined({ reason: "card" }) }),
        step("d", 4)
      )
      const result = yield* Saga.execute(saga)
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual(result.compensatedSteps, ["b", "a"])
      assert.deepStrictEqual(result.pendingCompensations, [])
      assert.deepStrictEqual(events, ["do:a", "do:b", "undo:b", "undo:a"])
      assert.strictEqual(result.steps["c"]?.status, "failed")
      assert.strictEqual(result.steps["d"], undefined)
      assert.strictEqual(result.error, "Declined {\"reason\":\"card\"}")
      const error = yield* Effect.flip(Saga.run(saga))
      assert.strictEqual(error._tag, "StepFailed")
      assert.strictEqual(error._tag === "StepFailed" && error.stepId, "c")
    }))

  it.effect("retries transient errors only", () =>
    Effect.gen(function*() {
      let calls = 0
      const flaky = Step.make({
        name: "flaky",
        action: Effect.suspend(() =>
          ++calls < 3 ? Effect.fail(new SagaError.Transient({ cause: "connection reset" })) : Effect.succeed(calls)
        ),
        retry: Schedule.recurs(5)
      })
      const ok = yield* Saga.execute(Saga.make("t", Saga.step(flaky)))
      assert.strictEqual(ok.status, "completed")
      assert.strictEqual(ok.steps["flaky"]?.attempts, 3)

      let businessCalls = 0
      const business = Step.make({
        name: "business",
        action: Effect.suspend(() => {
          businessCalls++
          return Effect.fail(new Declined({ reason: "no" }))
        }),
        retry: Schedule.recurs(5)
      })
      const failed = yield* Saga.execute(Saga.make("b", Saga.step(business)))
      assert.strictEqual(failed.status, "compensated")
      assert.strictEqual(businessCalls, 1)
      assert.strictEqual(failed.steps["business"]?.attempts, 1)

      // per-step override: everything is transient
      let overridden = 0
      const always = Step.make({
        name: "always",
        action: Effect.suspend(() => ++overridden < 2 ? Effect.fail(new Declined({ reason: "x" })) : Effect.void),
        retry: Schedule.recurs(3),
        isTransient: () => true
      })
      assert.strictEqual((yield* Saga.execute(Saga.make("o", Saga.step(always)))).status, "completed")
    }))

  it.effect("a step timeout is transient and retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const slow = Step.make({
        name: "slow",
        action: Effect.suspend(() => ++calls === 1 ? Effect.never : Effect.succeed("fast")),
        timeout: "10 millis",
        retry: Schedule.recurs(1)
      })
      const fiber = yield* Effect.fork(Saga.execute(Saga.make("t", Saga.step(slow))))
      yield* TestClock.adjust("10 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.status, "completed")
      assert.strictEqual(result.steps["slow"]?.attempts, 2)
    }))

  describe("saga timeout", () => {
    const timed = (events: ReturnType<typeof makeLog>) =>
      Saga.make(
        "slow",
        Effect.gen(function*() {
          yield* Saga.step(events.step("a", 1))
          yield* Saga.step(events.step("b", 2))
          yield* Effect.sleep("1 second")
          yield* Saga.step(events.step("c", 3))
        })
      )

    it.effect("compensateOnTimeout: true undoes and reports compensated", () =>
      Effect.gen(function*() {
        const log = makeLog()
        const fiber = yield* Effect.fork(Saga.execute(timed(log), { timeout: "100 millis" }))
        yield* TestClock.adjust("100 millis")
        const result = yield* Fiber.join(fiber)
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(result.compensatedSteps, ["b", "a"])
        assert.deepStrictEqual(result.pendingCompensations, [])
        assert.include(result.error, "timed out")
      }))

    it.effect("compensateOnTimeout: false leaves the done steps and reports failed", () =>
      Effect.gen(function*() {
        const log = makeLog()
        const fiber = yield* Effect.fork(
          Saga.run(timed(log), { timeout: "100 millis", compensateOnTimeout: false }).pipe(Effect.flip)
        )
        yield* TestClock.adjust("100 millis")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "SagaTimeout")
        assert.deepStrictEqual(log.events, ["do:a", "do:b"])

        const fiber2 = yield* Effect.fork(
          Saga.execute(timed(makeLog()), { timeout: "100 millis", compensateOnTimeout: false })
        )
        yield* TestClock.adjust("100 millis")
        const result = yield* Fiber.join(fiber2)
        assert.strictEqual(result.status, "failed")
        assert.deepStrictEqual(result.compensatedSteps, [])
        assert.deepStrictEqual(result.pendingCompensations, ["b", "a"])
      }))
    it.live("on the default clock (a timer, no fiber sleeping): the saga fails with SagaTimeout and the undo runs", () =>
      Effect.gen(function*() {
        const log = makeLog()
        const error = yield* Saga.run(timed(log), { timeout: "30 millis" }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "SagaTimeout")
        assert.deepStrictEqual(log.events, ["do:a", "do:b", "undo:b", "undo:a"])
        // a saga that ends before its timeout is not cut off
        const quick = yield* Saga.execute(Saga.make("quick", Saga.step(makeLog().step("q", 1))), {
          timeout: "30 millis"
        })
        assert.strictEqual(quick.status, "completed")
      }))

    it.effect("the caller's interruption before the timeout interrupts the body and undoes, not a SagaTimeout", () =>
      Effect.gen(function*() {
        const log = makeLog()
        const fiber = yield* Effect.fork(Saga.execute(timed(log), { timeout: "10 seconds" }))
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(log.events, ["do:a", "do:b", "undo:b", "undo:a"])
      }))
  })

  it.effect("interruption compensates like a failure", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const reached = yield* Deferred.make<void>()
      const saga = Saga.make(
        "interrupted",
        Effect.gen(function*() {
          yield* Saga.step(step("a", 1))
          yield* Saga.step(step("b", 2))
          yield* Saga.step(
            Step.make({ name: "hang", action: Deferred.succeed(reached, void 0).pipe(Effect.zipRight(Effect.never)) })
          )
        })
      )
      const journal = yield* SagaJournal.makeMemory()
      const fiber = yield* Effect.fork(
        Saga.execute(saga, { id: "int" }).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
      )
      yield* Deferred.await(reached)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(events, ["do:a", "do:b", "undo:b", "undo:a"])
      const entries = yield* journal.entries("int")
      const end = entries.at(-1)
      assert.strictEqual(end?._tag, "SagaEnded")
      assert.strictEqual(end?._tag === "SagaEnded" && end.status, "compensated")
    }))

  it.effect("a failed compensation stops the undo: failed, with everything left listed", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = sequence(
        "stuck",
        step("a", 1),
        step("b", 2, { failCompensation: true }),
        step("c", 3),
        step("d", 4, { fail: "boom" })
      )
      const result = yield* Saga.execute(saga)
      assert.strictEqual(result.status, "failed")
      assert.deepStrictEqual(result.compensatedSteps, ["c"])
      assert.deepStrictEqual(result.pendingCompensations, ["b", "a"])
      assert.strictEqual(result.steps["b"]?.status, "compensationFailed")
      assert.strictEqual(result.compensationError, "Declined {\"reason\":\"cannot undo\"}")
      assert.deepStrictEqual(events, ["do:a", "do:b", "do:c", "undo:c"])
      const error = yield* Effect.flip(Saga.run(saga))
      assert.strictEqual(error._tag, "CompensationFailed")
    }))

  it.effect("a compensation that hangs is cut off at its bound: the saga answers failed, the step listed", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const hangs = Step.make({
        name: "frozen",
        action: Effect.succeed(1),
        // a store that never answers, behind a cleanup that cannot be interrupted
        compensate: () => Effect.uninterruptible(Effect.never)
      })
      const saga = sequence("hang", step("a", 1), hangs, step("c", 3, { fail: "boom" }))
      const fiber = yield* Effect.fork(Saga.execute(saga))
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "waits up to the bound")
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.status, "failed")
      assert.deepStrictEqual(result.pendingCompensations, ["frozen", "a"])
      assert.strictEqual(result.steps["frozen"]?.status, "compensationFailed")
      assert.include(result.compensationError, "timed out after 10s")
      assert.deepStrictEqual(events, ["do:a"])
    }))

  it.effect("nested sagas compensate as part of the parent", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const child = Saga.make(
        "child",
        Effect.gen(function*() {
          yield* Saga.step(step("x", 1))
          return yield* Saga.step(step("y", 2))
        })
      )
      const parent = Saga.make(
        "parent",
        Effect.gen(function*() {
          yield* Saga.step(step("a", 1))
          const y = yield* Saga.step(child)
          yield* Saga.step(step("b", y))
          yield* Saga.step(step("c", 3, { fail: "boom" }))
        })
      )
      const result = yield* Saga.execute(parent)
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual(result.completedSteps, ["a", "child/x", "child/y", "b"])
      assert.deepStrictEqual(result.compensatedSteps, ["b", "child/y", "child/x", "a"])
      assert.deepStrictEqual(events.slice(4), ["undo:b", "undo:y", "undo:x", "undo:a"])
    }))

  it.effect("a failing nested saga undoes its own steps before its error reaches the parent", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const child = sequence(
        "child",
        step("x", 1),
        step("y", 2, { fail: "nope" })
      )
      const parent = Saga.make(
        "parent",
        Effect.gen(function*() {
          yield* Saga.step(step("a", 1))
          yield* Saga.step(child).pipe(Effect.catchAll(() => Effect.void))
          return "recovered"
        })
      )
      const result = yield* Saga.execute(parent)
      assert.strictEqual(result.status, "completed")
      assert.deepStrictEqual(result.compensatedSteps, ["child/x"])
      assert.deepStrictEqual(events, ["do:a", "do:x", "undo:x"])
      assert.strictEqual(result.steps["child/x"]?.status, "compensated")
    }))

  it.effect("without a journal, a step's input and result are checked against their Schemas all the same", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const Qty = Schema.Struct({ qty: Schema.Number })
      const made = (name: string, options: { readonly input?: unknown; readonly result?: unknown }) =>
        Step.make({
          name,
          action: Effect.sync(() => {
            events.push(`do:${name}`)
            return (options.result ?? { qty: 1 }) as { readonly qty: number }
          }),
          compensate: () => Effect.sync(() => void events.push(`undo:${name}`)),
          result: Qty,
          input: { schema: Qty, value: options.input ?? { qty: 1 } }
        })

      // a result that does not fit: the step fails (after it acted, so it is undone with the others)
      const badResult = yield* Saga.execute(sequence("r", step("a", 1), made("b", { result: { qty: "two" } })))
      assert.strictEqual(badResult.status, "compensated")
      assert.include(badResult.error, "the result does not fit the step's result Schema")
      assert.include(badResult.error, "qty")
      assert.deepStrictEqual(events.splice(0), ["do:a", "do:b", "undo:b", "undo:a"])
      const error = yield* Effect.flip(Saga.run(sequence("r2", made("b", { result: { qty: "two" } }))))
      assert.strictEqual(error._tag, "SagaDefinitionError")
      events.splice(0)

      // an input that does not fit: the step fails before it acts
      const badInput = yield* Saga.execute(sequence("i", step("a", 1), made("c", { input: { qty: null } })))
      assert.strictEqual(badInput.status, "compensated")
      assert.include(badInput.error, "the input does not fit the step's input Schema")
      assert.deepStrictEqual(events.splice(0), ["do:a", "undo:a"])

      // fitting ones pass
      assert.strictEqual((yield* Saga.execute(sequence("ok", made("d", {})))).status, "completed")
    }))

  it.effect("duplicate step ids are rejected before the step runs; explicit ids make them unique", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = sequence(
        "dup",
        step("reserve", 1),
        step("reserve", 2)
      )
      const error = yield* Effect.flip(Saga.run(saga))
      assert.strictEqual(error._tag, "SagaDefinitionError")
      assert.include(error.message, "duplicate step id \"reserve\"")
      assert.deepStrictEqual(events, ["do:reserve", "undo:reserve"])

      const ok = Saga.make(
        "ids",
        Effect.forEach(["sku1", "sku2"], (sku) => Saga.step(step("reserve", sku, { id: `reserve:${sku}` })))
      )
      const result = yield* Saga.execute(ok)
      assert.deepStrictEqual(Object.keys(result.steps), ["reserve:sku1", "reserve:sku2"])
      assert.strictEqual(result.steps["reserve:sku1"]?.name, "reserve")
    }))

  it.effect("a dependency graph runs independent nodes concurrently and undoes dependents first", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = Saga.make(
        "graph",
        Saga.graph()
          .add("order", [], () => Saga.step(step("order", { id: "o1" })))
          .add("stock", ["order"], ({ order }) => Saga.step(step("stock", `${order.id}:stock`)))
          .add("charge", ["order"], ({ order }) => Saga.step(step("charge", `${order.id}:charge`)))
          .add("event", ["stock", "charge"], () => Saga.step(step("event", 0, { fail: "down" })))
          .run({ concurrency: 2 })
      )
      const result = yield* Saga.execute(saga)
      assert.strictEqual(result.status, "compensated")
      assert.strictEqual(result.compensatedSteps.at(-1), "order")
      assert.sameMembers(result.compensatedSteps.slice(0, 2), ["stock", "charge"])
      assert.strictEqual(events.length, 6)

      const ok = Saga.make(
        "graph-ok",
        Saga.graph()
          .add("a", [], () => Effect.succeed(1))
          .add("b", ["a"], ({ a }) => Effect.succeed(a + 1))
          .run()
      )
      assert.deepStrictEqual((yield* Saga.execute(ok)).value, { a: 1, b: 2 })
    }))

  it.live("a graph undoes independent nodes concurrently, each only after its dependents; running nodes finish", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const undoStarted = { b: yield* Deferred.make<void>(), c: yield* Deferred.make<void>() }
      const node = (name: string, options: { readonly fail?: boolean; readonly delay?: number } = {}) =>
        Saga.step(Step.make({
          name,
          action: Effect.sleep(options.delay ?? 0).pipe(
            Effect.zipRight(options.fail ? Effect.fail(new Declined({ reason: name })) : Effect.succeed(name)),
            Effect.tap(() => Effect.sync(() => void events.push(`do:${name}`)))
          ),
          compensate: () =>
            Effect.gen(function*() {
              events.push(`undo:${name}`)
              // b and c wait for each other: only a concurrent undo gets past this
              if (name === "b" || name === "c") {
                yield* Deferred.succeed(undoStarted[name], undefined)
                const other = undoStarted[name === "b" ? "c" : "b"]
                yield* Deferred.await(other).pipe(
                  Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "sequential" })
                )
              }
              events.push(`undone:${name}`)
            })
        }))
      const saga = Saga.make(
        "diamond",
        Saga.graph()
          .add("a", [], () => node("a"))
          .add("b", ["a"], () => node("b"))
          .add("c", ["a"], () => node("c", { delay: 100 }))
          .add("d", ["b"], () => node("d", { fail: true }))
          .add("e", ["d"], () => node("e"))
          .run({ concurrency: 4 })
      )
      const result = yield* Saga.execute(saga)
      assert.strictEqual(result.status, "compensated", result.compensationError)
      // c was running when d failed: it finished, then was undone; e never started
      assert.include(events, "do:c")
      assert.notInclude(events, "do:e")
      assert.sameMembers([...result.compensatedSteps], ["a", "b", "c"])
      assert.strictEqual(result.compensatedSteps.at(-1), "a")
      assert.isTrue(events.indexOf("undone:b") > events.indexOf("undo:c"), "b and c were undone concurrently")
      assert.isTrue(events.indexOf("undo:a") > events.indexOf("undone:b"))
      assert.isTrue(events.indexOf("undo:a") > events.indexOf("undone:c"))
    }))

  it.effect("a graph with concurrency 1 runs in declaration order and undoes in reverse order", () =>
    Effect.gen(function*() {
      const { events, step } = makeLog()
      const saga = Saga.make(
        "sequential-graph",
        Saga.graph()
          .add("a", [], () => Saga.step(step("a", 1)))
          .add("b", [], () => Saga.step(step("b", 2)))
          .add("c", ["a"], () => Saga.step(step("c", 3)))
          .add("d", [], () => Saga.step(step("d", 0, { fail: "down" })))
          .run({ concurrency: 1 })
      )
      const result = yield* Saga.execute(saga)
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual(events, ["do:a", "do:b", "do:c", "undo:c", "undo:b", "undo:a"])
      assert.deepStrictEqual(result.compensatedSteps, ["c", "b", "a"])
    }))

  it.effect("a step forked in a concurrent group just as a sibling fails never acts after the saga ended", () =>
    Effect.gen(function*() {
      // Effect's `all` does not wait for a child that had not started when its group was interrupted: the inner
      // group's s0 would start after the saga's outcome was decided, and its write would never be undone
      const { events, step } = makeLog()
      const journal = yield* SagaJournal.makeMemory()
      const saga = Saga.make(
        "late-sibling",
        Effect.all([
          Effect.all([Saga.step(step("s0", 0))], { concurrency: 2 }),
          Saga.step(step("s1", 1, { fail: new Declined({ reason: "no" }) })),
          Saga.step(step("s2", 2))
        ], { concurrency: 2 })
      )
      const result = yield* Saga.execute(saga, { id: "late-sibling" }).pipe(
        Effect.provideService(SagaJournal.SagaJournal, journal)
      )
      // let a late fiber run, if one was left
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.strictEqual(result.status, "compensated")
      const entries = (yield* journal.entries("late-sibling")).map((e) => e._tag)
      assert.strictEqual(entries.at(-1), "SagaEnded", `nothing after the end: ${entries}`)
      // what acted was undone, and nothing acted unseen by the saga
      const did = events.filter((e) => e.startsWith("do:")).map((e) => e.slice(3))
      assert.deepStrictEqual(did.sort(), [...result.completedSteps].sort())
      assert.deepStrictEqual(
        events.filter((e) => e.startsWith("undo:")).map((e) => e.slice(5)).sort(),
        [...result.compensatedSteps].sort()
      )
    }))

  it.live("a group of bounded concurrency is waited for: a sibling still finishing when one fails is journaled and undone", () =>
    Effect.gen(function*() {
      // Effect's `all` with a concurrency bound and items not yet started returns on a child's failure before its
      // other running children have finished being interrupted: s1's write, which cannot be cut off, completes after
      // that, and must still be seen by the saga (resolved, undone, journaled) before it answers
      const events: Array<string> = []
      const journal = yield* SagaJournal.makeMemory()
      const slow = Step.make({
        name: "s1",
        action: Effect.sleep("40 millis").pipe(
          Effect.zipRight(Effect.sync(() => void events.push("do:s1"))),
          Effect.uninterruptible,
          Effect.as(1)
        ),
        compensate: () => Effect.sync(() => void events.push("undo:s1")),
        // cut off by the sibling's failure, the step is in doubt: asked, it answers from what it did
        resolve: () => Effect.sync(() => events.includes("do:s1") ? Option.some(1) : Option.none())
      })
      const failing = Step.make({
        name: "s2",
        action: Effect.sleep("5 millis").pipe(Effect.zipRight(Effect.fail(new Declined({ reason: "no" })))),
        compensate: () => Effect.void
      })
      const never = Step.make({
        name: "s3",
        action: Effect.sync(() => void events.push("do:s3")),
        compensate: () => Effect.void
      })
      const saga = Saga.make(
        "bounded-group",
        Effect.all([Saga.step(slow), Saga.step(failing), Saga.step(never)], { concurrency: 2 })
      )
      const result = yield* Saga.execute(saga, { id: "bounded-group" }).pipe(
        Effect.provideService(SagaJournal.SagaJournal, journal)
      )
      const ended = [...events]
      yield* Effect.sleep("80 millis")
      assert.deepStrictEqual(events, ended, "nothing happened after the saga answered")
      assert.deepStrictEqual(ended, ["do:s1", "undo:s1"])
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual([...result.compensatedSteps], ["s1"])
      const entries = (yield* journal.entries("bounded-group")).map((e) =>
        `${e._tag}${"stepId" in e ? ` ${e.stepId}` : ""}`
      )
      assert.strictEqual(entries.at(-1), "SagaEnded", `nothing after the end: ${entries}`)
      assert.include(entries, "StepSucceeded s1")
      assert.include(entries, "CompensationSucceeded s1")
    }))

  it.effect("compensations receive the result and the failure cause", () =>
    Effect.gen(function*() {
      const seen: Array<[number, string]> = []
      const saga = Saga.make(
        "cause",
        Effect.gen(function*() {
          yield* Saga.step(Step.make({
            name: "a",
            action: Effect.succeed(42),
            compensate: (n, cause) => Effect.sync(() => void seen.push([n, Cause.pretty(cause)]))
          }))
          yield* Saga.step(Step.make({ name: "b", action: Effect.fail(new Declined({ reason: "why" })) }))
        })
      )
      yield* Saga.execute(saga)
      assert.strictEqual(seen[0]?.[0], 42)
      assert.include(seen[0]?.[1], "Declined")
    }))
})

describe("journal and recovery", () => {
  const Reservation = Schema.Struct({ sku: Schema.String, qty: Schema.Number })
  const makeStock = () => {
    const released: Array<string> = []
    const reserve = Step.define({
      name: "reserve",
      result: Reservation,
      compensate: (r) => Effect.sync(() => void released.push(r.sku))
    })
    return { released, reserve, registry: Step.registry(reserve) }
  }

  it.effect("journals intents, outcomes and the end; every intent has an outcome", () =>
    Effect.gen(function*() {
      const { reserve } = makeStock()
      const journal = yield* SagaJournal.makeMemory()
      const saga = sequence(
        "j",
        Step.fromDefinition(reserve, Effect.succeed({ sku: "a", qty: 1 }), { id: "r1" }),
        Step.make({ name: "boom", action: Effect.fail("x") as Effect.Effect<void, string> })
      )
      yield* Saga.execute(saga, { id: "j1" }).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
      const tags = (yield* journal.entries("j1")).map((e) => e._tag)
      assert.deepStrictEqual(tags, [
        "SagaStarted",
        "StepIntent",
        "StepSucceeded",
        "StepIntent",
        "StepFailed",
        "CompensationIntent",
        "CompensationSucceeded",
        "SagaEnded"
      ])
      const succeeded = (yield* journal.entries("j1")).find((e) => e._tag === "StepSucceeded")
      assert.deepStrictEqual(succeeded?._tag === "StepSucceeded" && succeeded.result, { sku: "a", qty: 1 })
      assert.deepStrictEqual(yield* journal.unfinished, [])
    }))

  it.effect("recover rebuilds compensations from the journal and the registry", () =>
    Effect.gen(function*() {
      const { registry, released } = makeStock()
      const journal = yield* SagaJournal.makeMemory([
        { _tag: "SagaStarted", sagaId: "r", name: "order", at: 0 },
        { _tag: "StepIntent", sagaId: "r", stepId: "r1", name: "reserve", attempt: 1, at: 1 },
        {
          _tag: "StepSucceeded",
          sagaId: "r",
          stepId: "r1",
          name: "reserve",
          attempt: 1,
          at: 2,
          result: { sku: "a", qty: 1 }
        },
        { _tag: "StepIntent", sagaId: "r", stepId: "r2", name: "reserve", attempt: 1, at: 3 },
        {
          _tag: "StepSucceeded",
          sagaId: "r",
          stepId: "r2",
          name: "reserve",
          attempt: 1,
          at: 4,
          result: { sku: "b", qty: 2 }
        }
      ])
      const layer = SagaJournal.SagaJournal
      assert.deepStrictEqual(yield* journal.unfinished, ["r"])
      const [result] = yield* Saga.recoverAll(registry).pipe(Effect.provideService(layer, journal))
      assert.strictEqual(result?.status, "compensated")
      assert.deepStrictEqual(result?.compensatedSteps, ["r2", "r1"])
      assert.deepStrictEqual(released, ["b", "a"])
      assert.deepStrictEqual(yield* journal.unfinished, [])
      const again = yield* Saga.recover("r", registry).pipe(Effect.provideService(layer, journal))
      assert.isTrue(again.alreadyFinished)
      assert.deepStrictEqual(released, ["b", "a"])
    }))

  it.effect("recovery reports steps in doubt and unknown definitions as failed", () =>
    Effect.gen(function*() {
      const { registry } = makeStock()
      const journal = yield* SagaJournal.makeMemory([
        { _tag: "SagaStarted", sagaId: "d", name: "order", at: 0 },
        { _tag: "StepIntent", sagaId: "d", stepId: "x", name: "unknown", attempt: 1, at: 1 },
        { _tag: "StepSucceeded", sagaId: "d", stepId: "x", name: "unknown", attempt: 1, at: 2 },
        { _tag: "StepIntent", sagaId: "d", stepId: "r1", name: "reserve", attempt: 1, at: 3 }
      ])
      const result = yield* Saga.recover("d", registry).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
      assert.strictEqual(result.status, "failed")
      assert.deepStrictEqual(result.inDoubt, ["r1"])
      assert.deepStrictEqual(result.pendingCompensations, ["x"])
      const missing = yield* Effect.flip(
        Saga.recover("nope", registry).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
      )
      assert.strictEqual(missing._tag, "RecoveryError")
    }))

  describe("in-doubt steps, declared steps, manual retry", () => {
    /** The journal entries of a completed `reserve` step (its input is the sku). */
    const reserved = (sagaId: string, stepId: string, result: { sku: string; qty: number }) => {
      const step = { sagaId, stepId, name: "reserve", attempt: 1, at: 1 }
      return [
        SagaJournal.StepIntent.make({ ...step, input: { sku: result.sku } }),
        SagaJournal.StepSucceeded.make({ ...step, result })
      ]
    }

    /** A store that knows which (saga, step) applied, like a store barrier. */
    const makeBarrierStock = () => {
      const applied = new Map<string, { sku: string; qty: number }>()
      const released: Array<string> = []
      let refuse = 0
      const reserve = Step.define({
        name: "reserve",
        result: Reservation,
        input: Schema.Struct({ sku: Schema.String }),
        compensate: (r) =>
          Effect.suspend(() =>
            refuse-- > 0
              ? Effect.fail(new Declined({ reason: "locked" }))
              : Effect.sync(() => void released.push(r.sku))
          ),
        compensationRetry: Schedule.recurs(1),
        resolve: (input, { sagaId, stepId }) =>
          Effect.sync(() => {
            const hit = applied.get(`${sagaId}/${stepId}`)
            return hit === undefined ? Option.none() : Option.some({ ...hit, sku: input.sku })
          })
      })
      return {
        applied,
        released,
        reserve,
        registry: Step.registry(reserve),
        refuse: (n: number) => void (refuse = n)
      }
    }

    it.effect("the input is encoded into every intent of a step", () =>
      Effect.gen(function*() {
        const { reserve } = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory()
        let attempts = 0
        const flaky = Effect.suspend(() =>
          ++attempts < 2
            ? Effect.fail(new SagaError.Transient({ cause: "blip" }))
            : Effect.succeed({ sku: "a", qty: 1 })
        )
        const step = Step.fromDefinition(reserve, flaky, { id: "r1", input: { sku: "a" }, retry: Schedule.recurs(2) })
        yield* Saga.execute(sequence("i", step), { id: "i1" }).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        const intents = (yield* journal.entries("i1")).filter((e) => e._tag === "StepIntent")
        assert.deepStrictEqual(intents.map((e) => e._tag === "StepIntent" && e.input), [{ sku: "a" }, { sku: "a" }])
      }))

    it.effect("resolve: Some → compensated like a completed step, None → nothing to undo; both journaled", () =>
      Effect.gen(function*() {
        const { applied, registry, released } = makeBarrierStock()
        applied.set("s/r2", { sku: "b", qty: 2 })
        const journal = yield* SagaJournal.makeMemory([
          { _tag: "SagaStarted", sagaId: "s", name: "order", at: 0 },
          ...reserved("s", "r1", { sku: "a", qty: 1 }),
          { _tag: "StepIntent", sagaId: "s", stepId: "r2", name: "reserve", attempt: 1, at: 3, input: { sku: "b" } },
          { _tag: "StepIntent", sagaId: "s", stepId: "r3", name: "reserve", attempt: 1, at: 4, input: { sku: "c" } }
        ])
        const result = yield* Saga.recover("s", registry).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(result.inDoubt, [])
        assert.deepStrictEqual(result.resolvedSteps, [{ stepId: "r2", applied: true }, {
          stepId: "r3",
          applied: false
        }])
        assert.deepStrictEqual(result.compensatedSteps, ["r2", "r1"])
        assert.deepStrictEqual(released, ["b", "a"])
        const entries = yield* journal.entries("s")
        const resolved = entries.filter((e) => (e._tag === "StepSucceeded" || e._tag === "StepFailed") && e.resolved)
        assert.deepStrictEqual(resolved.map((e) => `${e._tag}:${"stepId" in e ? e.stepId : ""}`), [
          "StepSucceeded:r2",
          "StepFailed:r3"
        ])
      }))

    it.effect("a saga that declared its steps and did them all is recovered as completed, nothing undone", () =>
      Effect.gen(function*() {
        const { applied, registry, released } = makeBarrierStock()
        applied.set("c/r2", { sku: "b", qty: 1 })
        const journal = yield* SagaJournal.makeMemory()
        const steps = ["r1", "r2"]
        const cut = Saga.make(
          "cut",
          Effect.gen(function*() {
            const { reserve } = makeBarrierStock()
            yield* Saga.step(Step.fromDefinition(reserve, Effect.succeed({ sku: "a", qty: 1 }), { id: "r1" }))
            // the process dies during r2's action, after it applied: the intent has no outcome, no end is written
            yield* Saga.step(
              Step.fromDefinition(reserve, Effect.interrupt, { id: "r2", input: { sku: "b" } })
            )
          })
        )
        const entries = yield* Saga.execute(cut, { id: "c", steps }).pipe(
          Effect.zipRight(journal.entries("c")),
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        const beforeDeath = entries.slice(0, entries.findIndex((e) => e._tag === "StepFailed"))
        const restarted = yield* SagaJournal.makeMemory(beforeDeath)
        const result = yield* Saga.recover("c", registry).pipe(
          Effect.provideService(SagaJournal.SagaJournal, restarted)
        )
        assert.strictEqual(result.status, "completed")
        assert.deepStrictEqual(result.compensatedSteps, [])
        assert.deepStrictEqual(released, [])
        const end = (yield* restarted.entries("c")).at(-1)
        assert.strictEqual(end?._tag === "SagaEnded" && end.status, "completed")
      }))

    /** An error whose reply was lost: the action may have applied. */
    class LostReply extends Data.TaggedError("LostReply")<{}> {
      readonly inDoubt = true
    }

    it.effect("running: a step that fails in doubt is resolved before the saga compensates (applied → undone)", () =>
      Effect.gen(function*() {
        const { applied, released, reserve } = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory()
        const lost = Effect.suspend(() => {
          applied.set("d1/r2", { sku: "b", qty: 2 }) // the store applied it, the reply never came back
          return Effect.fail(new LostReply())
        })
        const saga = sequence(
          "order",
          Step.fromDefinition(reserve, Effect.succeed({ sku: "a", qty: 1 }), { id: "r1", input: { sku: "a" } }),
          Step.fromDefinition(reserve, lost, { id: "r2", input: { sku: "b" } })
        )
        const result = yield* Saga.execute(saga, { id: "d1" }).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(released, ["b", "a"], "the in-doubt step is undone first, then the completed one")
        assert.deepStrictEqual(result.compensatedSteps, ["r2", "r1"])
        assert.strictEqual(result.steps["r2"]?.status, "compensated")
        const tags = (yield* journal.entries("d1")).filter((e) => "stepId" in e && e.stepId === "r2").map((e) =>
          `${e._tag}${"resolved" in e && e.resolved ? "(resolved)" : ""}`
        )
        assert.deepStrictEqual(tags, [
          "StepIntent",
          "StepSucceeded(resolved)",
          "CompensationIntent",
          "CompensationSucceeded"
        ])
      }))

    it.effect("running: an in-doubt step that did not apply is journaled as failed and nothing of it is undone", () =>
      Effect.gen(function*() {
        const { released, reserve } = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory()
        const saga = sequence(
          "order",
          Step.fromDefinition(reserve, Effect.succeed({ sku: "a", qty: 1 }), { id: "r1", input: { sku: "a" } }),
          Step.fromDefinition(reserve, Effect.fail(new LostReply()), { id: "r2", input: { sku: "b" } })
        )
        const result = yield* Saga.execute(saga, { id: "d2" }).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(released, ["a"])
        assert.deepStrictEqual(result.compensatedSteps, ["r1"])
        const r2 = (yield* journal.entries("d2")).filter((e) => "stepId" in e && e.stepId === "r2")
        assert.deepStrictEqual(r2.map((e) => e._tag), ["StepIntent", "StepFailed"])
        assert.isTrue(r2[1]?._tag === "StepFailed" && r2[1].resolved === true)
      }))

    describe("a saga with a plan", () => {
      const Sku = Schema.Struct({ sku: Schema.String })
      const planOf = (...skus: ReadonlyArray<string>) =>
        skus.map((sku, i) => ({ id: `r${i + 1}`, name: "reserve", input: { schema: Sku, value: { sku } } }))
      /** A step of the barrier stock whose action applies at the store (the barrier learns it). */
      const applying = (
        stock: ReturnType<typeof makeBarrierStock>,
        sagaId: string,
        id: string,
        sku: string
      ) =>
        Step.fromDefinition(
          stock.reserve,
          Effect.sync(() => {
            stock.applied.set(`${sagaId}/${id}`, { sku, qty: 1 })
            return { sku, qty: 1 }
          }),
          { id, input: { sku } }
        )
      const tagsOf = (entries: ReadonlyArray<SagaJournal.JournalEntry>) =>
        entries.map((e) => `${e._tag}${"stepId" in e ? `:${e.stepId}` : ""}`)

      it.effect("the plan and the end are journaled; a planned step writes no intent, its outcome says when it started", () =>
        Effect.gen(function*() {
          const stock = makeBarrierStock()
          const journal = yield* SagaJournal.makeMemory()
          const saga = sequence("p", applying(stock, "p1", "r1", "a"), applying(stock, "p1", "r2", "b"))
          const result = yield* Saga.execute(saga, { id: "p1", plan: planOf("a", "b") }).pipe(
            Effect.provideService(SagaJournal.SagaJournal, journal)
          )
          assert.strictEqual(result.status, "completed")
          const entries = yield* journal.entries("p1")
          assert.deepStrictEqual(tagsOf(entries), ["SagaStarted", "StepSucceeded:r1", "StepSucceeded:r2", "SagaEnded"])
          const started = entries[0]!
          assert.deepStrictEqual(started._tag === "SagaStarted" && started.plan, [
            { stepId: "r1", name: "reserve", input: { sku: "a" } },
            { stepId: "r2", name: "reserve", input: { sku: "b" } }
          ])
          assert.deepStrictEqual(started._tag === "SagaStarted" && started.steps, ["r1", "r2"])
          assert.isTrue(entries[1]?._tag === "StepSucceeded" && typeof entries[1].startedAt === "number")
        }))

      it.effect("a step planned without its input (it depends on an earlier result) journals its intent", () =>
        Effect.gen(function*() {
          const stock = makeBarrierStock()
          const journal = yield* SagaJournal.makeMemory()
          const saga = sequence("p", applying(stock, "p2", "r1", "a"), applying(stock, "p2", "r2", "b"))
          const plan = [planOf("a")[0]!, { id: "r2", name: "reserve" }]
          yield* Saga.execute(saga, { id: "p2", plan }).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
          assert.deepStrictEqual(tagsOf(yield* journal.entries("p2")), [
            "SagaStarted",
            "StepSucceeded:r1",
            "StepIntent:r2",
            "StepSucceeded:r2",
            "SagaEnded"
          ])
        }))

      it.effect("a planned step without `resolve` is refused before it acts", () =>
        Effect.gen(function*() {
          const journal = yield* SagaJournal.makeMemory()
          let acted = false
          const blind = Step.make({ name: "reserve", id: "r1", action: Effect.sync(() => void (acted = true)) })
          const result = yield* Saga.execute(sequence("p", blind), { id: "p3", plan: planOf("a") }).pipe(
            Effect.provideService(SagaJournal.SagaJournal, journal)
          )
          assert.strictEqual(result.status, "compensated")
          assert.include(result.error, "has no `resolve`")
          assert.isFalse(acted)
        }))

      it.effect("a definite failure: the compensations journal no intent (recovery could never end it completed)", () =>
        Effect.gen(function*() {
          const stock = makeBarrierStock()
          const journal = yield* SagaJournal.makeMemory()
          const refused = Step.fromDefinition(stock.reserve, Effect.fail(new Declined({ reason: "no stock" })), {
            id: "r3",
            input: { sku: "c" }
          })
          const saga = sequence("p", applying(stock, "p4", "r1", "a"), applying(stock, "p4", "r2", "b"), refused)
          const result = yield* Saga.execute(saga, { id: "p4", plan: planOf("a", "b", "c") }).pipe(
            Effect.provideService(SagaJournal.SagaJournal, journal)
          )
          assert.strictEqual(result.status, "compensated")
          assert.deepStrictEqual(stock.released, ["b", "a"])
          assert.deepStrictEqual(tagsOf(yield* journal.entries("p4")), [
            "SagaStarted",
            "StepSucceeded:r1",
            "StepSucceeded:r2",
            "StepFailed:r3",
            "CompensationSucceeded:r2",
            "CompensationSucceeded:r1",
            "SagaEnded"
          ])
        }))

      it.effect("undoing after every planned step applied journals the first compensation's intent: recovery undoes", () =>
        Effect.gen(function*() {
          const stock = makeBarrierStock()
          const journal = yield* SagaJournal.makeMemory()
          const saga = Saga.make(
            "p",
            Effect.zipRight(
              Effect.all([Saga.step(applying(stock, "p5", "r1", "a")), Saga.step(applying(stock, "p5", "r2", "b"))]),
              Effect.fail(new Declined({ reason: "after the steps" }))
            )
          )
          const result = yield* Saga.execute(saga, { id: "p5", plan: planOf("a", "b") }).pipe(
            Effect.provideService(SagaJournal.SagaJournal, journal)
          )
          assert.strictEqual(result.status, "compensated")
          const entries = yield* journal.entries("p5")
          assert.deepStrictEqual(tagsOf(entries), [
            "SagaStarted",
            "StepSucceeded:r1",
            "StepSucceeded:r2",
            "CompensationIntent:r2",
            "CompensationSucceeded:r2",
            "CompensationSucceeded:r1",
            "SagaEnded"
          ])
          // the process died right after that intent, its held outcomes lost: the barriers say both applied, yet
          // recovery undoes them (idempotent undos) instead of ending the saga completed
          const written = [entries[0]!, entries[3]!]
          const restarted = yield* SagaJournal.makeMemory(written)
          stock.released.length = 0
          const recovered = yield* Saga.recover("p5", stock.registry).pipe(
            Effect.provideService(SagaJournal.SagaJournal, restarted)
          )
          assert.strictEqual(recovered.status, "compensated")
          assert.deepStrictEqual(recovered.compensatedSteps, ["r2", "r1"])
          assert.deepStrictEqual(stock.released, ["b", "a"])
        }))

      it.effect("recovery asks every planned step's barrier: all applied → completed; else undone in reverse plan order", () =>
        Effect.gen(function*() {
          const stock = makeBarrierStock()
          const plan = [
            { stepId: "r1", name: "reserve", input: { sku: "a" } },
            { stepId: "r2", name: "reserve", input: { sku: "b" } },
            { stepId: "r3", name: "reserve", input: { sku: "c" } }
          ]
          const started = (sagaId: string) =>
            SagaJournal.SagaStarted.make({ sagaId, name: "p", at: 0, steps: ["r1", "r2", "r3"], plan })
          // every planned step applied, the end was not written
          for (const id of ["r1", "r2", "r3"]) stock.applied.set(`done/${id}`, { sku: id, qty: 1 })
          const done = yield* SagaJournal.makeMemory([started("done")])
          const completed = yield* Saga.recover("done", stock.registry).pipe(
            Effect.provideService(SagaJournal.SagaJournal, done)
          )
          assert.strictEqual(completed.status, "completed")
          assert.deepStrictEqual(stock.released, [])
          // r2 never applied (the barrier fences it), r1 and r3 did (r3 ran concurrently): undone r3 then r1
          stock.applied.set("cut/r1", { sku: "a", qty: 1 })
          stock.applied.set("cut/r3", { sku: "c", qty: 1 })
          const cut = yield* SagaJournal.makeMemory([started("cut")])
          const result = yield* Saga.recover("cut", stock.registry).pipe(
            Effect.provideService(SagaJournal.SagaJournal, cut)
          )
          assert.strictEqual(result.status, "compensated")
          assert.deepStrictEqual(result.resolvedSteps, [
            { stepId: "r1", applied: true },
            { stepId: "r2", applied: false },
            { stepId: "r3", applied: true }
          ])
          assert.deepStrictEqual(result.compensatedSteps, ["r3", "r1"])
          assert.deepStrictEqual(stock.released, ["c", "a"])
        }))
    })

    it.effect("running: an in-doubt step that cannot be resolved leaves the saga to recovery, which settles it", () =>
      Effect.gen(function*() {
        const stock = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory()
        const unreachable = Step.define({
          ...stock.reserve,
          resolve: () => Effect.fail(new SagaError.Transient({ cause: "store down" }))
        })
        const saga = sequence(
          "order",
          Step.fromDefinition(stock.reserve, Effect.succeed({ sku: "a", qty: 1 }), { id: "r1", input: { sku: "a" } }),
          Step.fromDefinition(unreachable, Effect.fail(new LostReply()), { id: "r2", input: { sku: "b" } })
        )
        const result = yield* Saga.execute(saga, { id: "d3" }).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(result.status, "failed")
        assert.deepStrictEqual(result.pendingCompensations, ["r2"])
        assert.deepStrictEqual(stock.released, ["a"], "what is known is undone")
        assert.include(yield* journal.unfinished, "d3", "no end is journaled: recovery settles it")
        stock.applied.set("d3/r2", { sku: "b", qty: 2 })
        const recovered = yield* Saga.recover("d3", stock.registry).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(recovered.status, "compensated")
        assert.deepStrictEqual(recovered.resolvedSteps, [{ stepId: "r2", applied: true }])
        assert.deepStrictEqual(stock.released, ["a", "b"])
      }))

    it.effect("recovery: a store that cannot be reached leaves the saga unfinished for a later pass, not failed", () =>
      Effect.gen(function*() {
        const stock = makeBarrierStock()
        const down = Step.define({
          ...stock.reserve,
          compensationRetry: Schedule.recurs(1),
          resolve: () => Effect.fail(new SagaError.Transient({ cause: "store down" }))
        })
        const journal = yield* SagaJournal.makeMemory([
          { _tag: "SagaStarted", sagaId: "u", name: "order", at: 0 },
          { _tag: "StepIntent", sagaId: "u", stepId: "r1", name: "reserve", attempt: 1, at: 1, input: { sku: "a" } }
        ])
        const error = yield* Effect.flip(
          Saga.recover("u", Step.registry(down)).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
        )
        assert.strictEqual(error._tag, "RecoveryError")
        assert.include(error.message, "later pass")
        assert.include(yield* journal.unfinished, "u")
        stock.applied.set("u/r1", { sku: "a", qty: 1 })
        const settled = yield* Saga.recover("u", stock.registry).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(settled.status, "compensated")
        assert.deepStrictEqual(stock.released, ["a"])
      }))

    it.effect("a store whose errors arrive at the bound is asked again only within the bound, not once per retry", () =>
      Effect.gen(function*() {
        const stock = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory()
        let attempts = 0
        // a transient error that takes just under the bound to arrive (a driver's server selection timeout): before,
        // the saga asked six times (a minute) before it answered
        const slow = Step.define({
          ...stock.reserve,
          compensationRetry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(5))),
          resolve: () =>
            Effect.sync(() => void attempts++).pipe(
              Effect.zipRight(Effect.sleep("9900 millis")),
              Effect.zipRight(Effect.fail(new SagaError.Transient({ cause: "server selection timed out" })))
            )
        })
        const saga = sequence(
          "order",
          Step.fromDefinition(slow, Effect.fail(new LostReply()), { id: "r1", input: { sku: "a" } })
        )
        const fiber = yield* Effect.fork(
          Saga.execute(saga, { id: "slow" }).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
        )
        for (let i = 0; i < 140 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("500 millis")
        const result = yield* Fiber.join(fiber)
        assert.strictEqual(result.status, "failed")
        assert.deepStrictEqual(result.pendingCompensations, ["r1"])
        assert.strictEqual(attempts, 2, "one attempt, and one more begun within the bound")
        assert.include(yield* journal.unfinished, "slow", "left to recovery")
      }))

    it.effect("recovery: a resolver that hangs is given up at the bound, the saga left for a later pass", () =>
      Effect.gen(function*() {
        const stock = makeBarrierStock()
        const hangs = Step.define({ ...stock.reserve, resolve: () => Effect.never })
        const journal = yield* SagaJournal.makeMemory([
          { _tag: "SagaStarted", sagaId: "h", name: "order", at: 0 },
          { _tag: "StepIntent", sagaId: "h", stepId: "r1", name: "reserve", attempt: 1, at: 1, input: { sku: "a" } }
        ])
        const fiber = yield* Effect.fork(
          Effect.flip(
            Saga.recover("h", Step.registry(hangs)).pipe(Effect.provideService(SagaJournal.SagaJournal, journal))
          )
        )
        for (let i = 0; i < 30 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("500 millis")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "RecoveryError")
        assert.include(error.message, "timed out after 10s")
        assert.include(error.message, "later pass")
        assert.include(yield* journal.unfinished, "h")
      }))

    it.effect("a step without resolve that fails in doubt is an ordinary failure", () =>
      Effect.gen(function*() {
        const { events, step } = makeLog()
        const journal = yield* SagaJournal.makeMemory()
        const saga = sequence("order", step("a", 1), step("b", 2, { fail: new LostReply() }))
        const result = yield* Saga.execute(saga, { id: "d4" }).pipe(
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(events, ["do:a", "undo:a"])
        assert.isTrue((yield* journal.entries("d4")).some((e) => e._tag === "StepFailed" && e.stepId === "b"))
      }))

    it.effect("without resolve the step stays in doubt; retryCompensation retries a failed saga's undo", () =>
      Effect.gen(function*() {
        const stock = makeBarrierStock()
        const journal = yield* SagaJournal.makeMemory([
          { _tag: "SagaStarted", sagaId: "f", name: "order", at: 0 },
          ...reserved("f", "r1", { sku: "a", qty: 1 })
        ])
        const run = <A, E>(effect: Effect.Effect<A, E, SagaJournal.SagaJournal>) =>
          Effect.provideService(effect, SagaJournal.SagaJournal, journal)
        stock.refuse(5)
        const first = yield* run(Saga.recover("f", stock.registry))
        assert.strictEqual(first.status, "failed")
        assert.deepStrictEqual(first.pendingCompensations, ["r1"])
        assert.include(first.error!, "locked")
        const notFailed = yield* Effect.flip(run(Saga.retryCompensation("nope", stock.registry)))
        assert.strictEqual(notFailed._tag, "RecoveryError")
        stock.refuse(0)
        const retried = yield* run(Saga.retryCompensation("f", stock.registry))
        assert.strictEqual(retried.status, "compensated")
        assert.deepStrictEqual(retried.compensatedSteps, ["r1"])
        assert.deepStrictEqual(stock.released, ["a"])
        const tags = (yield* journal.entries("f")).map((e) => e._tag).slice(-5)
        assert.deepStrictEqual(tags, [
          "SagaEnded",
          "SagaReopened",
          "CompensationIntent",
          "CompensationSucceeded",
          "SagaEnded"
        ])
        const again = yield* Effect.flip(run(Saga.retryCompensation("f", stock.registry)))
        assert.include(again.message, "ended compensated")
      }))

    it.effect("running: a compensation whose store is unreachable leaves the saga to recovery, not `failed`", () =>
      Effect.gen(function*() {
        let down = true
        const released: Array<string> = []
        const hold = Step.define({
          name: "hold",
          result: Schema.String,
          compensate: (sku: string) =>
            Effect.suspend(() =>
              down
                ? Effect.fail(new SagaError.Transient({ cause: "connect ECONNREFUSED" }))
                : Effect.sync(() => void released.push(sku))
            ),
          compensationRetry: Schedule.recurs(1)
        })
        const journal = yield* SagaJournal.makeMemory()
        const saga = sequence(
          "order",
          Step.fromDefinition(hold, Effect.succeed("a"), { id: "h1" }),
          Step.fromDefinition(hold, Effect.fail(new Declined({ reason: "no stock" })), { id: "h2" })
        )
        const run = <A, E>(effect: Effect.Effect<A, E, SagaJournal.SagaJournal>) =>
          Effect.provideService(effect, SagaJournal.SagaJournal, journal)
        const result = yield* run(Saga.execute(saga, { id: "u1" }))
        // the answer says what is left; the journal keeps the saga unfinished for recovery (no SagaEnded)
        assert.strictEqual(result.status, "failed")
        assert.deepStrictEqual(result.pendingCompensations, ["h1"])
        assert.deepStrictEqual(yield* journal.unfinished, ["u1"])
        assert.isFalse((yield* journal.entries("u1")).some((e) => e._tag === "SagaEnded"))
        // still down: recovery leaves it for a later pass
        const early = yield* Effect.flip(run(Saga.recover("u1", Step.registry(hold))))
        assert.include(early.message, "left for a later pass")
        assert.deepStrictEqual(yield* journal.unfinished, ["u1"])
        down = false
        const recovered = yield* run(Saga.recover("u1", Step.registry(hold)))
        assert.strictEqual(recovered.status, "compensated")
        assert.deepStrictEqual(released, ["a"])
        assert.deepStrictEqual(yield* journal.unfinished, [])
      }))

    it.effect("an in-doubt step whose resolver times out is asked once, and its saga is left for a later pass", () =>
      Effect.gen(function*() {
        let calls = 0
        let frozen = true
        const probe = Step.define({
          name: "probe",
          result: Schema.String,
          input: Schema.Struct({ sku: Schema.String }),
          compensate: () => Effect.void,
          resolve: (_input, { sagaId, stepId }) =>
            Effect.suspend(() => {
              calls++
              return frozen
                ? Effect.fail(new SagaError.StepTimeout({ sagaId, stepId, timeout: Duration.seconds(10) }))
                : Effect.succeed(Option.none())
            })
        })
        const journal = yield* SagaJournal.makeMemory()
        const run = <A, E>(effect: Effect.Effect<A, E, SagaJournal.SagaJournal>) =>
          Effect.provideService(effect, SagaJournal.SagaJournal, journal)
        const saga = sequence(
          "order",
          Step.fromDefinition(probe, Effect.fail(new LostReply()), { id: "p1", input: { sku: "a" } })
        )
        const result = yield* run(Saga.execute(saga, { id: "t1" }))
        assert.strictEqual(result.status, "failed")
        assert.strictEqual(calls, 1, "a resolver that timed out is not asked again in the running saga")
        assert.deepStrictEqual(yield* journal.unfinished, ["t1"])
        const early = yield* Effect.flip(run(Saga.recover("t1", Step.registry(probe))))
        assert.strictEqual(early._tag, "RecoveryError")
        assert.include(early.message, "left for a later pass")
        assert.strictEqual(calls, 2, "nor in recovery")
        frozen = false
        const recovered = yield* run(Saga.recover("t1", Step.registry(probe)))
        assert.strictEqual(recovered.status, "compensated")
        assert.deepStrictEqual(recovered.resolvedSteps, [{ stepId: "p1", applied: false }])
      }))
  })
})
