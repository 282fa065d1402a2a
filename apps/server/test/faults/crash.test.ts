/**
 * Crash test through the service process: the service (`src/main.ts`) on the four real stores, clients sending
 * 4-store transactions over HTTP (a third doomed by a 5th step that fails), the service SIGKILLed at random points
 * and restarted on the same journal — the embedded (SQLite) journal, then the PostgreSQL journal —, then three
 * service processes on one PostgreSQL journal with one of them SIGKILLed at a time (the others finish its sagas
 * before it comes back). Every time: no transaction torn across the stores, no record applied twice, every answer
 * agrees with the stores and the journal, no saga left unfinished.
 *
 * Sizes (env): POLYSAGA_FAULTS_TRANSACTIONS (at least this many sent per run, default 60), POLYSAGA_FAULTS_KILLS
 * (kills per journal, default 3), POLYSAGA_FAULTS_INSTANCE_KILLS (kills in the three-instance run, default 2; it
 * sends at least half as many transactions). The defaults are the bounded run of `pnpm test` and CI (each kill still
 * lands mid-saga with 6 clients in flight, and the same checks run); `scripts/faults.sh` runs 600 transactions,
 * 30 kills per journal and 12 in the three-instance run.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { run as testRun, SqlLive, StoresLive, tmpDir } from "../support.js"
import {
  configFile,
  createTables,
  freshJournalDatabase,
  type Journal,
  journaled,
  killService,
  load,
  resolvedInDoubt,
  type Service,
  startService,
  storeCounts,
  type Targets,
  untilEnded,
  unwedgeChroma,
  verdict
} from "./harness.js"

const TRANSACTIONS = Number(process.env["POLYSAGA_FAULTS_TRANSACTIONS"] ?? 60)
const KILLS = Number(process.env["POLYSAGA_FAULTS_KILLS"] ?? 3)
const INSTANCE_KILLS = Number(process.env["POLYSAGA_FAULTS_INSTANCE_KILLS"] ?? 2)
const CLIENTS = 6
/** Each run: service starts through tsx take 5–25 s on a loaded 2-core machine. */
const timeout = 900_000

const Env = Layer.effectDiscard(createTables).pipe(Layer.provideMerge(Layer.mergeAll(SqlLive, StoresLive)))

