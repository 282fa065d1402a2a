import { assert, it } from "@effect/vitest"
import { PostgresJournal, SqliteJournal } from "@polysaga/journal"
import { type SagaError, SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// The recovery runner asks the journal every 10 s by default, the same as pg's idle timeout: the pool closed its
// idle connection and opened a new one at that very moment, the PGlite socket server (one connection at a time)
// refused it, and every other pass failed with "Connection terminated unexpectedly".
it.live(
  "embedded PGlite: a query after an idle pause as long as pg's idle timeout is answered",
  () =>
    Effect.gen(function*() {
      const journal = yield* SagaJournal.SagaJournal
      assert.deepStrictEqual(yield* journal.leases!.claim(10), [])
      yield* Effect.sleep("10 seconds")
      assert.deepStrictEqual(yield* journal.leases!.claim(10), [])
    }).pipe(
      Effect.provide(PostgresJournal.layerEmbedded({
        dir: fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-journal-idle-"))
      }))
    ),
  60_000
)

const sqliteDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-journal-sqlite-"))

it.live("embedded SQLite: reopened, the sagas the previous process left running are claimable at once", () =>
  Effect.gen(function*() {
    const dir = sqliteDir()
    const sagaId = "left-running"
    // the first process starts a saga with a 30 s lease and goes away without ending it
    yield* Effect.gen(function*() {
      const journal = yield* SagaJournal.SagaJournal
      yield* journal.append(SagaJournal.SagaStarted.make({ sagaId, name: "left", at: 0 }))
      yield* journal.append(SagaJournal.StepIntent.make({ sagaId, stepId: "s0", name: "x", attempt: 1, at: 1 }))
    }).pipe(Effect.provide(SqliteJournal.layer({ dir, owner: "first", leaseDuration: "30 seconds" })))
    const claimed = yield* Effect.flatMap(SagaJournal.SagaJournal, (journal) => journal.leases!.claim(10)).pipe(
      Effect.provide(SqliteJournal.layer({ dir, owner: "second", leaseDuration: "30 seconds" }))
    )
    assert.deepStrictEqual(claimed, [sagaId])
  }))

it.live("embedded SQLite: one process at a time; a second open fails naming the file", () => {
  const dir = sqliteDir()
  return Effect.gen(function*() {
    yield* SagaJournal.SagaJournal
    const second = yield* Effect.flip(
      Layer.launch(SqliteJournal.layer({ dir, owner: "second" })).pipe(Effect.timeout("20 seconds"))
    )
    assert.strictEqual(second._tag, "JournalError")
    assert.include(String((second as SagaError.JournalError).cause), "is open in another process")
    assert.include(second.message, SqliteJournal.file(dir))
  }).pipe(Effect.provide(SqliteJournal.layer({ dir, owner: "first" })))
}, 30_000)
