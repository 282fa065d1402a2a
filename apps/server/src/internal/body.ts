import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import { BadRequest, PayloadTooLarge } from "../Api.js"

const tooLarge = (limit: number) =>
  new PayloadTooLarge({
    code: "PAYLOAD_TOO_LARGE",
    message: `the request body is larger than the limit of ${limit} bytes (limits.maxBodyBytes)`
  })

/**
 * Reads the request body as JSON, at most `limit` bytes. A declared `Content-Length` over the limit is refused
 * before reading; a chunked body is refused as soon as it passes the limit (the rest is discarded, not buffered),
 * and the connection stays able to carry the 413 response.
 */
export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<unknown, BadRequest | PayloadTooLarge> =>
  Effect.gen(function*() {
    const declared = request.headers["content-length"]
    if (declared !== undefined && Number(declared) > limit) return yield* tooLarge(limit)
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const text = yield* Effect.async<string, PayloadTooLarge | BadRequest>((resume) => {
      const chunks: Array<Buffer> = []
      let bytes = 0
      const cleanup = () => {
        source.off("data", onData)
        source.off("end", onEnd)
        source.off("error", onError)
      }
      const onData = (chunk: Buffer) => {
        bytes += chunk.length
        if (bytes > limit) {
          cleanup()
          source.resume() // discard the rest
          resume(Effect.fail(tooLarge(limit)))
          return
        }
        chunks.push(chunk)
      }
      const onEnd = () => {
        cleanup()
        resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
      }
      const onError = (error: Error) => {
        cleanup()
        resume(Effect.fail(
          new BadRequest({ code: "VALIDATION_ERROR", message: `the request body could not be read: ${error.message}` })
        ))
      }
      source.on("data", onData)
      source.on("end", onEnd)
      source.on("error", onError)
      return Effect.sync(cleanup)
    })
    if (text.trim() === "") {
      return yield* new BadRequest({
        code: "VALIDATION_ERROR",
        message: "the request body is empty: send { \"operations\": [...], \"options\": {...} } as JSON"
      })
    }
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) =>
        new BadRequest({
          code: "VALIDATION_ERROR",
          message: `the request body is not valid JSON: ${(cause as Error).message}`
        })
    })
  })
