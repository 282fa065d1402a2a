import { Identifier } from "@polysaga/store"
import type { Conformance } from "@polysaga/testing/conformance"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import neo4j, { type Driver } from "neo4j-driver"
import * as Neo4j from "../src/index.js"

export const url = (): string => {
  const url = process.env.POLYSAGA_NEO4J_URL
  if (url === undefined) throw new Error("POLYSAGA_NEO4J_URL is not set: run `pnpm stack:up`")
  return url
}

export const config = (maxRecordsPerOperation = 20): Neo4j.Neo4jStoreConfig => ({
  url: Redacted.make(url()),
  maxRecordsPerOperation
})

/** A raw driver of the test's own, to reset and read entities without going through the port. */
export const rawDriver = Effect.acquireRelease(
  Effect.sync(() => neo4j.driver(url())),
  (driver) => Effect.promise(() => driver.close())
)

export const query = (driver: Driver, cypher: string, params: Record<string, unknown> = {}) =>
  Effect.promise(() => driver.executeQuery(cypher, params).then((r) => r.records.map((x) => x.toObject())))

const checked = (name: string) => {
  if (!Identifier.pattern.test(name)) throw new Error(`bad test entity ${name}`)
  return `\`${name}\``
}

/** Plain JSON of a driver value: integers and floats as numbers (`{ int: n }` marks integers when `typed`). */
export const plain = (u: unknown, typed = false): unknown => {
  if (neo4j.isInt(u)) return typed ? { int: u.toNumber() } : u.toNumber()
  if (Array.isArray(u)) return u.map((x) => plain(x, typed))
  if (neo4j.isDateTime(u)) return { dateTime: u.toString() }
  if (u !== null && typeof u === "object") {
    return Object.fromEntries(
      Object.entries(u).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => [k, plain(v, typed)])
    )
  }
  return u
}

export const reset = (driver: Driver, label: string) => query(driver, `MATCH (n:${checked(label)}) DETACH DELETE n`)

/** Every node of `label` as its properties. */
export const nodes = (driver: Driver, label: string, typed = false) =>
  Effect.map(
    query(driver, `MATCH (n:${checked(label)}) RETURN properties(n) AS props`),
    (rows) => rows.map((r) => plain(r.props, typed)).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
  )

export const fromRow = (row: unknown): Conformance.Fixture => {
  const r = row as Record<string, unknown>
  return {
    id: r.id as string,
    name: r.name as string,
    qty: r.qty as number,
    price: r.price as number,
    tags: (r.tags as Array<string> | undefined) ?? [],
    active: r.active as boolean,
    note: (r.note as string | undefined) ?? null
  }
}

/** The test's raw driver as a service. */
export class Raw extends Context.Tag("@polysaga/neo4j/test/Raw")<Raw, Driver>() {}
export const RawLive = Layer.scoped(Raw, rawDriver)
