import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { JournalError } from "../SagaError.js"
import type * as SagaJournal from "../SagaJournal.js"

/** @internal */
export const makeMemory =
  (schema: typeof SagaJournal.JournalEntry) => (initial: ReadonlyArray<SagaJournal.JournalEntry> = []) =>
    Effect.gen(function*() {
      const encode = Schema.encode(Schema.parseJson(schema))
      const decode = Schema.decode(Schema.parseJson(schema))
      const rows: Array<string> = []
      const append = (entry: SagaJournal.JournalEntry) =>
        encode(entry).pipe(
          Effect.map((json) => void rows.push(json)),
          Effect.mapError((cause) => new JournalError({ operation: "append", sagaId: entry.sagaId, cause }))
        )
      const read = (sagaId: string | undefined) =>
        Effect.forEach(rows, (row) => decode(row)).pipe(
          Effect.map((entries) => sagaId === undefined ? entries : entries.filter((e) => e.sagaId === sagaId)),
          Effect.mapError((cause) => new JournalError({ operation: "read", sagaId, cause }))
        )
      yield* Effect.orDie(Effect.forEach(initial, append, { discard: true }))
      const all = Effect.orDie(read(undefined))
      const service: SagaJournal.SagaJournal.Service & { readonly all: typeof all } = {
        append,
        entries: (sagaId) => read(sagaId),
        unfinished: Effect.map(read(undefined), (entries) => {
          const open = new Set<string>()
          for (const entry of entries) {
            if (entry._tag === "SagaStarted" || entry._tag === "SagaReopened") open.add(entry.sagaId)
            else if (entry._tag === "SagaEnded") open.delete(entry.sagaId)
          }
          return Array.from(open)
        }),
        all
      }
      return service
    })

/** @internal */
export const layerMemory = <I>(
  tag: Context.Tag<I, SagaJournal.SagaJournal.Service>,
  schema: typeof SagaJournal.JournalEntry
): Layer.Layer<I> => Layer.effect(tag, makeMemory(schema)())

/** @internal */
export const noop: SagaJournal.SagaJournal.Service = {
  append: () => Effect.void,
  entries: () => Effect.succeed([]),
  unfinished: Effect.succeed([])
}
