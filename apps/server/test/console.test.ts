import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Client, makeClient, provokeFailedSaga, serverEnv } from "./support.js"

const Env = serverEnv()

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("the operator console's API", (it) => {
  it.effect("a conflicting compensation leaves the saga failed, described step by step; retried once fixed", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const before = (yield* client.request("GET", "/v1/overview")).body
      const saga = yield* provokeFailedSaga(client, "retry")
      assert.strictEqual(saga.response.status, 200)
      assert.strictEqual(saga.response.body.status, "failed")
      assert.strictEqual(yield* saga.status, "shipped")

      const record = (yield* client.request("GET", `/v1/transactions/${saga.id}`)).body
      assert.strictEqual(record.status, "failed")
      assert.deepStrictEqual(record.pendingCompensations, ["step_0"])
      const [update, insert] = record.steps
      assert.deepInclude(update, {
        id: "step_0",
        tag: "orders-db",
        engine: "postgres",
        entity: "orders",
        operation: "update",
        affectedRows: 1,
        status: "compensationFailed"
      })
      assert.deepStrictEqual(update.undo, [
        `on {"id":"${saga.orderId}"}: set status back to "pending" if it is still "paid"`
      ])
      assert.include(update.compensation.error, "was changed by another writer (status)")
      assert.deepInclude(insert, { id: "step_1", tag: "db1", engine: "postgres", entity: "table1", status: "failed" })
      assert.match(insert.error, /duplicate|unique|already/i)

      // it waits for a person: listed, counted
      const waiting = yield* client.request("GET", `/v1/transactions?status=failed&resolved=false&id=${saga.id}`)
      assert.deepStrictEqual(waiting.body.transactions.map((t: { id: string }) => t.id), [saga.id])
      const after = (yield* client.request("GET", "/v1/overview")).body
      assert.strictEqual(after.counts.failed - before.counts.failed, 1)
      assert.strictEqual(after.needsPerson - before.needsPerson, 1)
      assert.strictEqual(after.lastHour.startedPerMinute.length, 60)
      assert.isAtLeast(after.lastHour.ended, 1)
      assert.isAtMost(after.lastHour.latency.p50, after.lastHour.latency.max)

      // the conflict is still there: the retry fails again, nothing changes
      const again = yield* client.request("POST", `/v1/transactions/${saga.id}/compensate`)
      assert.strictEqual(again.body.status, "failed")
      assert.strictEqual(yield* saga.status, "shipped")
      // removed: the retry undoes step_0
      yield* saga.removeConflict
      const retried = yield* client.request("POST", `/v1/transactions/${saga.id}/compensate`)
      assert.strictEqual(retried.body.status, "compensated")
      assert.deepStrictEqual(retried.body.compensatedSteps, ["step_0"])
      assert.strictEqual(yield* saga.status, "pending")
      const done = (yield* client.request("GET", `/v1/overview`)).body
      assert.strictEqual(done.needsPerson, before.needsPerson)
    }))

  it.effect("a failed saga resolved by hand: journaled with its reason, out of the list, not retried", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const saga = yield* provokeFailedSaga(client, "resolve")
      assert.strictEqual(saga.response.body.status, "failed")
      const path = `/v1/transactions/${saga.id}/resolve`

      const empty = yield* client.request("POST", path, { body: { reason: "   " } })
      assert.strictEqual(empty.status, 400)
      assert.strictEqual(empty.body.error.code, "VALIDATION_ERROR")
      assert.include(empty.body.error.message, "reason")
      const missing = yield* client.request("POST", "/v1/transactions/no-such-saga/resolve", { body: { reason: "x" } })
      assert.strictEqual(missing.status, 404)

      const resolved = yield* client.request("POST", path, { body: { reason: "  order shipped anyway; refunded  " } })
      assert.strictEqual(resolved.status, 200)
      assert.strictEqual(resolved.body.status, "failed")
      assert.strictEqual(resolved.body.resolution.reason, "order shipped anyway; refunded")
      assert.deepInclude(resolved.body.events.at(-1), {
        type: "SagaResolved",
        reason: "order shipped anyway; refunded"
      })

      const twice = yield* client.request("POST", path, { body: { reason: "again" } })
      assert.strictEqual(twice.status, 409)
      assert.strictEqual(twice.body.error.code, "ALREADY_RESOLVED")
      const retry = yield* client.request("POST", `/v1/transactions/${saga.id}/compensate`)
      assert.strictEqual(retry.status, 409)
      assert.strictEqual(retry.body.error.code, "ALREADY_RESOLVED")
      assert.strictEqual(yield* saga.status, "shipped")

      const waiting = yield* client.request("GET", `/v1/transactions?status=failed&resolved=false&id=${saga.id}`)
      assert.deepStrictEqual(waiting.body.transactions, [])
      const done = yield* client.request("GET", `/v1/transactions?resolved=true&id=${saga.id}`)
      assert.deepStrictEqual(done.body.transactions.map((t: any) => [t.id, t.resolution.reason]), [
        [saga.id, "order shipped anyway; refunded"]
      ])

      // only a failed saga is resolved
      const completed = yield* client.request("POST", "/v1/transactions", {
        body: {
          operations: [{
            operation: "insert",
            from: { type: "database", tag: "db3", entity: "table3" },
            data: { invalidData: false }
          }]
        }
      })
      const notFailed = yield* client.request("POST", `/v1/transactions/${completed.body.id}/resolve`, {
        body: { reason: "x" }
      })
      assert.strictEqual(notFailed.status, 409)
      assert.strictEqual(notFailed.body.error.code, "NOT_FAILED")
    }))

  it.effect("the list's filters and pages; bad ones are 400 naming the parameter", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const id = `console-page-${i}-${Date.now()}`
        const response = yield* client.request("POST", "/v1/transactions", {
          body: {
            operations: [{
              operation: "insert",
              from: { type: "database", tag: "db3", entity: "table3" },
              data: { invalidData: false }
            }],
            options: { id }
          }
        })
        assert.strictEqual(response.body.status, "completed")
        ids.push(id)
      }
      const seen: Array<string> = []
      let next: string | undefined
      do {
        const page = yield* client.request(
          "GET",
          `/v1/transactions?id=console-page-&limit=2${next === undefined ? "" : `&cursor=${next}`}`
        )
        assert.isAtMost(page.body.transactions.length, 2)
        seen.push(...page.body.transactions.map((t: { id: string }) => t.id))
        next = page.body.next
      } while (next !== undefined)
      assert.deepStrictEqual(seen, [...ids].reverse())
      const first = (yield* client.request("GET", `/v1/transactions/${ids[0]}`)).body
      const later = yield* client.request(
        "GET",
        `/v1/transactions?id=console-page-&from=${first.startedAt}&to=${first.endedAt}`
      )
      assert.deepStrictEqual(later.body.transactions.map((t: { id: string }) => t.id), [ids[0]])

      for (
        const [query, path] of [
          ["cursor=bm9wZQ", "cursor"],
          ["from=yesterday", "from"],
          ["status=stuck", "status"],
          ["resolved=maybe", "resolved"],
          ["limit=0", "limit"]
        ]
      ) {
        const bad = yield* client.request("GET", `/v1/transactions?${query}`)
        assert.strictEqual(bad.status, 400, query)
        assert.strictEqual(bad.body.error.code, "VALIDATION_ERROR")
        assert.strictEqual(bad.body.error.path, path)
      }
    }))

  it.effect("the page at / and its files: same origin, a strict CSP, no data without the key", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const anonymous = makeClient(client.url, undefined)
      const files = [
        ["/", "text/html"],
        ["/console/console.js", "text/javascript"],
        ["/console/console.css", "text/css"]
      ] as const
      for (const [path, type] of files) {
        const response = yield* anonymous.request("GET", path)
        assert.strictEqual(response.status, 200, path)
        assert.include(response.headers.get("content-type") ?? "", type)
        const csp = response.headers.get("content-security-policy")!
        assert.include(csp, "default-src 'none'")
        assert.include(csp, "script-src 'self'")
        assert.include(csp, "style-src 'self'")
        assert.notInclude(csp, "unsafe-inline")
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
      }
      const page = (yield* anonymous.request("GET", "/")).body as string
      assert.notMatch(page, /<script>|<style>|\sstyle=|\son[a-z]+=/i, "no inline script, style or handler")
      assert.notInclude(page, "console-")
      for (const path of ["/v1/overview", "/v1/transactions", "/v1/transactions/x"]) {
        assert.strictEqual((yield* anonymous.request("GET", path)).status, 401, path)
      }
      assert.strictEqual(
        (yield* anonymous.request("POST", "/v1/transactions/x/resolve", { body: { reason: "x" } })).status,
        401
      )
    }))
})
