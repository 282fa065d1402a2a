/**
 * The README's journal port, as TypeScript that must equal the exported `SagaJournal.Service` and `Leases` (checked
 * by `pnpm check`: `toEqualTypeOf` does not compile when they differ), and the in-memory journal used through it.
 * The README's block is checked against the region by `tools/readme`.
 */
import { assert, it } from "@effect/vitest"
import * as saga from "@polysaga/saga"
import * as effect from "effect"
import { expectTypeOf } from "vitest"

// #region readme
import type { SagaError, SagaJournal } from "@polysaga/saga"
import type { Duration, Effect } from "effect"

type JournalError = SagaError.JournalError

// The service of the tag `SagaJournal.SagaJournal` (`Context.Tag("@polysaga/saga/SagaJournal")`)
interface JournalPort {
  readonly append: (entry: SagaJournal.JournalEntry) => Effect.Effect<void, JournalError>
  readonly entries: (sagaId: string) => Effect.Effect<ReadonlyArray<SagaJournal.JournalEntry>, JournalError>
  readonly unfinished: Effect.Effect<ReadonlyArray<string>, JournalError> // sagas with no end, oldest first
  readonly leases?: Leases | undefined // journals that several instances share
}

interface Leases {
  readonly owner: string
  readonly duration: Duration.Duration
  readonly claim: (limit: number) => Effect.Effect<ReadonlyArray<string>, JournalError> // expired leases, taken
  readonly renew: Effect.Effect<number, JournalError>
  readonly release: (sagaId: string) => Effect.Effect<void, JournalError>
  readonly reopen: (sagaId: string, reason: string) => Effect.Effect<boolean, JournalError> // a failed saga, again
}
// #endregion readme

it.effect("the README's journal port is the exported one, and the in-memory journal is used through it", () =>
  effect.Effect.gen(function*() {
    expectTypeOf<JournalPort>().toEqualTypeOf<SagaJournal.SagaJournal.Service>()
    expectTypeOf<Leases>().toEqualTypeOf<SagaJournal.SagaJournal.Leases>()
    const journal: JournalPort = yield* saga.SagaJournal.makeMemory()
    const started = saga.SagaJournal.SagaStarted.make({ sagaId: "s1", at: 1, name: "order" })
    yield* journal.append(started)
    assert.deepStrictEqual(yield* journal.entries("s1"), [started])
    assert.deepStrictEqual(yield* journal.unfinished, ["s1"])
    assert.isUndefined(journal.leases) // in memory: one process, no leases
  }))
