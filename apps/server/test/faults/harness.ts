/**
 * The fault tests' harness (`crash.test.ts`, `outage.test.ts`): the service as child processes (`src/main.ts`) on
 * the four real stores, a load generator of 4-store transactions over HTTP (a third doomed by a 5th step that fails),
 * the stack's stores frozen or stopped, and the checker that counts every transaction's records per key in each of
 * the four stores and compares them with the journal and with what the clients were answered.
 */
import { PostgresJournal } from "@polysaga/journal"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { env, makeClient, Sql, Stores, tmpDir } from "../support.js"

/** The service's package folder: where `src/main.ts` runs from. */
export const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const repo = path.resolve(appDir, "../..")
const stack = path.join(repo, ".stack")

/** Where the fault tests' records go (apart from every other test's). */
export const faultSchema = "server_faults"
export const faultDatabase = "polysaga_server_faults"
const faultLabel = "FaultEvent"
const faultCollection = "fault_docs"

/** The fault tests' PostgreSQL table (no unique key on `key`: a record applied twice shows as two rows). */
export const createTables = Effect.gen(function*() {
  const sql = yield* Sql
  yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${faultSchema}`)
  yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${faultSchema}.fault_items (id serial PRIMARY KEY,
    key text NOT NULL, run text NOT NULL, amount integer NOT NULL CHECK (amount > 0))`)
  yield* sql.unsafe(`CREATE INDEX IF NOT EXISTS fault_items_run ON ${faultSchema}.fault_items (run)`)
})

/** The URL of the stack's PostgreSQL database `name`. */
export const databaseUrl = (name: string) => {
  const url = new URL(env.pg)
  url.pathname = `/${name}`
  return url.toString()
}

/** A PostgreSQL database of its own (created if missing), e.g. for a journal; its URL. */
export const database = (name: string) =>
  Effect.map(Effect.orDie(PostgresJournal.createDatabase(env.pg, name)), Redacted.value)

