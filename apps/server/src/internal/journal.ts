import { Journal, PostgresJournal, Recovery } from "@polysaga/journal"
import { type SagaError, SagaJournal } from "@polysaga/saga"
import { type Source, Warehouse } from "@polysaga/warehouse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { SagaStatus, TransactionSummary } from "../Api.js"
import type { JournalConfig, ServerConfig } from "../Config.js"

/** Listing sagas, newest first, optionally by status. */
export class JournalAdmin extends Context.Tag("@polysaga/server/JournalAdmin")<JournalAdmin, {
  readonly list: (options: {
    readonly status: SagaStatus | undefined
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<TransactionSummary>, SagaError.JournalError>
}>() {}

const adminLayer = Layer.effect(
  JournalAdmin,
  Effect.map(Journal.Journal, (admin) => ({
    list: ({ limit, status }) =>
      Effect.map(admin.list({ status, limit }), (sagas) =>
        sagas.map((saga): TransactionSummary => ({
          id: saga.id,
          name: saga.name,
          status: saga.status,
          startedAt: saga.startedAt.toISOString(),
          ...(saga.endedAt === undefined ? {} : { endedAt: saga.endedAt.toISOString() }),
          ...(saga.error === undefined ? {} : { error: saga.error })
        })))
  }))
)

const journalLayer = (config: JournalConfig) => {
  const leaseDuration = config.leaseSeconds === undefined ? undefined : `${config.leaseSeconds} seconds` as const
  return "url" in config
    ? PostgresJournal.layer({ url: config.url, leaseDuration })
    : PostgresJournal.layerEmbedded({ dir: config.embedded, leaseDuration })
}

/**
 * The durable journal of the configuration (PostgreSQL or embedded PGlite), with its admin service and the
 * listing the endpoints use.
 */
export const layer = (config: ServerConfig) => Layer.provideMerge(adminLayer, journalLayer(config.journal))

/** The recovery runner on the warehouse's step registry: a first pass before the server listens, then continuous. */
export const recoveryLayer = (
  config: ServerConfig
): Layer.Layer<never, never, Source.Sources | SagaJournal.SagaJournal | Journal.Journal> =>
  Recovery.layer(Warehouse.registry, { interval: `${config.recoveryIntervalMs} millis` })
