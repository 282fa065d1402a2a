import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { Client, provokeFailedSaga, serverEnv } from "./support.js"

/** Debian's chromium (installed by scripts/setup.sh), or `POLYSAGA_CHROMIUM`. */
const executablePath = process.env.POLYSAGA_CHROMIUM ?? "/usr/bin/chromium"
/** Screenshots for a person to look at (ignored by git). */
const artifacts = path.resolve(import.meta.dirname, "../../../artifacts/console")

const Env = serverEnv()

const browser = Effect.acquireRelease(
  Effect.promise((): Promise<Browser> => {
    if (!fs.existsSync(executablePath)) {
      throw new Error(`${executablePath} not found: scripts/setup.sh installs Debian's chromium`)
    }
    return puppeteer.launch({
      executablePath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    })
  }),
  (b) => Effect.promise(() => b.close())
)

/** A tab that records what the page's own checks would hide: CSP violations, script errors, failed requests. */
const open = (b: Browser) =>
  Effect.promise(async () => {
    const page = await b.newPage()
    await page.setViewport({ width: 1400, height: 900 })
    const problems: Array<string> = []
    const statuses: Array<[string, number]> = []
    page.on("console", (message) => {
      if (message.type() === "error" && !/status of 401/.test(message.text())) problems.push(message.text())
    })
    page.on("pageerror", (error) => problems.push(String(error)))
    page.on("response", (response) => statuses.push([new URL(response.url()).pathname, response.status()]))
    return { page, problems, statuses }
  })

const step = <A>(f: () => Promise<A>) => Effect.promise(f)
const text = (page: Page, selector: string) =>
  step(() => page.$eval(selector, (element) => (element as unknown as { innerText: string }).innerText))
const shoot = (page: Page, name: string) =>
  step(async () => {
    fs.mkdirSync(artifacts, { recursive: true })
    await page.screenshot({ path: path.join(artifacts, name), fullPage: true })
  })

