import { assert, describe, it } from "@effect/vitest"
import { Journal, PostgresJournal, Recovery } from "@polysaga/journal"
import { type RecoveryResult, SagaJournal, Step } from "@polysaga/saga"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { freshDatabase } from "./utils.js"

const SAGAS = 60
const RUNNERS = 3

/** A registry whose compensations record which runner undid which step, and check no saga is undone twice at once. */
const makeRegistry = (runner: string, log: Map<string, Array<string>>, busy: Set<string>, overlaps: Array<string>) =>
  Step.registry(Step.define({
    name: "multi.step",
    result: Schema.String,
    compensate: (key: string) =>
      Effect.gen(function*() {
        const sagaId = key.split("/")[0]!
        if (busy.has(sagaId)) overlaps.push(sagaId)
        busy.add(sagaId)
        yield* Effect.sleep("2 millis")
        busy.delete(sagaId)
        log.set(key, [...(log.get(key) ?? []), runner])
      })
  }))

/**
 * `count` sagas left unfinished by an instance that died: two completed steps each. Its leases last `lease` (they must
 * outlast the writing: a runner that claims a saga while it is written makes the writer's next append fail).
 */
const abandon = (url: Redacted.Redacted, count: number, prefix: string, lease: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const journal = yield* SagaJournal.SagaJournal
    for (let i = 0; i < count; i++) {
      const sagaId = `${prefix}-${i}`
      yield* journal.append(SagaJournal.SagaStarted.make({ sagaId, name: "multi", at: 0 }))
      for (const stepId of ["s0", "s1"]) {
        const step = { sagaId, stepId, name: "multi.step", attempt: 1, at: 1 }
        yield* journal.append(SagaJournal.StepIntent.make(step))
        yield* journal.append(SagaJournal.StepSucceeded.make({ ...step, result: `${sagaId}/${stepId}` }))
      }
    }
  }).pipe(Effect.provide(PostgresJournal.layer({ url, owner: "dead", leaseDuration: lease })))

describe("several recovery runners on one journal", () => {
  it.live(
    `${RUNNERS} instances recover ${SAGAS} abandoned sagas: each exactly once, never two at once`,
    () =>
      Effect.gen(function*() {
        const url = yield* freshDatabase("polysaga_journal_multi")
        yield* abandon(url, SAGAS, "multi")
        yield* Effect.sleep("300 millis")
        const log = new Map<string, Array<string>>()
        const busy = new Set<string>()
        const overlaps: Array<string> = []
        const started = Date.now()
        const results = yield* Effect.all(
          Array.from({ length: RUNNERS }, (_, i) => {
            const runner = `runner-${i}`
            return Recovery.runOnce(makeRegistry(runner, log, busy, overlaps), { batch: 4, concurrency: 2 }).pipe(
              Effect.map((results) => results.map((r): readonly [string, RecoveryResult] => [runner, r])),
              Effect.provide(PostgresJournal.layer({ url, owner: runner, maxConnections: 3 }))
            )
          }),
          { concurrency: "unbounded" }
        ).pipe(Effect.map((all) => all.flat()))
        const elapsed = Date.now() - started
        console.log(`multi-instance: ${SAGAS} sagas recovered by ${RUNNERS} runners in ${elapsed} ms; per runner:`, [
          ...Array.from({ length: RUNNERS }, (_, i) => results.filter(([r]) => r === `runner-${i}`).length)
        ])
        assert.deepStrictEqual(overlaps, [], "a saga was compensated by two runners at once")
        assert.strictEqual(results.length, SAGAS)
        assert.strictEqual(new Set(results.map(([, r]) => r.id)).size, SAGAS, "a saga was recovered twice")
        assert.isTrue(results.every(([, r]) => r.status === "compensated" && r.compensatedSteps.length === 2))
        assert.strictEqual(log.size, SAGAS * 2)
        for (const [key, runners] of log) {
          assert.strictEqual(runners.length, 1, `${key} compensated ${runners.length} times`)
          const sibling = key.endsWith("/s0") ? key.replace(/s0$/, "s1") : key.replace(/s1$/, "s0")
          assert.deepStrictEqual(log.get(sibling), runners, "one saga, one runner")
        }
        const unfinished = yield* Effect.flatMap(SagaJournal.SagaJournal, (j) => j.unfinished).pipe(
          Effect.provide(PostgresJournal.layer({ url, owner: "check" }))
        )
        assert.deepStrictEqual(unfinished, [])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)),
    { timeout: 60_000 }
  )

  it.live(
    "a runner claims a saga only when it is free to recover it, and lets go of the one it is interrupted on",
    () =>
      Effect.gen(function*() {
        const url = yield* freshDatabase("polysaga_journal_claims")
        yield* abandon(url, 5, "slow")
        yield* Effect.sleep("300 millis")
        const undone: Array<string> = []
        // the oldest saga's compensations hang (a store that does not answer): its runner is busy with it
        const registry = Step.registry(Step.define({
          name: "multi.step",
          result: Schema.String,
          compensate: (key: string) =>
            key.startsWith("slow-0/") ? Effect.never : Effect.sync(() => void undone.push(key))
        }))
        const busy = yield* Effect.fork(
          Recovery.runOnce(registry, { concurrency: 1 }).pipe(
            Effect.provide(PostgresJournal.layer({ url, owner: "busy" }))
          )
        )
        yield* Effect.sleep("500 millis")
        // the sagas behind it are not held by the busy runner: another instance recovers them now
        const results = yield* Recovery.runOnce(registry, { concurrency: 2 }).pipe(
          Effect.provide(PostgresJournal.layer({ url, owner: "free" }))
        )
        assert.deepStrictEqual(results.map((r) => r.id).sort(), ["slow-1", "slow-2", "slow-3", "slow-4"])
        assert.isTrue(results.every((r) => r.status === "compensated"))
        assert.strictEqual(undone.length, 8)
        // the busy runner stops (its instance shuts down): the saga it was on is released, claimable at once
        yield* Fiber.interrupt(busy)
        const claimed = yield* Effect.flatMap(SagaJournal.SagaJournal, (j) => j.leases!.claim(10)).pipe(
          Effect.provide(PostgresJournal.layer({ url, owner: "next" }))
        )
        assert.deepStrictEqual(claimed, ["slow-0"])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: 60_000 }
  )

  it.live(
    "the runner layer recovers at start and then continuously; failed sagas stay listed",
    () =>
      Effect.gen(function*() {
        const url = yield* freshDatabase("polysaga_journal_runner")
        yield* abandon(url, 3, "early")
        yield* Effect.sleep("200 millis")
        const log = new Map<string, Array<string>>()
        const registry = makeRegistry("layer", log, new Set(), [])
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(
            Recovery.layer(registry, { interval: "200 millis", retention: "1 hour" }).pipe(
              Layer.provideMerge(PostgresJournal.layer({ url, owner: "runner" }))
            )
          )
          assert.strictEqual(log.size, 6, "recovered at start")
          // written while the runner runs (every 200 ms): leases long enough that it cannot claim them mid-write
          yield* abandon(url, 2, "late", "1 second")
          yield* Effect.sleep("200 millis").pipe(Effect.repeat({ until: () => log.size >= 10, times: 40 }))
          assert.strictEqual(log.size, 10, "recovered continuously")
        }))
        const failed = yield* Journal.failed().pipe(Effect.provide(PostgresJournal.layer({ url, owner: "check" })))
        assert.deepStrictEqual(failed, [])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)),
    { timeout: 60_000 }
  )
})
