import { Journal, PostgresJournal, Recovery } from "@polysaga/journal"
import { type SagaError, SagaJournal } from "@polysaga/saga"
import { type Source, Warehouse } from "@polysaga/warehouse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { BadRequest, type SagaStatus, type TransactionSummary } from "../Api.js"
import type { JournalConfig, ServerConfig } from "../Config.js"
import * as record from "./record.js"

/** Listing sagas by status, on what the journal package offers. */
export class JournalAdmin extends Context.Tag("@polysaga/server/JournalAdmin")<JournalAdmin, {
  readonly list: (options: {
    readonly status: SagaStatus | undefined
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<TransactionSummary>, SagaError.JournalError | BadRequest>
}>() {}

const unsupported = (status: string | undefined) =>
  new BadRequest({
    code: "UNSUPPORTED_FILTER",
    path: "status",
    message: `status: the journal lists running and failed transactions only (got ${
      status === undefined ? "no status" : status
    }); read any transaction with GET /v1/transactions/:id`
  })

const adminLayer = Layer.effect(
  JournalAdmin,
  Effect.gen(function*() {
    const journal = yield* SagaJournal.SagaJournal
    const admin = yield* Journal.Journal
    return {
      list: ({ limit, status }) => {
        switch (status) {
          case "failed":
            return Effect.map(admin.failed({ limit }), (sagas) =>
              sagas.map((saga): TransactionSummary => ({
                id: saga.id,
                name: saga.name,
                status: "failed",
                startedAt: saga.startedAt.toISOString(),
                ...(saga.endedAt === undefined ? {} : { endedAt: saga.endedAt.toISOString() }),
                ...(saga.error === undefined ? {} : { error: saga.error })
              })))
          case "running":
            return journal.unfinished.pipe(
              Effect.flatMap((ids) =>
                Effect.forEach(
                  ids.slice(0, limit),
                  (id) => Effect.map(journal.entries(id), (entries) => record.fromEntries(id, entries)),
                  { concurrency: 4 }
                )
              ),
              Effect.map((records) =>
                records.flatMap((r): Array<TransactionSummary> =>
                  r === undefined || r.status !== "running" ? [] : [{
                    id: r.id,
                    name: r.name,
                    status: r.status,
                    startedAt: r.startedAt
                  }]
                )
              )
            )
          default:
            return Effect.fail(unsupported(status))
        }
      }
    }
  })
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