layer(Env, { excludeTestServices: true, timeout: "180 seconds" })("the console in a real browser", (it) => {
  it.scoped("a wrong key shows the login again and reveals nothing", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const saga = yield* provokeFailedSaga(client, "browser-secret")
      const { page, problems, statuses } = yield* open(yield* browser)
      yield* step(() => page.goto(client.url, { waitUntil: "networkidle0" }))
      yield* step(() => page.waitForSelector("#login-form"))
      yield* step(() => page.type("#key", "not-the-key-0123456789"))
      yield* step(() => page.click("#login-form button[type=submit]"))
      yield* step(() => page.waitForSelector("#login-error"))
      assert.strictEqual(yield* text(page, "#login-error"), "That key was not accepted.")
      const body = yield* text(page, "body")
      assert.notInclude(body, saga.id)
      assert.notInclude(body, "failed")
      assert.isNull(yield* step(() => page.$("#overview")))
      assert.isNull(yield* step(() => page.evaluate(`sessionStorage.getItem("polysaga.apiKey")`)))
      // the one API call it made was refused; the page itself holds no data
      assert.deepStrictEqual(statuses.filter(([p]) => p.startsWith("/v1/")), [["/v1/overview", 401]])
      assert.deepStrictEqual(problems, [])
      yield* step(() => page.close())
    }))

  it.scoped("log in, see the failed saga, open it, retry its compensation once the conflict is gone", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const saga = yield* provokeFailedSaga(client, "browser")
      assert.strictEqual(saga.response.body.status, "failed")
      const { page, problems } = yield* open(yield* browser)
      yield* step(() => page.goto(client.url, { waitUntil: "networkidle0" }))
      yield* step(() => page.type("#key", "test-key-0123456789abcdef"))
      yield* step(() => page.click("#login-form button[type=submit]"))
      yield* step(() => page.waitForSelector("#overview"))
      assert.isAtLeast(Number(yield* text(page, "#count-failed")), 1)
      assert.isAtLeast(Number(yield* text(page, "#count-needs-person")), 1)
      yield* step(() => page.waitForSelector(`#sagas tr[data-id="${saga.id}"]`))
      yield* shoot(page, "overview.png")

      // the list of those that need a person, then the saga
      yield* step(() => page.click("a.card.attention"))
      yield* step(() => page.waitForFunction(`location.hash.includes("resolved=false")`))
      yield* step(() => page.waitForSelector(`#sagas tr[data-id="${saga.id}"] a`))
      const listed = yield* step(() =>
        page.$$eval("#sagas tbody tr", (rows) => rows.map((row) => row.querySelectorAll("td")[2]!.textContent))
      )
      assert.isTrue(listed.every((status) => status === "failed"), listed.join())
      yield* step(() => page.click(`#sagas tr[data-id="${saga.id}"] a`))
      yield* step(() => page.waitForSelector("#retry"))
      assert.strictEqual(yield* text(page, "#saga-status"), "failed")
      const step0 = yield* text(page, `#steps tr[data-step="step_0"]`)
      for (const expected of ["orders-db", "postgres", "orders", "update", "compensationFailed", "set status back"]) {
        assert.include(step0, expected)
      }
      assert.include(yield* text(page, `#steps tr[data-step="step_1"]`), "table1")
      assert.include(yield* text(page, "#events"), "CompensationFailed")
      assert.isNotNull(yield* step(() => page.$(`#timeline .lane[data-step="step_0"] .bar.undo-failed`)))
      yield* shoot(page, "saga-failed.png")

      // the other writer's change is undone by hand; the retry now compensates
      yield* saga.removeConflict
      yield* step(() => page.click("#retry"))
      yield* step(() => page.waitForSelector("#action-result"))
      assert.strictEqual(yield* text(page, "#action-result"), "Compensation retried: compensated.")
      assert.strictEqual(yield* text(page, "#saga-status"), "compensated")
      assert.isNull(yield* step(() => page.$("#retry")))
      assert.strictEqual(yield* saga.status, "pending")
      yield* shoot(page, "saga-compensated.png")

      // the key stays for the session: a reload shows the data without a login
      yield* step(() => page.reload({ waitUntil: "networkidle0" }))
      yield* step(() => page.waitForSelector("#saga-status"))
      assert.strictEqual(yield* text(page, "#saga-status"), "compensated")
      assert.deepStrictEqual(problems, [])
    }))

  it.scoped("mark a failed saga resolved by hand: the reason is shown and it leaves the needs-a-person list", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const saga = yield* provokeFailedSaga(client, "browser-resolve")
      const { page, problems } = yield* open(yield* browser)
      yield* step(() => page.goto(client.url, { waitUntil: "networkidle0" }))
      yield* step(() => page.type("#key", "test-key-0123456789abcdef"))
      yield* step(() => page.click("#login-form button[type=submit]"))
      yield* step(() => page.waitForSelector("#overview"))
      yield* step(() => page.goto(`${client.url}/#/saga/${encodeURIComponent(saga.id)}`))
      yield* step(() => page.waitForSelector("#resolve-reason"))
      yield* step(() => page.type("#resolve-reason", "order was shipped; customer refunded by hand"))
      yield* step(() => page.click("#resolve-submit"))
      yield* step(() => page.waitForSelector("#resolution"))
      assert.include(yield* text(page, "#resolution"), "order was shipped; customer refunded by hand")
      assert.strictEqual(yield* text(page, "#saga-status"), "failed · resolved")
      assert.isNull(yield* step(() => page.$("#retry")))
      yield* shoot(page, "saga-resolved.png")
      yield* step(() => page.goto(`${client.url}/#/?status=failed&resolved=false`))
      yield* step(() => page.waitForSelector("#sagas, #empty"))
      assert.isNull(yield* step(() => page.$(`#sagas tr[data-id="${saga.id}"]`)))
      assert.deepStrictEqual(problems, [])
    }))
})
