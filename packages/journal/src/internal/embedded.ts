import { SagaError } from "@polysaga/saga"
import * as Effect from "effect/Effect"

/**
 * PGlite on `dir`, served on a loopback port chosen by the system: a real PostgreSQL in this process, reached with
 * the same `@effect/sql-pg` client as a server. Closed (server, then database) with the scope.
 * @internal
 */
export const serve = (dir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        // loaded on first use: an application on the SQLite or the PostgreSQL journal does not pay for PGlite
        const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
          import("@electric-sql/pglite"),
          import("@electric-sql/pglite-socket")
        ])
        const db = await PGlite.create({ dataDir: dir })
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 })
        try {
          await server.start()
        } catch (error) {
          await db.close()
          throw error
        }
        const [host, port] = server.getServerConn().split(":")
        return { db, server, host: host!, port: Number(port) }
      },
      catch: (cause) => new SagaError.JournalError({ operation: "start embedded PostgreSQL", sagaId: undefined, cause })
    }),
    ({ db, server }) =>
      Effect.promise(async () => {
        await server.stop()
        await db.close()
      }).pipe(Effect.timeout("10 seconds"), Effect.ignore)
  )
