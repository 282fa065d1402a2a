import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { Journal, PostgresJournal, SqliteJournal } from "@polysaga/journal"
import { Saga, SagaJournal, Step } from "@polysaga/saga"
import { checkScenario, runScenario, sagaScenario } from "@polysaga/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { countStatements, freshDatabase } from "./utils.js"

const undone: Array<string> = []
let refuse = 0
const item = Step.define({
  name: "test.item",
  result: Schema.String,
  input: Schema.String,
  compensate: (value: string) =>
    Effect.suspend(() => refuse-- > 0 ? Effect.fail("locked") : Effect.sync(() => void undone.push(value))),
  compensationRetry: Schedule.recurs(0),
  resolve: (input: string) => Effect.succeed(input.startsWith("applied") ? Option.some(input) : Option.none())
})
const registry = Step.registry(item)
const stepOf = (value: string, id: string) => Step.fromDefinition(item, Effect.succeed(value), { id, input: value })

interface Engine {
  readonly env: Layer.Layer<SagaJournal.SagaJournal | Journal.Journal | SqlClient.SqlClient, unknown>
  readonly make: typeof PostgresJournal.make
  /** SQL statements a 3-step saga sends. */
  readonly statements: number
  /** SQL statements a 3-step saga sends when its steps are journaled by its plan. */
  readonly planned: number
}