/** A journal database emptied of an earlier run's sagas (its tables are the journal's; dropped if present). */
export const freshJournalDatabase = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name}`
    yield* sql.unsafe(`DROP DATABASE IF EXISTS ${name}`)
    return yield* database(name)
  })

export type Journal = { readonly url: string } | { readonly embedded: string }

/** A configuration file for the service: the four fault sources, `journal`, quick recovery. */
export const configFile = (journal: Journal, overrides: Record<string, unknown> = {}) => {
  const dir = tmpDir("faults")
  const file = path.join(dir, "server.json")
  fs.writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      journal: { ...journal, leaseSeconds: 2 },
      sources: [
        { tag: "faults-pg", type: "database", engine: "postgres", url: "${POLYSAGA_PG_URL}", schema: faultSchema },
        {
          tag: "faults-mongo",
          type: "database",
          engine: "mongodb",
          url: "${POLYSAGA_MONGO_URL}",
          database: faultDatabase
        },
        { tag: "faults-graph", type: "graph", engine: "neo4j", url: "${POLYSAGA_NEO4J_URL}" },
        { tag: "faults-vec", type: "vector", engine: "chroma", url: "${POLYSAGA_CHROMA_URL}", dimension: 3 }
      ],
      shutdownTimeoutMs: 5_000,
      recoveryIntervalMs: 500,
      ...overrides
    })
  )
  return file
}

/** A running service process (`src/main.ts` through tsx, as a user starts it from source). */
export interface Service {
  readonly process: ChildProcess
  readonly url: string
  readonly output: () => string
  readonly exited: Promise<number | null>
  /** Milliseconds from the spawn to its "Ready:" line (the journal and the sources open). */
  readonly startMs: number
}

/** The node arguments that run the service from source (in {@link appDir}) on the configuration `file`. */
export const serviceArgs = (file: string) => [
  "--conditions=@polysaga/source",
  "--import",
  "tsx",
  "src/main.ts",
  "--config",
  file
]

/**
 * Starts `src/main.ts --config file` and waits for its "Listening on" line (the address) and its "Ready:" line (the
 * journal and the sources open; killed when the scope closes).
 */
export const startService = (file: string) =>
  Effect.acquireRelease(
    Effect.async<Service, Error>((resume) => {
      const began = Date.now()
      const child = spawn(process.execPath, serviceArgs(file), {
        cwd: appDir,
        env: { ...process.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let listening = false
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      const onData = (chunk: Buffer) => {
        // the last 256 KiB: what a failure shows
        output = (output + chunk.toString()).slice(-262_144)
        if (listening) return
        const match = /Listening on (http:\/\/[0-9.]+:\d+)/.exec(output)
        if (match && /\bReady: /.test(output)) {
          listening = true
          resume(Effect.succeed({
            process: child,
            url: match[1]!,
            output: () => output,
            exited,
            startMs: Date.now() - began
          }))
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      void exited.then((code) =>
        resume(Effect.fail(new Error(`server exited with ${code} before listening:\n${output}`)))
      )
    }).pipe(Effect.timeoutFail({ duration: "90 seconds", onTimeout: () => new Error("server did not start") })),
    (service) => killService(service)
  )

/** SIGKILL, and wait until the process is gone. */
export const killService = (service: Service) =>
  Effect.promise(async () => {
    if (service.process.exitCode === null && service.process.signalCode === null) service.process.kill("SIGKILL")
    await service.exited
  })

// ---------------------------------------------------------------------------------------------------------------------
// Load

/** One transaction of the load: its saga id (also the key of its records), whether it is doomed. */
export interface Sent {
  readonly id: string
  readonly doomed: boolean
  /** The instance it was sent to. */
  readonly target: number
  /** `completed` / `compensated` / `failed` when answered 200; `http <status>`; `lost: <error>` without an answer. */
  answer?: string
  /** The error body of an answer other than 200 (its `code` and `message`). */
  detail?: string
  /** Milliseconds from sending to the answer (or to the error). */
  ms?: number
}

/**
 * The operations of transaction `n` (saga id `id`): one record on each store keyed by `id` — a row (PostgreSQL), a
 * document (MongoDB / FerretDB), a node (Neo4j), a vector (Chroma), in an order rotated by `n` so a crash cuts each
 * store's step — and for `doomed` a 5th step whose insert breaks a CHECK constraint: the saga compensates.
 */
export const operations = (run: string, id: string, n: number, doomed: boolean) => {
  const steps = [
    {
      operation: "insert",
      from: { type: "database", tag: "faults-pg", entity: "fault_items" },
      data: { key: id, run, amount: 1 }
    },
    {
      operation: "insert",
      from: { type: "database", tag: "faults-mongo", entity: faultCollection },
      data: { key: id, run }
    },
    { operation: "insert", from: { type: "graph", tag: "faults-graph", entity: faultLabel }, data: { key: id, run } },
    {
      operation: "insert",
      from: { type: "vector", tag: "faults-vec", entity: `faults_${run}` },
      data: { vector: [1, (n % 7) / 7, 0.5], metadata: { key: id, run } }
    }
  ]
  const rotated = [...steps.slice(n % 4), ...steps.slice(0, n % 4)]
  return doomed
    ? [...rotated, {
      operation: "insert",
      from: { type: "database", tag: "faults-pg", entity: "fault_items" },
      data: { key: id, run, amount: 0 }
    }]
    : rotated
}

/** Where the load goes: the URL of each instance while it runs (`undefined` while it is down). */
export type Targets = Array<string | undefined>

/**
 * `clients` clients, each sending one transaction after the other to its instance (client `i` → instance
 * `i % targets.length`, or any running one while that is down) until `stop` returns true. A request refused
 * (nothing listening) is sent again, to a running instance; one cut off by a kill is left to the journal.
 */
export const load = (options: {
  readonly run: string
  readonly clients: number
  readonly targets: Targets
  readonly stop: () => boolean
  readonly timeoutMs?: number
}) => {
  const sent: Array<Sent> = []
  const inFlight = new Set<Sent>()
  let next = 0
  const pick = (client: number) => {
    const own = options.targets[client % options.targets.length]
    if (own !== undefined) return client % options.targets.length
    const up = options.targets.flatMap((url, i) => url === undefined ? [] : [i])
    return up.length === 0 ? undefined : up[client % up.length]
  }
  const send = (client: number, n: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      const target = pick(client)
      if (target === undefined) return Effect.sleep("100 millis").pipe(Effect.zipRight(send(client, n)))
      const id = `f-${options.run}-${n}`
      const doomed = n % 3 === 2
      const body = {
        operations: operations(options.run, id, n, doomed),
        options: { id, ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }) }
      }
      const item: Sent = { id, doomed, target }
      sent.push(item)
      inFlight.add(item)
      const began = Date.now()
      return makeClient(options.targets[target]!, undefined).request("POST", "/v1/transactions", { body }).pipe(
        Effect.timeout("120 seconds"),
        Effect.exit,
        Effect.ensuring(Effect.sync(() => {
          inFlight.delete(item)
          item.ms = Date.now() - began
        })),
        Effect.flatMap((exit) => {
          if (Exit.isSuccess(exit)) {
            item.answer = exit.value.status === 200 ? String(exit.value.body.status) : `http ${exit.value.status}`
            if (exit.value.status !== 200) item.detail = JSON.stringify(exit.value.body).slice(0, 500)
            return Effect.void
          }
          const error = Cause.squash(exit.cause) as { message?: string; cause?: { code?: string } }
          // nothing listened: the transaction never reached a service — send it again
          if (error.cause?.code === "ECONNREFUSED") {
            sent.splice(sent.indexOf(item), 1)
            return Effect.sleep("100 millis").pipe(Effect.zipRight(send(client, n)))
          }
          item.answer = `lost: ${error.cause?.code ?? error.message}`
          return Effect.void
        })
      )
    })
  const run = Effect.forEach(
    Array.from({ length: options.clients }, (_, client) => client),
    (client) => Effect.suspend(() => send(client, next++)).pipe(Effect.repeat({ until: options.stop })),
    { concurrency: "unbounded", discard: true }
  )
  return { run, sent, inFlight }
}

// ---------------------------------------------------------------------------------------------------------------------
// The journal, through the API

/** Every saga of the run, from `GET /v1/transactions?id=` (paged): id → status. */
export const journaled = (url: string, run: string) =>
  Effect.gen(function*() {
    const client = makeClient(url, undefined)
    const statuses = new Map<string, string>()
    let cursor: string | undefined
    do {
      const page = yield* client.request(
        "GET",
        `/v1/transactions?id=f-${run}-&limit=1000${cursor === undefined ? "" : `&cursor=${cursor}`}`
      )
      if (page.status !== 200) return yield* Effect.dieMessage(`listing: ${page.status} ${JSON.stringify(page.body)}`)
      for (const saga of page.body.transactions) statuses.set(saga.id, saga.status)
      cursor = page.body.next
    } while (cursor !== undefined)
    return statuses
  })

/**
 * The answers, grouped by status and error code: how many, their median time, and one message of each (what a
 * reader needs to tell a quick 503 of a store that is down from one that waited for the timeout).
 */
export const answerSummary = (sent: ReadonlyArray<Sent>, samples = true): string => {
  const groups = new Map<string, Array<Sent>>()
  for (const s of sent) {
    // the code and the engine the message starts with (`postgres: …`)
    const code = s.detail === undefined
      ? ""
      : ` ${(/"code":"([A-Z_]+)"/.exec(s.detail) ?? [])[1] ?? ""} ${(/"message":"(\w+)/.exec(s.detail) ?? [])[1] ?? ""}`
    const key = `${(s.answer ?? "none").replace(/^lost: .*/, "lost")}${code}`
    groups.set(key, [...(groups.get(key) ?? []), s])
  }
  return [...groups].map(([key, items]) => {
    const times = items.map((s) => s.ms ?? 0).sort((a, b) => a - b)
    const sample = samples ? items.find((s) => s.detail !== undefined)?.detail : undefined
    return `${key}: ${items.length}, median ${times[Math.floor(times.length / 2)]} ms${
      sample === undefined ? "" : `, e.g. ${sample.slice(0, 300)}`
    }`
  }).join("\n")
}

