import type { StoreError } from "@polysaga/store"
import { ChromaClient } from "chromadb"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { classify, classifyStatus, storeError } from "./errors.js"

/** The resolved connection settings. */
export interface Settings {
  readonly url: Redacted.Redacted<string>
  readonly tenant: string
  readonly database: string
  readonly token: Redacted.Redacted<string> | undefined
  readonly tokenHeader: "authorization" | "x-chroma-token"
  readonly timeout: Duration.Duration
}

/**
 * The chromadb client plus the two REST calls the client cannot make for us: `add` with a batch mixing records
 * with and without a document, and `update` with `null` metadata values (which delete keys — the client drops
 * nulls before sending, so it could never remove a metadata key).
 */
export interface Connection {
  readonly client: ChromaClient
  readonly call: <A>(what: string, entity: string | undefined, f: () => Promise<A>) => Effect.Effect<A, StoreError>
  readonly post: (
    what: string,
    entity: string,
    collectionId: string,
    endpoint: "add" | "update",
    body: unknown
  ) => Effect.Effect<void, StoreError>
}

export const connect = (settings: Settings): Effect.Effect<Connection, StoreError> =>
  Effect.gen(function*() {
    const url = yield* Effect.try({
      try: () => new URL(Redacted.value(settings.url)),
      catch: (cause) => storeError("Validation", "the Chroma url is not a valid URL", { cause })
    })
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return yield* storeError("Validation", `the Chroma url must use http or https, not ${url.protocol}`)
    }
    const ssl = url.protocol === "https:"
    const port = url.port === "" ? (ssl ? 443 : 80) : Number(url.port)
    const headers: Record<string, string> = {}
    if (settings.token !== undefined) {
      const token = Redacted.value(settings.token)
      if (settings.tokenHeader === "authorization") headers["authorization"] = `Bearer ${token}`
      else headers["x-chroma-token"] = token
    }
    const client = new ChromaClient({
      host: url.hostname,
      port,
      ssl,
      tenant: settings.tenant,
      database: settings.database,
      headers
    })
    const base = `${ssl ? "https" : "http"}://${url.host}/api/v2/tenants/${encodeURIComponent(settings.tenant)}` +
      `/databases/${encodeURIComponent(settings.database)}/collections/`
    const millis = Duration.toMillis(settings.timeout)

    const call = <A>(what: string, entity: string | undefined, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: classify(what, entity) }).pipe(
        Effect.timeoutFail({
          duration: settings.timeout,
          onTimeout: () => storeError("Timeout", `${what}: no answer from Chroma within ${millis} ms`, { entity })
        })
      )

    const post = (what: string, entity: string, collectionId: string, endpoint: "add" | "update", body: unknown) =>
      Effect.tryPromise({
        try: async (signal) => {
          const response = await fetch(`${base}${encodeURIComponent(collectionId)}/${endpoint}`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: JSON.stringify(body),
            signal: AbortSignal.any([signal, AbortSignal.timeout(millis)])
          })
          const text = await response.text()
          return { status: response.status, ok: response.ok, text }
        },
        catch: classify(what, entity)
      }).pipe(
        Effect.flatMap((r) => r.ok ? Effect.void : Effect.fail(classifyStatus(what, entity, r.status, r.text)))
      )

    return { client, call, post }
  })
