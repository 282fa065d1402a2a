#!/usr/bin/env node
// Health check for the polysaga dev/test stack: waits (bounded) for each store, then prints the
// version each store reports about itself.
//
//   node tools/stack/health.mjs [--wait SECONDS] [--logs DIR] [postgres|ferretdb|neo4j|chroma ...]
//
// URLs come from POLYSAGA_*_URL when set, else from POLYSAGA_*_PORT / the defaults used by up.sh.
// Exits non-zero if any requested store is not healthy in time (and prints the tail of its log
// when --logs is given).
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

import { ChromaClient } from "chromadb"
import { MongoClient } from "mongodb"
import neo4j from "neo4j-driver"
import pg from "pg"

const env = process.env
const HOST = "127.0.0.1"
const urls = {
  postgres: env.POLYSAGA_PG_URL ?? `postgres://postgres@${HOST}:${env.POLYSAGA_PG_PORT ?? 55432}/polysaga`,
  ferretdb: env.POLYSAGA_MONGO_URL ?? `mongodb://${HOST}:${env.POLYSAGA_MONGO_PORT ?? 57017}/`,
  neo4j: env.POLYSAGA_NEO4J_URL ?? `bolt://${HOST}:${env.POLYSAGA_NEO4J_PORT ?? 57687}`,
  chroma: env.POLYSAGA_CHROMA_URL ?? `http://${HOST}:${env.POLYSAGA_CHROMA_PORT ?? 58000}`
}

// Each check resolves to a one-line description of the store's self-reported version.
const checks = {
  async postgres() {
    const client = new pg.Client({ connectionString: urls.postgres, connectionTimeoutMillis: 3000 })
    await client.connect()
    try {
      const { rows } = await client.query("select version() as v, current_database() as db")
      return `${rows[0].v} (database ${rows[0].db})`
    } finally {
      await client.end()
    }
  },

  async ferretdb() {
    const client = new MongoClient(urls.ferretdb, {
      serverSelectionTimeoutMS: 3000,
      connectTimeoutMS: 3000
    })
    try {
      await client.connect()
      const admin = client.db("admin")
      await admin.command({ ping: 1 })
      const info = await admin.command({ buildInfo: 1 })
      const ferret = info.ferretdbVersion ?? info.ferretdb?.version ?? "unknown"
      return `FerretDB ${ferret} (MongoDB wire compatibility ${info.version})`
    } finally {
      await client.close()
    }
  },

  async neo4j() {
    const driver = neo4j.driver(urls.neo4j, undefined, {
      connectionTimeout: 3000,
      connectionAcquisitionTimeout: 3000,
      logging: { level: "error", logger: () => {} }
    })
    try {
      await driver.verifyConnectivity()
      const { records } = await driver.executeQuery("CALL dbms.components() YIELD name, versions, edition")
      return records
        .map((r) => `${r.get("name")} ${r.get("versions").join(",")} ${r.get("edition")}`)
        .join("; ")
    } finally {
      await driver.close()
    }
  },

  async chroma() {
    // Raw heartbeat first: cheap, and tells "not listening" apart from client errors.
    const res = await fetch(`${urls.chroma}/api/v2/heartbeat`, { signal: AbortSignal.timeout(3000) })
    if (!res.ok) throw new Error(`heartbeat HTTP ${res.status}`)
    const u = new URL(urls.chroma)
    const client = new ChromaClient({ host: u.hostname, port: Number(u.port || 80), ssl: u.protocol === "https:" })
    await client.heartbeat()
    return `Chroma ${await client.version()}`
  }
}

function parseArgs(argv) {
  const opts = { wait: 60, logs: undefined, stores: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === "--wait") opts.wait = Number(argv[++i])
    else if (a === "--logs") opts.logs = argv[++i]
    else if (a in checks) opts.stores.push(a)
    else {
      console.error(`health: unknown argument ${a}`)
      process.exit(2)
    }
  }
  if (opts.stores.length === 0) opts.stores = Object.keys(checks)
  return opts
}

async function waitFor(store, deadline) {
  const started = Date.now()
  let lastError
  for (;;) {
    try {
      const version = await checks[store]()
      return { store, ok: true, version, ms: Date.now() - started }
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      return { store, ok: false, error: lastError?.message ?? String(lastError), ms: Date.now() - started }
    }
    await sleep(300)
  }
}

function tail(file, lines = 40) {
  if (!existsSync(file)) return `(no log at ${file})`
  return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n")
}

const opts = parseArgs(process.argv.slice(2))
const deadline = Date.now() + opts.wait * 1000
const results = await Promise.all(opts.stores.map((s) => waitFor(s, deadline)))

let failed = false
for (const r of results) {
  if (r.ok) {
    console.log(`[health] ${r.store.padEnd(8)} ok  ${urls[r.store]}  ${r.version}`)
  } else {
    failed = true
    console.error(
      `[health] ${r.store.padEnd(8)} NOT HEALTHY after ${(r.ms / 1000).toFixed(1)}s at ${urls[r.store]}: ${r.error}`
    )
    if (opts.logs) {
      const file = join(opts.logs, `${r.store}.log`)
      console.error(`[health] --- last lines of ${file} ---\n${tail(file)}\n[health] ---`)
    }
  }
}
process.exit(failed ? 1 : 0)
