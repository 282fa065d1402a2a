/**
 * `polysaga sagas list | show | retry | resolve` against a running service (real HTTP, real stores): once as a child
 * process (`src/polysaga.ts`, as `pnpm polysaga` runs it), and in this process with its output captured.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, layer } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Cli from "../src/Cli.js"
import { apiKey, Client, provokeFailedSaga, serverEnv } from "./support.js"

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const Env = serverEnv()

/** Runs the command in this process; what it printed, and how it ended. */
const polysaga = (...args: Array<string>) =>
  Effect.gen(function*() {
    const client = yield* Client
    const lines: Array<string> = []
    const current = yield* Effect.console
    const capture: Console.Console = {
      ...current,
      log: (...xs) => Effect.sync(() => void lines.push(xs.join(" "))),
      error: (...xs) => Effect.sync(() => void lines.push(xs.join(" ")))
    }
    const exit = yield* Cli.run(["node", "polysaga", ...args, "--url", client.url, "--api-key", apiKey]).pipe(
      Effect.withConsole(capture),
      Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
      Effect.exit
    )
    return { out: lines.join("\n"), exit }
  })

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("the polysaga CLI", (it) => {
  it.effect("as a process: `sagas list --status failed` prints a table; no key, exit 1 and the API's error", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const saga = yield* provokeFailedSaga(client, "cli-process")
      const exec = (args: Array<string>, env: Record<string, string>) =>
        Effect.promise(() =>
          new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
            execFile(
              process.execPath,
              ["--conditions=@polysaga/source", "--import", "tsx", "src/polysaga.ts", ...args],
              { cwd: appDir, env: { ...process.env, POLYSAGA_URL: client.url, ...env } },
              (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
            )
          )
        )
      const listed = yield* exec(["sagas", "list", "--status", "failed"], { POLYSAGA_API_KEY: apiKey })
      assert.strictEqual(listed.code, 0, listed.stderr)
      const [head, ...rows] = listed.stdout.trim().split("\n")
      assert.match(head!, /^ID\s+NAME\s+STATUS\s+STARTED\s+DURATION\s+ERROR$/)
      const row = rows.find((r) => r.startsWith(saga.id))
      assert.isDefined(row, listed.stdout)
      assert.match(row!, /\sfailed\s.*duplicate key/)

      const refused = yield* exec(["sagas", "list"], { POLYSAGA_API_KEY: "wrong-key-0123456789" })
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "UNAUTHORIZED")
      assert.notInclude(refused.stdout + refused.stderr, saga.id)
    }))

  it.effect("list, show, retry, resolve: tables and --json, failures exit non-zero", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const first = yield* provokeFailedSaga(client, "cli-retry")
      const second = yield* provokeFailedSaga(client, "cli-resolve")

      const needs = yield* polysaga("sagas", "list", "--needs-person", "--json")
      assert.isTrue(Exit.isSuccess(needs.exit))
      const ids = JSON.parse(needs.out).transactions.map((t: { id: string }) => t.id)
      assert.includeMembers(ids, [first.id, second.id])

      const shown = yield* polysaga("sagas", "show", first.id)
      assert.isTrue(Exit.isSuccess(shown.exit))
      assert.include(shown.out, `saga ${first.id}`)
      assert.match(shown.out, /left to undo\s+step_0/)
      assert.match(shown.out, /step_0\s+orders-db\s+postgres\s+orders\s+update\s+compensationFailed\s+1\s+1/)
      assert.include(
        shown.out,
        `undo: on {"id":"${first.orderId}"}: set status back to "pending" if it is still "paid"`
      )
      assert.include(shown.out, "compensation failed: postgres orders:")
      assert.match(shown.out, /CompensationFailed\s+step_0/)
      const json = JSON.parse((yield* polysaga("sagas", "show", first.id, "--json")).out)
      assert.strictEqual(json.id, first.id)
      assert.strictEqual(json.steps[0].engine, "postgres")

      // the conflict is still there: retry fails, exit non-zero with why
      const stillFailed = yield* polysaga("sagas", "retry", first.id)
      assert.isTrue(Exit.isFailure(stillFailed.exit))
      assert.include(String(Exit.isFailure(stillFailed.exit) && stillFailed.exit.cause), "is still failed")
      yield* first.removeConflict
      const retried = yield* polysaga("sagas", "retry", first.id)
      assert.isTrue(Exit.isSuccess(retried.exit))
      assert.strictEqual(retried.out, `saga ${first.id}: compensated (undone: step_0)`)
      assert.strictEqual(yield* first.status, "pending")

      const resolved = yield* polysaga("sagas", "resolve", second.id, "--reason", "refunded by hand", "--json")
      assert.isTrue(Exit.isSuccess(resolved.exit))
      assert.strictEqual(JSON.parse(resolved.out).resolution.reason, "refunded by hand")
      const again = yield* polysaga("sagas", "resolve", second.id, "--reason", "twice")
      assert.isTrue(Exit.isFailure(again.exit))
      assert.include(String(Exit.isFailure(again.exit) && again.exit.cause), "ALREADY_RESOLVED")
      const listed = yield* polysaga("sagas", "list", "--id", second.id)
      assert.match(
        listed.out,
        new RegExp(`${second.id}\\s+warehouse.transaction\\s+failed \\(resolved\\).*refunded by hand`)
      )
      const none = yield* polysaga("sagas", "list", "--needs-person", "--id", second.id)
      assert.strictEqual(none.out, "no saga matches")

      const missing = yield* polysaga("sagas", "show", "no-such-saga")
      assert.include(String(Exit.isFailure(missing.exit) && missing.exit.cause), "TRANSACTION_NOT_FOUND")
      const badDate = yield* polysaga("sagas", "list", "--from", "yesterday")
      assert.include(String(Exit.isFailure(badDate.exit) && badDate.exit.cause), "--from")
    }))
})