/**
 * What a failure shows: the first sagas of the run still `running`, each in full (`GET /v1/transactions/:id`: its
 * steps and their errors), and the end of the service's output.
 */
export const diagnose = (service: Service, run: string) =>
  Effect.gen(function*() {
    const client = makeClient(service.url, undefined)
    const page = yield* client.request("GET", `/v1/transactions?status=running&id=f-${run}-&limit=5`)
    for (const saga of (page.body.transactions ?? []) as Array<{ id: string }>) {
      const detail = yield* client.request("GET", `/v1/transactions/${saga.id}`)
      console.log(`still running: ${JSON.stringify(detail.body).slice(0, 4000)}`)
    }
    console.log(`the service's output (its end):\n${service.output().slice(-40_000)}`)
  }).pipe(Effect.catchAllCause((cause) => Effect.sync(() => console.log(`diagnose: ${Cause.pretty(cause)}`))))

/** The sagas of the run still `running` (`GET /v1/transactions?status=running`). */
export const running = (url: string, run: string) =>
  Effect.map(
    makeClient(url, undefined).request("GET", `/v1/transactions?status=running&id=f-${run}-&limit=1000`),
    (page) => (page.body.transactions as Array<{ id: string }>).map((saga) => saga.id)
  )

/**
 * Waits (polling every 250 ms, at most `seconds`) until no saga of the run (or none of `ids`) is running, running
 * `whileWaiting` every 5 s meanwhile; the time it took.
 */
