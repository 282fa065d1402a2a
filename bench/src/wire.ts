/**
 * Round trips counted on the wire: a loopback TCP proxy in front of a real store that forwards every byte both ways
 * and reads the client's side of each connection with the store's framing, counting the requests it sends:
 *
 * - PostgreSQL: `Query` (simple protocol) and `Sync` (the end of one extended-protocol statement) messages — one
 *   each per statement the driver sends, `BEGIN` and `COMMIT` included;
 * - Neo4j (Bolt): `BEGIN`, `RUN`, `COMMIT`, `ROLLBACK` (a `RUN`'s `PULL` is part of it; connection set-up and
 *   `RESET` are not counted);
 * - MongoDB: `OP_MSG` commands, by command name, without the handshake and monitoring ones;
 * - HTTP (Chroma): requests, by method and path.
 *
 * Nothing is changed on the way: the stores are the real ones, the proxy only adds a loopback hop (so it is used
 * to count, never to time).
 */
import * as net from "node:net"

export type Protocol = "postgres" | "bolt" | "mongodb" | "http"

export interface Counter {
  /** The loopback port to point the client at. */
  readonly port: number
  /** Requests since the last `reset`. */
  readonly total: () => number
  /** Requests since the last `reset`, by kind (`Q`/`S`, `RUN`/`BEGIN`…, a command name, `POST /path`). */
  readonly kinds: () => Readonly<Record<string, number>>
  readonly reset: () => void
  readonly close: () => Promise<void>
}

type Parser = (chunk: Buffer, count: (kind: string) => void) => void

const postgres = (): Parser => {
  let buffer = Buffer.alloc(0)
  let startup = true
  return (chunk, count) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (startup) {
        if (buffer.length < 8) return
        const length = buffer.readInt32BE(0)
        if (buffer.length < length) return
        const code = buffer.readInt32BE(4)
        // SSLRequest / GSSENCRequest come before the startup message, which ends the untyped phase
        if (code !== 80877103 && code !== 80877104) startup = false
        buffer = buffer.subarray(length)
        continue
      }
      if (buffer.length < 5) return
      const length = buffer.readInt32BE(1) + 1
      if (buffer.length < length) return
      const type = String.fromCharCode(buffer[0]!)
      if (type === "Q" || type === "S") count(type)
      buffer = buffer.subarray(length)
    }
  }
}

const boltSignatures: Readonly<Record<number, string>> = {
  0x10: "RUN",
  0x11: "BEGIN",
  0x12: "COMMIT",
  0x13: "ROLLBACK"
}

const bolt = (): Parser => {
  let buffer = Buffer.alloc(0)
  let handshake = true
  /** Bolt 5.7+'s manifest handshake: the client then sends the version it chose and a varint of capabilities. */
  let negotiation = false
  let message: Array<number> = []
  return (chunk, count) => {
    buffer = Buffer.concat([buffer, chunk])
    if (handshake) {
      if (buffer.length < 20) return
      negotiation = buffer.readUInt32BE(4) === 0x000001ff
      buffer = buffer.subarray(20)
      handshake = false
    }
    if (negotiation) {
      let end = 4
      while (end < buffer.length && (buffer[end]! & 0x80) !== 0) end++
      if (end >= buffer.length) return
      buffer = buffer.subarray(end + 1)
      negotiation = false
    }
    for (;;) {
      if (buffer.length < 2) return
      const size = buffer.readUInt16BE(0)
      if (size === 0) {
        // the end of a message: its second byte is the signature
        if (message.length >= 2) {
          const kind = boltSignatures[message[1]!]
          if (kind !== undefined) count(kind)
        }
        message = []
        buffer = buffer.subarray(2)
        continue
      }
      if (buffer.length < 2 + size) return
      if (message.length < 2) message.push(...buffer.subarray(2, 2 + Math.min(size, 2 - message.length)))
      buffer = buffer.subarray(2 + size)
    }
  }
}

const mongoIgnored = new Set([
  "hello",
  "ismaster",
  "isMaster",
  "ping",
  "saslStart",
  "saslContinue",
  "endSessions",
  "buildInfo",
  "getParameter"
])

const mongodb = (): Parser => {
  let buffer = Buffer.alloc(0)
  return (chunk, count) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (buffer.length < 16) return
      const length = buffer.readInt32LE(0)
      if (buffer.length < length) return
      const opCode = buffer.readInt32LE(12)
      if (opCode === 2013 && buffer[20] === 0) {
        // flagBits (4 bytes), section kind 0, then the command document: size, first element type, its name
        const start = 26
        const end = buffer.indexOf(0, start)
        const name = buffer.subarray(start, end).toString("utf8")
        if (!mongoIgnored.has(name)) count(name)
      } else if (opCode !== 2013) {
        count(`op${opCode}`)
      }
      buffer = buffer.subarray(length)
    }
  }
}

const http = (): Parser => {
  let buffer = Buffer.alloc(0)
  let body = 0
  let chunked = false
  return (chunk, count) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (body > 0) {
        const n = Math.min(body, buffer.length)
        buffer = buffer.subarray(n)
        body -= n
        if (body > 0) return
      }
      if (chunked) {
        const line = buffer.indexOf("\r\n")
        if (line < 0) return
        const size = parseInt(buffer.subarray(0, line).toString("latin1"), 16)
        if (buffer.length < line + 2 + size + 2) return
        buffer = buffer.subarray(line + 2 + size + 2)
        if (size === 0) chunked = false
        continue
      }
      const end = buffer.indexOf("\r\n\r\n")
      if (end < 0) return
      const head = buffer.subarray(0, end).toString("latin1").split("\r\n")
      const [method, target] = head[0]!.split(" ")
      // `POST …/collections/<id>/add` as `POST add`: the operation, not the collection
      count(`${method} ${(target ?? "").split("?")[0]!.split("/").at(-1)}`)
      for (const header of head.slice(1)) {
        const [name, ...value] = header.split(":")
        const key = name!.trim().toLowerCase()
        if (key === "content-length") body = Number(value.join(":").trim())
        if (key === "transfer-encoding" && /chunked/i.test(value.join(":"))) chunked = true
      }
      buffer = buffer.subarray(end + 4)
    }
  }
}

const parsers: Readonly<Record<Protocol, () => Parser>> = { postgres, bolt, mongodb, http }

/** A counting proxy on an ephemeral loopback port in front of `target` (`host:port`). */
export const proxy = (protocol: Protocol, target: { readonly host: string; readonly port: number }) =>
  new Promise<Counter>((resolve, reject) => {
    let kinds: Record<string, number> = {}
    const count = (kind: string) => void (kinds[kind] = (kinds[kind] ?? 0) + 1)
    const sockets = new Set<net.Socket>()
    const server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host)
      const parse = parsers[protocol]()
      sockets.add(client).add(upstream)
      client.on("data", (chunk: Buffer) => {
        parse(chunk, count)
        upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => void client.write(chunk))
      const close = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on("close", close).on("error", close)
      upstream.on("close", close).on("error", close)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        total: () => Object.values(kinds).reduce((a, b) => a + b, 0),
        kinds: () => ({ ...kinds }),
        reset: () => void (kinds = {}),
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })

/** `url` with its host and port replaced by the proxy's. */
export const via = (url: string, counter: Counter): string => {
  const parsed = new URL(url)
  parsed.hostname = "127.0.0.1"
  parsed.port = String(counter.port)
  return parsed.toString().replace(/\/$/, url.endsWith("/") ? "/" : "")
}

/** The host and port of a store URL. */
export const target = (url: string) => {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port) }
}
