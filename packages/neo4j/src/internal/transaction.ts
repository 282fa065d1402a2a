import type { StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Driver } from "neo4j-driver"
import neo4j from "neo4j-driver"
import { fromDriver } from "./errors.js"

/** Runs Cypher inside one transaction; each row is returned as an object of its columns. */
export interface Tx {
  readonly run: (
    query: string,
    params?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, StoreError>
}

/**
 * Runs `use` in one explicit write transaction: committed when `use` succeeds, rolled back when it fails or is
 * interrupted. The session is always closed (bounded).
 */
export const transaction = <A, E>(
  { database, driver, timeout }: {
    readonly driver: Driver
    readonly database: string | undefined
    /** Milliseconds; Neo4j fails a transaction running longer (a `Timeout`, transient). */
    readonly timeout: number
  },
  entity: string,
  use: (tx: Tx) => Effect.Effect<A, E>
): Effect.Effect<A, E | StoreError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const session = driver.session({
        defaultAccessMode: neo4j.session.WRITE,
        ...(database === undefined ? {} : { database })
      })
      return { session, tx: session.beginTransaction({ timeout }) }
    }),
    ({ tx }) =>
      use({
        run: (query, params = {}) =>
          Effect.tryPromise({
            try: () => tx.run(query, params).then((result) => result.records.map((record) => record.toObject())),
            catch: fromDriver(entity, "Neo4j query failed")
          })
      }).pipe(
        Effect.tap(() =>
          Effect.tryPromise({ try: () => tx.commit(), catch: fromDriver(entity, "Neo4j commit failed") })
        )
      ),
    ({ session, tx }, exit) =>
      Effect.promise(async () => {
        if (Exit.isFailure(exit) && tx.isOpen()) await tx.rollback().catch(() => undefined)
        await session.close().catch(() => undefined)
      }).pipe(Effect.timeout("10 seconds"), Effect.ignore)
  )
