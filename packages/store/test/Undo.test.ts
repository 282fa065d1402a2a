import { assert, describe, it } from "@effect/vitest"
import { Undo } from "../src/index.js"

describe("Undo.describe", () => {
  it("says what each action will do, values as JSON", () => {
    assert.strictEqual(
      Undo.describe({ _tag: "DeleteCreated", key: { id: "o1" } }),
      `delete the record it created, {"id":"o1"}`
    )
    assert.strictEqual(
      Undo.describe({ _tag: "Reinsert", image: { id: 7, name: "Ann" } }),
      `re-insert the record it deleted, {"id":7,"name":"Ann"}`
    )
    assert.strictEqual(
      Undo.describe(
        Undo.revert(
          { productId: "p1" },
          [
            { op: "set", field: "status", value: "paid", path: "data.status" },
            { op: "increment", field: "quantity", by: -2, path: "data.quantity" },
            { op: "push", field: "tags", value: "x", path: "data.tags" }
          ],
          { status: "pending", quantity: 5, tags: [] },
          { status: "paid", quantity: 3, tags: ["x"] }
        )
      ),
      `on {"productId":"p1"}: set status back to "pending" if it is still "paid"; add 2 to quantity; ` +
        `remove the last "x" from tags`
    )
    assert.strictEqual(
      Undo.describe(
        Undo.revert(
          { _id: "u1" },
          [
            { op: "set", field: "nickname", value: "Al", path: "data.nickname" },
            { op: "increment", field: "visits", by: 1, path: "data.visits" }
          ],
          {},
          { nickname: "Al", visits: 1 }
        )
      ),
      `on {"_id":"u1"}: remove nickname if it is still "Al"; add -1 to visits, then remove it if that leaves 0 or [] ` +
        `(it was absent before)`
    )
    assert.strictEqual(
      Undo.describe({ _tag: "Revert", key: { id: 1 }, inverse: [], restore: {} }),
      `on {"id":1}: nothing to revert`
    )
  })

  it("cuts long images", () => {
    const text = Undo.describe({ _tag: "Reinsert", image: { blob: "x".repeat(500) } })
    assert.isAtMost(text.length, 200)
    assert.isTrue(text.endsWith("…"))
  })
})