export const untilEnded = (
  url: () => string | undefined,
  run: string,
  ids?: ReadonlyArray<string>,
  seconds = 180,
  whileWaiting?: Effect.Effect<unknown, unknown>
) =>
  Effect.gen(function*() {
    const began = Date.now()
    // e.g. an operator's check for a wedged Chroma, every 5 s while the sagas finish
    const watcher = whileWaiting === undefined
      ? Effect.succeed(undefined)
      // forked in the acquisition, which is uninterruptible: the watcher must be interruptible, or its release hangs
      : Effect.fork(Effect.interruptible(Effect.forever(Effect.delay(
        Effect.catchAllCause(whileWaiting, (cause) => Effect.sync(() => console.log(Cause.pretty(cause)))),
        "5 seconds"
      ))))
    yield* Effect.acquireUseRelease(watcher, () =>
      Effect.suspend(() => {
        const target = url()
        return target === undefined ? Effect.succeed(false) : Effect.map(
          ids === undefined
            ? running(target, run)
            : Effect.forEach(ids, (id) =>
              Effect.map(
                makeClient(target, undefined).request("GET", `/v1/transactions/${id}`),
                (r) => r.status === 200 && r.body.status === "running" ? [id] : []
              )).pipe(Effect.map((lists) => lists.flat())),
          (left) => left.length === 0
        )
      }).pipe(
        Effect.catchAllDefect(() => Effect.succeed(false)),
        Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (done) => done }),
        Effect.timeoutFail({
          duration: Duration.seconds(seconds),
          onTimeout: () => new Error(`sagas of the run still running after ${seconds} s`)
        })
      ), (fiber) => fiber === undefined ? Effect.void : Fiber.interrupt(fiber))
    return Date.now() - began
  })

/** How many steps of `ids` recovery settled without knowing their outcome (in doubt, resolved via the barrier). */
export const resolvedInDoubt = (url: string, ids: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(ids, (id) => makeClient(url, undefined).request("GET", `/v1/transactions/${id}`), {
      concurrency: 4
    }),
    (records) =>
      records.reduce(
        (n, r) =>
          n + (r.status === 200 ? (r.body.steps as Array<{ resolved?: boolean }>).filter((s) => s.resolved).length : 0),
        0
      )
  )

// ---------------------------------------------------------------------------------------------------------------------
// The stores

type Counts = Map<string, number>

const tally = (keys: Iterable<string>): Counts => {
  const counts = new Map<string, number>()
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1)
  return counts
}

/** The records of the run in each store, counted per key (tombstones and barrier records excluded). */
export const storeCounts = (run: string) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    const { chroma, mongo, neo4j } = yield* Stores
    const rows = yield* sql<{ key: string }>`SELECT key FROM ${sql(faultSchema)}.fault_items WHERE run = ${run}`
    const docs = yield* Effect.promise(() =>
      mongo.db(faultDatabase).collection(faultCollection).find({ run, _polysaga_fence: { $exists: false } }, {
        projection: { key: 1 }
      }).toArray()
    )
    const nodes = yield* Effect.promise(() =>
      neo4j.executeQuery(`MATCH (n:${faultLabel} { run: $run }) RETURN n.key AS key`, { run })
    )
    const vectors = yield* Effect.promise(async () => {
      const collection = await chroma.getCollection({ name: `faults_${run}` }).catch(() => undefined)
      if (collection === undefined) return []
      const got = await collection.get({ where: { run }, include: ["metadatas" as never] })
      return got.metadatas.flatMap((m) => m === null || m["polysaga:fence"] !== undefined ? [] : [String(m["key"])])
    })
    return {
      postgres: tally(rows.map((r) => r.key)),
      mongodb: tally(docs.map((d) => String(d["key"]))),
      neo4j: tally(nodes.records.map((r) => String(r.get("key")))),
      chroma: tally(vectors)
    }
  })

