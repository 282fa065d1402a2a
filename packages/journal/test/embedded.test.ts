import { assert, it } from "@effect/vitest"
import { PostgresJournal } from "@polysaga/journal"
import { SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
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
