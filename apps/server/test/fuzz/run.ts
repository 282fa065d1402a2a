/**
 * The fuzz run: sends generated requests to a running service, a few at a time, and checks after each one and at
 * the end:
 * - no 5xx;
 * - every 4xx carries a JSON `{ error: { code, message } }`;
 * - no saga unknown to the journal: every 200 is found by its id with the status it answered, and a refused
 *   request that named an id left nothing in the journal;
 * - the four tracked stores changed by exactly what the completed transactions wrote.
 */
import * as Effect from "effect/Effect"
import * as FC from "effect/FastCheck"
import { arbitrary, expectedWrites, type FuzzRequest, namedId, numbered, type Store, type Targets } from "./requests.js"

export interface Options<R> {
  readonly url: string
  readonly apiKey: string
  readonly targets: Targets
  /** Counts the records of each tracked entity. */
  readonly count: Effect.Effect<Record<Store, number>, never, R>
  readonly requests: number
  readonly seed: number
  readonly run: string
  readonly concurrency?: number
}

export interface Report {
  readonly seed: number
  readonly requests: number
  /** Answers by HTTP status. */
  readonly statuses: Record<string, number>
  /** Transaction outcomes of the 200s. */
  readonly outcomes: Record<string, number>
  /** Answers by kind of request and status, e.g. `deep 400`. */
  readonly byKind: Record<string, number>
  readonly expected: Record<Store, number>
  readonly counted: Record<Store, number>
  /** Every broken invariant, with the request that broke it. */
  readonly violations: ReadonlyArray<string>
  readonly seconds: number
}

const bump = (counts: Record<string, number>, key: string) => void (counts[key] = (counts[key] ?? 0) + 1)

const preview = (request: FuzzRequest) => {
  const text = new TextDecoder().decode(request.body.slice(0, 160))
  return `${request.kind} (${request.contentType || "no content type"}, ${request.body.length} bytes): ${text}`
}

export const fuzz = Effect.fn("fuzz")(function*<R>(options: Options<R>) {
  const started = Date.now()
  const samples = FC.sample(arbitrary(options.targets, options.run), { numRuns: options.requests, seed: options.seed })
    .map(numbered)
  const statuses: Record<string, number> = {}
  const outcomes: Record<string, number> = {}
  const byKind: Record<string, number> = {}
  const violations: Array<string> = []
  const expected: Record<Store, number> = { postgres: 0, mongo: 0, neo4j: 0, chroma: 0 }
  const before = yield* options.count
  const authorization = { authorization: `Bearer ${options.apiKey}` }

  const send = (method: string, path: string, request?: FuzzRequest) =>
    Effect.promise(async () => {
      const response = await fetch(`${options.url}${path}`, {
        method,
        headers: {
          ...authorization,
          ...(request === undefined || request.contentType === "" ? {} : { "content-type": request.contentType })
        },
        ...(request === undefined ? {} : { body: request.body })
      })
      const text = await response.text()
      let json: any = undefined
      try {
        json = JSON.parse(text)
      } catch {
        // checked below
      }
      return { status: response.status, json, text }
    })

  let sent = 0
  const one = (request: FuzzRequest) =>
    Effect.gen(function*() {
      const answer = yield* send("POST", "/v1/transactions", request)
      bump(statuses, String(answer.status))
      // a long run shows where it is
      if (++sent % 1000 === 0) console.log(`fuzz: ${sent} sent, statuses ${JSON.stringify(statuses)}`)
      bump(byKind, `${request.kind} ${answer.status}`)
      const broke = (what: string) =>
        void violations.push(
          `${what}; answer ${answer.status} ${answer.text.slice(0, 300)}; request ${preview(request)}`
        )
      if (answer.status >= 500) return broke("a 5xx")
      if (answer.status >= 400) {
        if (typeof answer.json?.error?.code !== "string" || typeof answer.json?.error?.message !== "string") {
          return broke("a 4xx without a JSON error code")
        }
        const id = namedId(request.body)
        if (id !== undefined && answer.json.error.code !== "DUPLICATE_ID") {
          const journaled = yield* send("GET", `/v1/transactions/${encodeURIComponent(id)}`)
          if (journaled.status !== 404) broke(`a refused request left saga ${id} in the journal (${journaled.status})`)
        }
        return
      }
      const result = answer.json
      if (answer.status !== 200 || typeof result?.id !== "string" || typeof result?.status !== "string") {
        return broke("a 2xx that is not a transaction result")
      }
      bump(outcomes, result.status)
      const journaled = yield* send("GET", `/v1/transactions/${encodeURIComponent(result.id)}`)
      if (journaled.status !== 200) return broke(`saga ${result.id} unknown to the journal (${journaled.status})`)
      if (journaled.json?.status !== result.status) {
        return broke(`saga ${result.id} answered ${result.status}, the journal says ${journaled.json?.status}`)
      }
      if (result.status === "completed") {
        const writes = expectedWrites(options.targets, request.body)
        for (const store of Object.keys(expected) as Array<Store>) expected[store] += writes[store]
      } else if (result.status !== "compensated") {
        broke(`saga ${result.id} ended ${result.status}`)
      }
    })

  yield* Effect.forEach(samples, one, { concurrency: options.concurrency ?? 4, discard: true })
  const after = yield* options.count
  const counted = {} as Record<Store, number>
  for (const store of Object.keys(expected) as Array<Store>) {
    counted[store] = after[store] - before[store]
    if (counted[store] !== expected[store]) {
      violations.push(`${store}: ${counted[store]} records written, completed transactions wrote ${expected[store]}`)
    }
  }
  return {
    seed: options.seed,
    requests: samples.length,
    statuses,
    outcomes,
    byKind,
    expected,
    counted,
    violations,
    seconds: Math.round((Date.now() - started) / 100) / 10
  } satisfies Report
})

/** The report as a few lines for a log. */
export const format = (report: Report): string =>
  [
    `fuzz: ${report.requests} requests in ${report.seconds}s (seed ${report.seed})`,
    `  statuses: ${JSON.stringify(report.statuses)}`,
    `  outcomes of the 200s: ${JSON.stringify(report.outcomes)}`,
    `  records written (expected / counted): ${
      (Object.keys(report.expected) as Array<Store>).map((s) => `${s} ${report.expected[s]}/${report.counted[s]}`)
        .join(", ")
    }`,
    `  by kind: ${
      Object.entries(report.byKind).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`).join(", ")
    }`,
    `  violations: ${report.violations.length}`,
    ...report.violations.slice(0, 20).map((v) => `    - ${v}`)
  ].join("\n")