export interface Verdict {
  readonly transactions: number
  readonly byStatus: Record<string, number>
  /** Keys whose records are in some stores and not in others. */
  readonly torn: Array<string>
  /** Keys with more than one record in a store. */
  readonly duplicated: Array<string>
  /** Sagas whose stores do not hold what their journaled status says (completed → all there, else none). */
  readonly disagreeing: Array<string>
  /** Clients answered a status the journal does not hold. */
  readonly misanswered: Array<string>
  readonly failed: Array<string>
  readonly unfinished: Array<string>
  /** Records of keys no transaction of the run was sent with. */
  readonly strays: Array<string>
}

/**
 * Compares the stores with the journal and the clients' answers, per key: all four stores hold one record or none
 * (torn otherwise), never two (duplicated), as the journal's status says — `completed`: all, anything else: none
 * (a doomed transaction is never `completed`) —; a transaction the journal never saw has none; a client answered
 * `completed` / `compensated` / `failed` got what the journal holds (or `failed` with compensations left to recovery,
 * which ended it `compensated`).
 */
export const verdict = (
  sent: ReadonlyArray<Sent>,
  statuses: ReadonlyMap<string, string>,
  counts: Effect.Effect.Success<ReturnType<typeof storeCounts>>
): Verdict => {
  const stores = [counts.postgres, counts.mongodb, counts.neo4j, counts.chroma]
  const known = new Set(sent.map((s) => s.id))
  const torn: Array<string> = []
  const duplicated: Array<string> = []
  const disagreeing: Array<string> = []
  const misanswered: Array<string> = []
  const byStatus: Record<string, number> = {}
  for (const item of sent) {
    const status = statuses.get(item.id) ?? "not journaled"
    byStatus[status] = (byStatus[status] ?? 0) + 1
    const held = stores.map((store) => store.get(item.id) ?? 0)
    const describe = `${item.id} (${status}, answered ${item.answer ?? "nothing"}; pg/mongo/neo4j/chroma ${held})`
    if (held.some((n) => n > 1)) duplicated.push(describe)
    if (new Set(held).size > 1) torn.push(describe)
    const expected = status === "completed" && !item.doomed ? 1 : 0
    if (held.some((n) => n !== expected)) disagreeing.push(describe)
    // an answer `failed` with compensations pending may be finished by recovery later (`compensated`)
    const answered = item.answer === "failed" && status === "compensated" ? status : item.answer
    if (["completed", "compensated", "failed"].includes(answered ?? "") && answered !== status) {
      misanswered.push(describe)
    }
  }
  const strays = stores.flatMap((store) => [...store.keys()].filter((key) => !known.has(key)))
  return {
    transactions: sent.length,
    byStatus,
    torn,
    duplicated,
    disagreeing,
    misanswered,
    failed: sent.filter((s) => statuses.get(s.id) === "failed").map((s) => s.id),
    unfinished: sent.filter((s) => statuses.get(s.id) === "running").map((s) => s.id),
    strays: [...new Set(strays)]
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The stack's stores: frozen, stopped, restarted

export type StackStore = "postgres" | "ferretdb" | "neo4j" | "chroma"

/** The process of `store` this clone's stack started, and its children (PostgreSQL's backends). */
export const storeProcesses = (store: StackStore): Array<number> => {
  const pid = Number(fs.readFileSync(path.join(stack, "run", `${store}.pid`), "utf8").split("\n")[0])
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  // a stale pid file must not stop someone else's process
  if (!cmdline.includes(`${stack}/`)) throw new Error(`${store}: pid ${pid} is not this stack's (${cmdline})`)
  const children = (parent: number): Array<number> =>
    fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8")
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent
      } catch {
        return false
      }
    }).flatMap((p) => [p, ...children(p)])
  return [pid, ...children(pid)]
}

const resume = (pids: ReadonlyArray<number>) => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGCONT")
    } catch {
      // gone
    }
  }
}

