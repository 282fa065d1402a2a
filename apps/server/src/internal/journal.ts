import { Journal, PostgresJournal, Recovery, SqliteJournal } from "@polysaga/journal"
import { type SagaError, SagaJournal } from "@polysaga/saga"
import { Source, Warehouse } from "@polysaga/warehouse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { Overview, TransactionPage, TransactionSummary } from "../Api.js"
import type { JournalConfig, ServerConfig } from "../Config.js"

/** The journal's views for the endpoints: pages of summaries, the overview, resolving by hand. */
export class JournalAdmin extends Context.Tag("@polysaga/server/JournalAdmin")<JournalAdmin, {
  readonly page: (
    options: Journal.ListOptions
  ) => Effect.Effect<typeof TransactionPage.Type, SagaError.JournalError | Journal.InvalidCursor>
  readonly overview: Effect.Effect<Overview, SagaError.JournalError>
  readonly resolve: (sagaId: string, reason: string) => Effect.Effect<boolean, SagaError.JournalError>
}>() {}

const summary = (saga: Journal.SagaSummary): TransactionSummary => ({
  id: saga.id,
  name: saga.name,
  status: saga.status,
  startedAt: saga.startedAt.toISOString(),
  ...(saga.endedAt === undefined ? {} : { endedAt: saga.endedAt.toISOString() }),
  ...(saga.error === undefined ? {} : { error: saga.error }),
  ...(saga.resolution === undefined
    ? {}
    : { resolution: { at: saga.resolution.at.toISOString(), reason: saga.resolution.reason } })
})

const adminLayer = Layer.effect(
  JournalAdmin,
  Effect.map(Journal.Journal, (admin) => ({
    page: (options) =>
      Effect.map(admin.page(options), (page) => ({
        transactions: page.sagas.map(summary),
        ...(page.next === undefined ? {} : { next: page.next })
      })),
    overview: admin.overview,
    resolve: admin.resolve
  }))
)

const journalLayer = (config: JournalConfig) => {
  const leaseDuration = config.leaseSeconds === undefined ? undefined : `${config.leaseSeconds} seconds` as const
  return "url" in config
    ? PostgresJournal.layer({ url: config.url, leaseDuration })
    : config.engine === "pglite"
    ? PostgresJournal.layerEmbedded({ dir: config.embedded, leaseDuration })
    : SqliteJournal.layer({ dir: config.embedded, leaseDuration })
}

/**
 * The durable journal of the configuration (PostgreSQL, or embedded: SQLite or PGlite), with its admin service and the
 * listing the endpoints use.
 */
export const layer = (config: ServerConfig) => Layer.provideMerge(adminLayer, journalLayer(config.journal))

/** The recovery runner on the warehouse's step registry: a first pass before the server listens, then continuous. */
export const recoveryLayer = (
  config: ServerConfig
): Layer.Layer<never, never, Source.Sources | SagaJournal.SagaJournal | Journal.Journal> =>
  Layer.merge(
    Recovery.layer(Warehouse.registry, { interval: `${config.recoveryIntervalMs} millis`, retention }),
    storeRetention
  )

/** Finished sagas (and the stores' barrier records and undo markers) are kept this long. */
const retention = "7 days"

/**
 * Retention of the stores' own bookkeeping (barrier records, applied-undo markers), as long as the journal keeps
 * finished sagas: hourly, for every store that has a `prune`.
 */
const storeRetention = Layer.scopedDiscard(
  Effect.gen(function*() {
    const sources = yield* Source.Sources
    const stores = [...new Set(sources.all.map((source) => source.store))]
    yield* Effect.forEach(stores, (store) =>
      store.prune === undefined ? Effect.void : store.prune(retention).pipe(
        Effect.tap((removed) =>
          removed > 0 ? Effect.logInfo(`retention: ${removed} ${store.engine} records pruned`) : Effect.void
        ),
        Effect.catchAll((error) => Effect.logWarning(`retention: ${store.engine}: ${error.message}`))
      ), { discard: true }).pipe(
        Effect.repeat(Schedule.spaced("1 hour")),
        Effect.forkScoped
      )
  })
)