const suite = (name: string, engine: Engine) =>
  layer(engine.env, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    /** A second instance on the same database (same client), with a short lease. */
    const other = (owner: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => engine.make(sql, { owner, leaseDuration: "200 millis" }))

    it.effect("one write per step; SagaStarted and each step's outcome ride with the next entry", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const id = randomUUID()
        const saga = Saga.make("three", Effect.forEach(["a", "b", "c"], (v, i) => Saga.step(stepOf(v, `s${i}`))))
        const [result, statements] = yield* countStatements(Saga.execute(saga, { id }))
        assert.strictEqual(result.status, "completed")
        assert.strictEqual(statements, engine.statements)
        const entries = yield* journal.entries(id)
        assert.deepStrictEqual(entries.map((e) => e._tag), [
          "SagaStarted",
          "StepIntent",
          "StepSucceeded",
          "StepIntent",
          "StepSucceeded",
          "StepIntent",
          "StepSucceeded",
          "SagaEnded"
        ])
        const intent = entries[1]!
        assert.strictEqual(intent._tag === "StepIntent" && intent.input, "a")
        assert.notInclude(yield* journal.unfinished, id)
        // the same id again (another instance would do this at the same moment): refused at the journal's start,
        // nothing of it acts or is journaled, the first saga's record is untouched
        const again = yield* Saga.execute(saga, { id })
        assert.strictEqual(again.idTaken, true)
        assert.isUndefined(again.journalError)
        assert.deepStrictEqual(again.completedSteps, [])
        assert.include(again.error!, "already holds a saga")
        assert.deepStrictEqual(yield* journal.entries(id), entries)
        // and from another instance on the same journal
        const fromB = yield* Effect.scoped(
          Effect.flatMap(
            other("b"),
            ({ journal: b }) => Effect.provideService(Saga.execute(saga, { id }), SagaJournal.SagaJournal, b)
          )
        )
        assert.strictEqual(fromB.idTaken, true)
        assert.deepStrictEqual(fromB.completedSteps, [])
        assert.deepStrictEqual(yield* journal.entries(id), entries)
      }))

    it.effect("a saga with a plan: the plan before its first step acts, the outcomes with the end — two writes", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const values = ["a", "b", "c"]
        const plan = values.map((value, i) => ({
          id: `s${i}`,
          name: item.name,
          input: { schema: Schema.String, value }
        }))
        const id = randomUUID()
        const saga = Saga.make("planned", Effect.forEach(values, (v, i) => Saga.step(stepOf(v, `s${i}`))))
        const [result, statements] = yield* countStatements(Saga.execute(saga, { id, plan }))
        assert.strictEqual(result.status, "completed")
        assert.strictEqual(statements, engine.planned)
        const entries = yield* journal.entries(id)
        assert.deepStrictEqual(entries.map((e) => e._tag), [
          "SagaStarted",
          "StepSucceeded",
          "StepSucceeded",
          "StepSucceeded",
          "SagaEnded"
        ])
        const started = entries[0]!
        assert.deepStrictEqual(started._tag === "SagaStarted" && started.plan?.map((step) => step.input), values)
        // the plan is in the journal when the first step acts; the first step's outcome is not yet
        const early = randomUUID()
        const seen: Array<ReadonlyArray<string>> = []
        const peek = Effect.flatMap(
          journal.entries(early),
          (entries) => Effect.sync(() => seen.push(entries.map((e) => e._tag)))
        )
        const peeking = Saga.make(
          "peek",
          Effect.forEach(
            values,
            (v, i) => Saga.step(Step.fromDefinition(item, Effect.as(peek, v), { id: `s${i}`, input: v }))
          )
        )
        const fresh = yield* other("reader")
        yield* Saga.execute(peeking, { id: early, plan })
        assert.deepStrictEqual(seen[0], ["SagaStarted"])
        // read by another instance: the plan was written, the held outcomes were written with the end
        assert.deepStrictEqual((yield* fresh.journal.entries(early)).map((e) => e._tag), [
          "SagaStarted",
          "StepSucceeded",
          "StepSucceeded",
          "StepSucceeded",
          "SagaEnded"
        ])
      }).pipe(Effect.scoped))

    it.effect("a saga with a plan cut short: recovery asks every planned step's barrier, undoes what applied in reverse plan order", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const leases = journal.leases!
        const id = randomUUID()
        // instance b journals the plan of three steps and dies before anything else is written
        yield* Effect.scoped(Effect.gen(function*() {
          const { journal: b } = yield* other("b")
          yield* b.append(SagaJournal.SagaStarted.make({
            sagaId: id,
            name: "cut",
            at: 0,
            steps: ["s0", "s1", "s2"],
            plan: [
              { stepId: "s0", name: item.name, input: "applied-0" },
              { stepId: "s1", name: item.name, input: "applied-1" },
              { stepId: "s2", name: item.name, input: "never" }
            ]
          }))
        }))
        assert.include(yield* journal.unfinished, id)
        yield* Effect.sleep("300 millis")
        assert.include(yield* leases.claim(100), id)
        undone.length = 0
        const result = yield* Saga.recover(id, registry)
        assert.strictEqual(result.status, "compensated", result.error)
        assert.deepStrictEqual(result.resolvedSteps, [
          { stepId: "s0", applied: true },
          { stepId: "s1", applied: true },
          { stepId: "s2", applied: false }
        ])
        assert.deepStrictEqual(result.compensatedSteps, ["s1", "s0"])
        assert.deepStrictEqual(undone, ["applied-1", "applied-0"])
        assert.notInclude(yield* journal.unfinished, id)
      }))

    it.effect("leases: claim only expired sagas, fence the old owner, renew, release", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const leases = journal.leases!
        const id = randomUUID()
        // instance b starts a saga, completes one step and dies (its scope closes: no more renewals)
        const b = yield* Effect.scoped(Effect.gen(function*() {
          const { journal: b } = yield* other("b")
          yield* b.append(SagaJournal.SagaStarted.make({ sagaId: id, name: "abandoned", at: 0 }))
          yield* b.append(SagaJournal.StepIntent.make({ sagaId: id, stepId: "s0", name: item.name, attempt: 1, at: 1 }))
          yield* b.append(SagaJournal.StepSucceeded.make({
            sagaId: id,
            stepId: "s0",
            name: item.name,
            attempt: 1,
            at: 2,
            result: "x"
          }))
          assert.notInclude(yield* leases.claim(100), id, "a live lease is never claimed")
          return b
        }))
        assert.include(yield* journal.unfinished, id)
        yield* Effect.sleep("300 millis")
        assert.include(yield* leases.claim(100), id)
        assert.notInclude(yield* leases.claim(100), id, "claimed once")
        const fenced = yield* Effect.flip(
          b.append(SagaJournal.StepIntent.make({ sagaId: id, stepId: "s1", name: item.name, attempt: 1, at: 3 }))
        )
        assert.strictEqual((fenced.cause as Journal.LeaseLost)._tag, "LeaseLost")
        assert.isAtLeast(yield* leases.renew, 1)
        yield* leases.release(id)
        assert.include(yield* leases.claim(100), id, "released: claimable at once")
        const result = yield* Saga.recover(id, registry)
        assert.strictEqual(result.status, "compensated")
        assert.deepStrictEqual(result.compensatedSteps, ["s0"])
        assert.notInclude(yield* journal.unfinished, id)
      }))

    it.effect("a held step outcome is read back at once, and written when the journal closes or the lease is let go", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const [closed, released] = [randomUUID(), randomUUID()]
        const begin = (j: SagaJournal.SagaJournal.Service, sagaId: string) =>
          Effect.gen(function*() {
            const step = { sagaId, stepId: "s0", name: item.name, attempt: 1 }
            yield* j.append(SagaJournal.SagaStarted.make({ sagaId, name: "held", at: 0 }))
            yield* j.append(SagaJournal.StepIntent.make({ ...step, at: 1, input: "x" }))
            yield* j.append(SagaJournal.StepSucceeded.make({ ...step, at: 2, result: "x" }))
          })
        const tags = (sagaId: string) => Effect.map(journal.entries(sagaId), (entries) => entries.map((e) => e._tag))
        yield* Effect.scoped(Effect.gen(function*() {
          const { journal: d } = yield* other("d")
          yield* begin(d, closed)
          // held, not yet written: this instance reads it, another one does not yet
          assert.deepStrictEqual(
            yield* Effect.map(d.entries(closed), (entries) => entries.map((e) => e._tag)),
            ["SagaStarted", "StepIntent", "StepSucceeded"]
          )
          assert.deepStrictEqual(yield* tags(closed), ["SagaStarted", "StepIntent"])
          yield* begin(d, released)
          yield* d.leases!.release(released)
          assert.deepStrictEqual(yield* tags(released), ["SagaStarted", "StepIntent", "StepSucceeded"])
        }))
        assert.deepStrictEqual(yield* tags(closed), ["SagaStarted", "StepIntent", "StepSucceeded"])
      }))

    it.effect("in-doubt steps are resolved through their definition; failed sagas are listed and retried", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const admin = yield* Journal.Journal
        const id = randomUUID()
        yield* Effect.scoped(Effect.gen(function*() {
          const { journal: b } = yield* other("c")
          yield* b.append(SagaJournal.SagaStarted.make({ sagaId: id, name: "doubt", at: 0 }))
          for (const [i, value] of ["applied-0", "applied-1", "missing-2"].entries()) {
            const step = { sagaId: id, stepId: `s${i}`, name: item.name, attempt: 1 }
            yield* b.append(SagaJournal.StepIntent.make({ ...step, at: i, input: value }))
            if (i === 0) yield* b.append(SagaJournal.StepSucceeded.make({ ...step, at: i, result: value }))
          }
        }))
        yield* Effect.sleep("300 millis")
        assert.include(yield* journal.leases!.claim(100), id)
        undone.length = 0
        refuse = 1
        const first = yield* Saga.recover(id, registry)
        assert.strictEqual(first.status, "failed")
        assert.deepStrictEqual(first.resolvedSteps, [{ stepId: "s1", applied: true }, { stepId: "s2", applied: false }])
        const listed = (yield* Journal.failed()).find((f) => f.id === id)
        assert.deepStrictEqual(listed?.pending, [
          { stepId: "s1", name: item.name, error: "locked" },
          { stepId: "s0", name: item.name }
        ])
        assert.include(listed?.error, "locked")
        const retried = yield* Journal.retryCompensation(id, registry)
        assert.strictEqual(retried.status, "compensated")
        assert.deepStrictEqual(retried.compensatedSteps, ["s1", "s0"])
        assert.deepStrictEqual(undone, ["applied-1", "applied-0"])
        assert.isUndefined((yield* admin.failed()).find((f) => f.id === id))
      }))

    it.effect("console: filtered keyset pages, the overview, and a failed saga resolved by hand", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const admin = yield* Journal.Journal
        const tag = randomUUID().slice(0, 8)
        const statuses = ["completed", "compensated", "failed"] as const
        const ids = Array.from({ length: 25 }, (_, i) => `${tag}-${String(i).padStart(2, "0")}`)
        const before = yield* admin.overview
        for (const [i, sagaId] of ids.entries()) {
          yield* journal.append(SagaJournal.SagaStarted.make({ sagaId, name: "console", at: i }))
          const status = statuses[i % 3]!
          yield* journal.append(
            SagaJournal.SagaEnded.make({ sagaId, at: i, status, ...(status === "failed" ? { error: "boom" } : {}) })
          )
        }
        // every saga once, newest first, through pages of 4
        const seen: Array<string> = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = yield* admin.page({ id: tag, limit: 4, cursor })
          seen.push(...page.sagas.map((saga) => saga.id))
          cursor = page.next
          pages++
        } while (cursor !== undefined)
        assert.deepStrictEqual(seen, [...ids].reverse())
        assert.strictEqual(pages, 7)
        const failedIds = ids.filter((_, i) => i % 3 === 2)
        const failedPage = yield* admin.page({ id: tag, status: "failed" })
        assert.deepStrictEqual(failedPage.sagas.map((saga) => saga.id), [...failedIds].reverse())
        assert.isUndefined(failedPage.next)
        assert.strictEqual(failedPage.sagas[0]!.error, "boom")
        const first = (yield* admin.page({ id: ids[0]!, limit: 1 })).sagas[0]!
        assert.strictEqual((yield* admin.page({ id: tag, from: first.startedAt })).sagas.length, 25)
        assert.strictEqual((yield* admin.page({ id: tag, to: first.startedAt })).sagas.length, 0)
        const bad = yield* Effect.flip(admin.page({ cursor: "not-a-cursor" }))
        assert.strictEqual(bad._tag, "InvalidCursor")

        // resolved by hand: journaled, listed with its reason, out of `failed()`, not retried
        const target = failedIds[0]!
        assert.isTrue(yield* admin.resolve(target, "refunded by hand, ticket 42"))
        assert.isFalse(yield* admin.resolve(target, "again"))
        assert.isFalse(yield* admin.resolve(ids[0]!, "a completed saga is not resolved"))
        const entries = yield* journal.entries(target)
        assert.deepInclude(entries.at(-1), { _tag: "SagaResolved", reason: "refunded by hand, ticket 42" })
        const resolved = yield* admin.page({ id: tag, resolved: true })
        assert.deepStrictEqual(resolved.sagas.map((saga) => [saga.id, saga.status, saga.resolution?.reason]), [
          [target, "failed", "refunded by hand, ticket 42"]
        ])
        const open = yield* admin.page({ id: tag, status: "failed", resolved: false })
        assert.notInclude(open.sagas.map((saga) => saga.id), target)
        assert.strictEqual(open.sagas.length, failedIds.length - 1)
        assert.notInclude((yield* admin.failed({ limit: 10_000 })).map((f) => f.id), target)
        const retry = yield* Effect.flip(Saga.retryCompensation(target, registry))
        assert.strictEqual(retry._tag, "RecoveryError")

        const after = yield* admin.overview
        assert.strictEqual(after.counts.completed - before.counts.completed, 9)
        assert.strictEqual(after.counts.compensated - before.counts.compensated, 8)
        assert.strictEqual(after.counts.failed - before.counts.failed, 8)
        assert.strictEqual(after.needsPerson - before.needsPerson, 7)
        const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
        assert.strictEqual(after.lastHour.startedPerMinute.length, 60)
        assert.isAtLeast(sum(after.lastHour.startedPerMinute) - sum(before.lastHour.startedPerMinute), 25)
        assert.isAtLeast(after.lastHour.ended - before.lastHour.ended, 25)
        const latency = after.lastHour.latency!
        assert.isTrue(latency.p50 >= 0 && latency.p50 <= latency.p95 && latency.p95 <= latency.p99)
        assert.isTrue(latency.p99 <= latency.max)
      }))

    it.effect("retention prunes finished sagas older than the given age, entries included", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const admin = yield* Journal.Journal
        const id = randomUUID()
        yield* Saga.execute(Saga.make("old", Saga.step(stepOf("v", "s0"))), { id })
        assert.strictEqual(yield* admin.prune("1 hour"), 0)
        assert.lengthOf(yield* journal.entries(id), 4)
        yield* Effect.sleep("50 millis")
        assert.isAtLeast(yield* admin.prune("10 millis"), 1)
        assert.lengthOf(yield* journal.entries(id), 0)
      }))

    it.effect("the saga kit's scenarios hold on the durable journal", () =>
      Effect.gen(function*() {
        const journal = yield* SagaJournal.SagaJournal
        const scenarios = FCsample(40)
        for (const scenario of scenarios) {
          const run = yield* runScenario(scenario, { journal })
          const problems = checkScenario(run)
          assert.deepStrictEqual(problems, [], problems.join("\n"))
        }
      }))
  })

