import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import { Authorization, Unauthorized } from "../Api.js"

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

const denied = new Unauthorized({
  code: "UNAUTHORIZED",
  message: "a valid `Authorization: Bearer <key>` header is required"
})

/** `Bearer <token>` (the scheme is case-insensitive); anything else is no token. */
const bearer = /^Bearer +(\S+) *$/i

/**
 * The `Authorization` middleware. With keys: the bearer token must equal one of them, compared in constant time
 * (SHA-256 digests of equal length, every key compared, no early exit). Without keys: every request passes.
 */
export const layer = (apiKeys: ReadonlyArray<Redacted.Redacted<string>> | undefined): Layer.Layer<Authorization> =>
  Layer.effect(
    Authorization,
    Effect.gen(function*() {
      if (apiKeys === undefined) {
        yield* Effect.logWarning(
          "AUTHENTICATION IS OFF: no `apiKeys` in the configuration, so anyone who can reach this port can " +
            "write to every configured store. Set `apiKeys` before exposing the server."
        )
        return Authorization.of({ bearer: () => Effect.void })
      }
      const keys = apiKeys.map((key) => digest(Redacted.value(key)))
      return Authorization.of({
        bearer: () =>
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            const match = bearer.exec(request.headers.authorization ?? "")
            if (match === null) return yield* denied
            const candidate = digest(match[1]!)
            let ok = false
            for (const key of keys) ok = timingSafeEqual(key, candidate) || ok
            if (!ok) return yield* denied
          })
      })
    })
  )
