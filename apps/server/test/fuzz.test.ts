import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fuzz from "./fuzz/run.js"
import { count, targets } from "./fuzz/stores.js"
import { apiKey, Client, run, serverEnvWithStores } from "./support.js"

/** The bounded run of CI; `pnpm fuzz` runs 10,000 (FUZZ_REQUESTS / FUZZ_SEED override both). */
const requests = Number(process.env.FUZZ_REQUESTS ?? 1_000)
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)

const Env = serverEnvWithStores({ limits: { maxBodyBytes: 1024 * 1024, maxOperations: 20 }, logLevel: "warning" })

/** Generous: about 5 requests a second on a loaded machine, plus the start. */
const timeout = 120_000 + requests * 300

layer(Env, { timeout: "2 minutes", excludeTestServices: true })("fuzz", (it) => {
  it.effect(
    `${requests} generated requests: no 5xx, a JSON code on every 4xx, every saga journaled, counts exact`,
    () =>
      Effect.gen(function*() {
        const client = yield* Client
        const t = targets(run)
        const report = yield* Fuzz.fuzz({
          url: client.url,
          apiKey,
          targets: t,
          count: count(t),
          requests,
          seed,
          run,
          concurrency: 8
        })
        console.log(Fuzz.format(report))
        assert.deepStrictEqual(report.violations, [])
        assert.strictEqual(Object.values(report.statuses).reduce((a, b) => a + b, 0), requests)
        // the mix reached both ends: transactions that completed and wrote, and ones refused
        assert.isAbove(report.outcomes.completed ?? 0, 0)
        assert.isAbove(report.statuses["400"] ?? 0, 0)
        assert.deepStrictEqual(report.counted, report.expected)
      }),
    { timeout }
  )
})