const crashRun = (label: string, journal: Journal, instances: number, kills: number, transactions = TRANSACTIONS) =>
  Effect.gen(function*() {
    const run = `${label}${testRun}`
    const began = Date.now()
    const file = configFile(journal)
    const services: Array<Service> = yield* Effect.forEach(
      Array.from({ length: instances }),
      () => startService(file),
      { concurrency: "unbounded" }
    )
    const targets: Targets = services.map((s) => s.url)
    const anyUp = () => targets.find((url) => url !== undefined)
    let stop = false
    const traffic = load({ run, clients: CLIENTS, targets, stop: () => stop })
    const fiber = yield* Effect.fork(traffic.run)
    const lines: Array<string> = []
    const { restarts: chromaRestarts, unwedge } = unwedgeChroma(run)
    let inDoubtResolved = 0
    for (let k = 0; k < kills; k++) {
      yield* Effect.sleep(1000 + Math.floor(Math.random() * 3000))
      const victim = k % instances
      const service = services[victim]!
      targets[victim] = undefined
      service.process.kill("SIGKILL")
      const killedAt = Date.now()
      // what the dead process had in hand: the requests it had not answered
      const cut = [...traffic.inFlight].filter((s) => s.target === victim).map((s) => s.id)
      yield* killService(service)
      yield* unwedge
      let startMs: number
      let recoveryMs: number
      if (instances === 1) {
        const restarted = yield* startService(file)
        services[victim] = restarted
        targets[victim] = restarted.url
        startMs = restarted.startMs
        yield* untilEnded(anyUp, run, cut, 180, unwedge)
        recoveryMs = Date.now() - killedAt
      } else {
        // the others finish its sagas (its leases expire) while it is down; then it comes back
        yield* untilEnded(anyUp, run, cut, 180, unwedge)
        recoveryMs = Date.now() - killedAt
        const restarted = yield* startService(file)
        services[victim] = restarted
        targets[victim] = restarted.url
        startMs = restarted.startMs
      }
      const resolved = yield* resolvedInDoubt(anyUp()!, cut)
      inDoubtResolved += resolved
      const line = `kill ${k + 1}/${kills} (instance ${victim}): ${cut.length} transactions cut off, all ended ` +
        `${recoveryMs} ms after the kill (restart to ready ${startMs} ms), ${resolved} in-doubt steps resolved`
      lines.push(line)
      console.log(`crash ${label}: ${line}`)
    }
    // at least `transactions` sent, then the clients stop and every saga ends
    yield* Effect.sleep("200 millis").pipe(Effect.repeat({ until: () => traffic.sent.length >= transactions }))
    stop = true
    yield* Fiber.join(fiber)
    const settleMs = yield* untilEnded(anyUp, run, undefined, 180, unwedge)
    const statuses = yield* journaled(anyUp()!, run)
    const counts = yield* storeCounts(run)
    const result = verdict(traffic.sent, statuses, counts)
    const answers: Record<string, number> = {}
    for (const s of traffic.sent) {
      const key = (s.answer ?? "none").replace(/^lost: .*/, "lost")
      answers[key] = (answers[key] ?? 0) + 1
    }
    console.log(
      `crash ${label}: ${instances} instance(s), ${kills} kills in ${Date.now() - began} ms; ${result.transactions} ` +
        `transactions sent (${traffic.sent.filter((s) => s.doomed).length} doomed); answers ${
          JSON.stringify(answers)
        }; journal ${JSON.stringify(result.byStatus)}; torn ${result.torn.length}, duplicated ` +
        `${result.duplicated.length}, disagreeing ${result.disagreeing.length}, misanswered ` +
        `${result.misanswered.length}, failed ${result.failed.length}, unfinished ${result.unfinished.length}, ` +
        `strays ${result.strays.length}; in-doubt steps resolved ${inDoubtResolved}; Chroma restarted ` +
        `${chromaRestarts()} times; last sagas ended ${settleMs} ms after the clients stopped`
    )
    assert.isAtLeast(result.transactions, transactions)
    assert.isAbove(traffic.sent.filter((s) => s.answer?.startsWith("lost")).length, 0, "the kills cut requests off")
    assert.deepStrictEqual(result.torn, [], "torn transactions")
    assert.deepStrictEqual(result.duplicated, [], "records applied twice")
    assert.deepStrictEqual(result.disagreeing, [], "stores that disagree with the journal")
    assert.deepStrictEqual(result.misanswered, [], "answers that disagree with the journal")
    assert.deepStrictEqual(result.unfinished, [], "unfinished sagas")
    assert.deepStrictEqual(result.failed, [], "failed sagas")
    assert.deepStrictEqual(result.strays, [], "records of no transaction")
    assert.isAbove(result.byStatus["completed"] ?? 0, 0)
    assert.isAbove(result.byStatus["compensated"] ?? 0, 0)
  })

layer(Env, { timeout: "60 seconds", excludeTestServices: true })("the service process SIGKILLed under load", (it) => {
  it.scoped(
    `embedded (SQLite) journal: ${KILLS} kills, at least ${TRANSACTIONS} transactions`,
    () => crashRun("sqlite", { embedded: tmpDir("faults-journal") }, 1, KILLS),
    timeout
  )

  it.scoped(`PostgreSQL journal: ${KILLS} kills, at least ${TRANSACTIONS} transactions`, () =>
    Effect.flatMap(
      freshJournalDatabase("polysaga_faults_journal"),
      (url) => crashRun("pg", { url }, 1, KILLS)
    ), timeout)

  it.scoped(`three instances on one PostgreSQL journal: ${INSTANCE_KILLS} kills, one at a time`, () =>
    Effect.flatMap(
      freshJournalDatabase("polysaga_faults_journal_multi"),
      (url) => crashRun("multi", { url }, 3, INSTANCE_KILLS, Math.ceil(TRANSACTIONS / 2))
    ), timeout)
})
