/**
 * A TCP proxy on loopback that loses what a test tells it to: the reply to a request (the store applied it, the
 * client never hears back), or the request itself (the store never sees it). Either way the client's connection is
 * cut, as when a network drops or a server dies mid-call: the write is **in doubt** for the client. Used to check
 * that a step whose reply was lost is resolved through its store's barrier rather than taken as not applied.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * @since 0.1.0
 * @category models
 */
export interface LossyProxy {
  /** The loopback port clients connect to. */
  readonly port: number
  /**
   * Forward the next client message containing `pattern`, swallow the server's reply to it, then cut the client's
   * connection: the server applied it, the client cannot know.
   */
  readonly loseReply: (pattern: string | Uint8Array) => void
  /** Drop the next client message containing `pattern` and cut the connection: the server never sees it. */
  readonly loseRequest: (pattern: string | Uint8Array) => void
  /** How many messages were lost so far (replies and requests). */
  readonly lost: () => number
}

type Armed = { readonly kind: "reply" | "request"; readonly pattern: Buffer } | undefined

/**
 * Starts the proxy to `target` on an ephemeral loopback port; closed (with every connection) with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (target: { readonly host: string; readonly port: number }): Effect.Effect<
  LossyProxy,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let armed: Armed
    let lost = 0
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((client) => {
      const upstream = Net.connect(target.port, target.host)
      sockets.add(client)
      sockets.add(upstream)
      let swallow = false
      const cut = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("data", (chunk: Buffer) => {
        const hit = armed !== undefined && chunk.includes(armed.pattern) ? armed : undefined
        if (hit === undefined) return void upstream.write(chunk)
        armed = undefined
        lost++
        if (hit.kind === "request") return cut()
        swallow = true
        upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        // the reply arrived: the server did the work; the client never sees it
        if (swallow) return cut()
        client.write(chunk)
      })
      for (const socket of [client, upstream]) {
        socket.on("error", cut)
        socket.on("close", () => {
          sockets.delete(socket)
          cut()
        })
      }
    })
    const port = yield* Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
    })
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
    )
    const arm = (kind: "reply" | "request") => (pattern: string | Uint8Array) =>
      void (armed = { kind, pattern: Buffer.from(pattern) })
    return { port, loseReply: arm("reply"), loseRequest: arm("request"), lost: () => lost }
  })