/** Runs `body` with `store` stopped (SIGSTOP), and always resumes it (SIGCONT), even if this process exits. */
export const frozen = <A, E, R>(store: StackStore, body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const pids = storeProcesses(store)
      const onExit = () => resume(pids)
      process.once("exit", onExit)
      for (const pid of pids) process.kill(pid, "SIGSTOP")
      return { pids, onExit }
    }),
    () => body,
    ({ onExit, pids }) =>
      Effect.sync(() => {
        resume(pids)
        process.off("exit", onExit)
      })
  )

const stackScript = (script: "up.sh" | "down.sh", args: ReadonlyArray<string> = []) =>
  Effect.async<void, Error>((resume) => {
    const child = spawn("bash", [path.join(repo, "tools", "stack", script), ...args], { cwd: repo, stdio: "pipe" })
    let output = ""
    child.stdout.on("data", (d) => output += d)
    child.stderr.on("data", (d) => output += d)
    child.on(
      "exit",
      (code) =>
        resume(
          code === 0 ? Effect.void : Effect.fail(new Error(`${script} ${args.join(" ")}: exit ${code}\n${output}`))
        )
    )
  })

/** Starts every stopped store of the stack again (`tools/stack/up.sh`, which waits until all are healthy). */
export const stackUp = stackScript("up.sh")

/**
 * Runs `body` with `store` stopped (`tools/stack/down.sh <store>`), and always starts it again (`up.sh`) — and on
 * an exit of this process before that, synchronously.
 */
export const stopped = <A, E, R>(store: StackStore, body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.gen(function*() {
      const onExit = () => {
        spawn("bash", [path.join(repo, "tools", "stack", "up.sh")], { cwd: repo, stdio: "ignore", detached: true })
          .unref()
      }
      process.once("exit", onExit)
      yield* stackScript("down.sh", [store])
      return onExit
    }),
    () => body,
    (onExit) =>
      stackUp.pipe(
        Effect.retry(Schedule.spaced("1 second").pipe(Schedule.upTo("30 seconds"))),
        Effect.orDie,
        Effect.ensuring(Effect.sync(() => process.off("exit", onExit)))
      )
  )

/**
 * Chroma 1.0's compactor can panic when a client is killed in the middle of a write ("message reply channel was
 * unexpectedly dropped by caller"): from then on every write answers HTTP 500 "Error sending message to compactor"
 * until Chroma restarts. The sagas wait (a store error that is not theirs leaves them for a later recovery pass);
 * this restarts Chroma as an operator would, and says whether it had to. It probes with a write of its own to
 * `faults_probe` and to each of `collections` that exists (the run's own, where the sagas write; the probe record is
 * deleted again), never aborting a request (an aborted write is what wedges it); a Chroma that is down or does not
 * answer within 10 s is not wedged, it is down.
 */
const unwedgeOnce = (collections: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const base = `${env.chroma}/api/v2/tenants/default_tenant/databases/default_database/collections`
    const post = (url: string, body: unknown) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    const probe = async (name: string) => {
      const found = name === "faults_probe"
        ? await post(base, { name, get_or_create: true })
        : await fetch(`${base}/${name}`)
      if (!found.ok) return false
      const { dimension, id } = await found.json() as { id: string; dimension: number | null }
      const ids = ["polysaga-probe"]
      const added = await post(`${base}/${id}/upsert`, { ids, embeddings: [Array(dimension ?? 1).fill(0)] })
      if (added.ok) {
        await post(`${base}/${id}/delete`, { ids })
        return false
      }
      return (await added.text()).includes("compactor")
    }
    const wedged = yield* Effect.tryPromise(async () => {
      for (const name of ["faults_probe", ...collections]) if (await probe(name)) return true
      return false
    }).pipe(Effect.timeout("10 seconds"), Effect.orElseSucceed(() => false))
    if (wedged) yield* stopped("chroma", Effect.void)
    return wedged
  })

/**
 * {@link unwedgeOnce} for the fault run `run` (its sagas write to the collection `faults_<run>`), counting the times it
 * had to restart Chroma: `unwedge` probes (and restarts Chroma if it is wedged), `restarts()` says how often it did.
 */
export const unwedgeChroma = (run: string) => {
  let restarts = 0
  return {
    unwedge: Effect.map(unwedgeOnce([`faults_${run}`]), (restarted) => {
      if (restarted) restarts++
    }),
    restarts: () => restarts
  }
}