import * as FC from "effect/FastCheck"
const FCsample = (n: number) => FC.sample(sagaScenario({ maxSteps: 4 }), { numRuns: n, seed: 42 })

describe("durable journal", () => {
  // one statement per append: 1 per step + 1 per saga (the start rides with the first intent, each step's outcome
  // with the next entry)
  suite("on PostgreSQL", {
    make: PostgresJournal.make,
    statements: 3 + 1,
    planned: 2,
    env: Layer.unwrapEffect(
      Effect.map(
        freshDatabase("polysaga_journal_test"),
        (url) =>
          PostgresJournal.layerFromClient({ owner: "a", leaseDuration: "2 seconds" }).pipe(
            Layer.provideMerge(PgClient.layer({ url, maxConnections: 4 }))
          )
      )
    )
  })
  suite("on embedded PGlite", {
    make: PostgresJournal.make,
    statements: 3 + 1,
    planned: 2,
    env: Layer.suspend(() =>
      PostgresJournal.layerEmbedded({
        dir: fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-journal-")),
        owner: "a",
        leaseDuration: "2 seconds"
      })
    )
  })
  // in process, one statement per append, and the saga's row apart in the same transaction at its start and end
  suite("on embedded SQLite", {
    make: SqliteJournal.make,
    statements: 3 + 1 + 2,
    // the saga's row apart at its start and its end
    planned: 2 + 2,
    env: Layer.suspend(() =>
      SqliteJournal.layer({
        dir: fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-journal-")),
        owner: "a",
        leaseDuration: "2 seconds"
      })
    )
  })
})
