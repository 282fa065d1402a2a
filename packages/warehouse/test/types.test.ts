/**
 * The typed input of `transaction`: what compiles and what does not. `pnpm check` type-checks this file (a
 * `@ts-expect-error` that is not needed is itself an error); vitest runs the `expectTypeOf` assertions.
 */
import { describe, expectTypeOf, it } from "vitest"
import { type createWarehouse, type Transaction, WarehouseError } from "../src/index.js"

type Transact = Awaited<ReturnType<typeof createWarehouse>>["transaction"]
declare const transaction: Transact

// Only evaluated by the type checker: never called.
const compileOnly = (_: () => unknown) => undefined

describe("typed operations", () => {
  it("accepts the seed's operations, references and dependencies", () => {
    compileOnly(() =>
      transaction([
        {
          id: "createOrder",
          operation: "insert",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          data: { userId: "user_123", total: 99.99, status: "pending", createdAt: new Date(), tags: ["a", 1] }
        },
        {
          operation: "update",
          from: { type: "database", tag: "inventory-db", entity: "inventory" },
          data: { quantity: { $decrement: 1 }, note: "x" },
          where: { productId: { $eq: "p1" }, quantity: { $gte: 1 } },
          options: { allowNoMatch: true, timeout: 1000, maxRetries: 2 }
        },
        {
          operation: "insert",
          from: { type: "database", tag: "payments-db", entity: "payments" },
          data: [{ orderId: { $ref: "createOrder.data.0.id" }, amount: 99.99 }],
          dependsOn: ["createOrder"]
        },
        {
          operation: "select",
          from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" },
          where: { $or: [{ type: "ORDER_CREATED" }, { orderId: { $in: ["1", "2"] } }], $not: { userId: null } }
        },
        { operation: "delete", from: { type: "vector", tag: "user-search", entity: "users" }, where: { id: "u1" } }
      ], { concurrency: "unbounded", timeout: 5000 })
    )
    // the seed's processOrder, as written (`from.type` is widened to string inside the map callback)
    const order = {
      id: "o1",
      userId: "u1",
      total: 10,
      paymentMethod: "card",
      items: [{ productId: "p1", quantity: 2 }]
    }
    compileOnly(() =>
      transaction([
        {
          operation: "insert",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          data: { id: order.id, userId: order.userId, items: order.items, total: order.total, status: "processing" }
        },
        ...order.items.map((item) => ({
          operation: "update" as const,
          from: { type: "database", tag: "inventory-db", entity: "inventory" },
          data: { quantity: { $decrement: item.quantity } },
          where: { productId: { $eq: item.productId } }
        })),
        {
          operation: "insert",
          from: { type: "database", tag: "payments-db", entity: "payments" },
          data: { orderId: order.id, amount: order.total, status: "pending", method: order.paymentMethod }
        },
        {
          operation: "insert",
          from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" },
          data: {
            orderId: order.id,
            userId: order.userId,
            type: "ORDER_CREATED",
            timestamp: new Date().toISOString()
          }
        }
      ])
    )
    expectTypeOf<Transaction.Operation["operation"]>().toEqualTypeOf<
      "insert" | "update" | "delete" | "upsert" | "select"
    >()
    expectTypeOf<Transact>().parameter(0).toEqualTypeOf<ReadonlyArray<Transaction.Operation>>()
  })

  it("rejects typos and misplaced operators", () => {
    compileOnly(() =>
      transaction([{
        // @ts-expect-error: no operation "insrt"
        operation: "insrt",
        from: { type: "database", tag: "t", entity: "e" },
        data: { a: 1 }
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "select",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: no operator $gtee
        where: { quantity: { $gtee: 1 } }
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "update",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: no update operator $incr
        data: { quantity: { $incr: 1 } },
        where: {}
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "insert",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: an insert takes plain values, not update operators
        data: { quantity: { $increment: 1 } }
      }])
    )
    compileOnly(() =>
      // @ts-expect-error: a delete needs `where`
      transaction([{ operation: "delete", from: { type: "database", tag: "t", entity: "e" } }])
    )
    compileOnly(() =>
      transaction([{
        operation: "select",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: a $ref names "<step>.<path>"
        where: { id: { $ref: "createOrder" } }
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "select",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: no option "timeot"
        options: { timeot: 5 }
      }])
    )
    compileOnly(() =>
      // @ts-expect-error: concurrency is a number or "unbounded"
      transaction([{ operation: "select", from: { type: "database", tag: "t", entity: "e" } }], { concurrency: "all" })
    )
  })

  it("selects take fields, orderBy, limit, offset, the new operators and a vector search", () => {
    compileOnly(() =>
      transaction([
        {
          operation: "select",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          fields: ["id", "total"],
          orderBy: [{ field: "createdAt", order: "DESC" }, { field: "id" }],
          limit: 10,
          offset: 20,
          where: {
            tags: { $containsAll: ["a", "b"] },
            labels: { $containsAny: ["x", { $ref: "step_0.data.0.label" }] },
            name: { $regex: "^ab[0-9]{2}" }
          }
        },
        {
          operation: "select",
          from: { type: "vector", tag: "user-search", entity: "users" },
          where: { embedding: { $similar: { vector: [0.1, 0.2], topK: 5, threshold: 0.8 } }, plan: "pro" }
        },
        {
          operation: "select",
          from: { type: "vector", tag: "user-search", entity: "users" },
          where: { embedding: { $near: { vector: [0.1, 0.2], maxDistance: 0.3 } } }
        }
      ])
    )
    compileOnly(() =>
      transaction([{
        operation: "select",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: order is "ASC" or "DESC"
        orderBy: [{ field: "a", order: "UP" }]
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "select",
        from: { type: "database", tag: "t", entity: "e" },
        // @ts-expect-error: a $regex pattern is written out, never a $ref
        where: { name: { $regex: { $ref: "s.data.0.p" } } }
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "update",
        from: { type: "database", tag: "t", entity: "e" },
        data: { a: 1 },
        // @ts-expect-error: a vector search is a select's
        where: { embedding: { $similar: { vector: [1] } } }
      }])
    )
    compileOnly(() =>
      transaction([{
        operation: "insert",
        from: { type: "database", tag: "t", entity: "e" },
        data: { a: 1 },
        // @ts-expect-error: fields are a select's
        fields: ["a"]
      }])
    )
  })

  it("WarehouseError.code is a union of the documented codes", () => {
    expectTypeOf<WarehouseError["code"]>().toEqualTypeOf<WarehouseError.Code>()
    expectTypeOf<"ENGINE_NOT_INSTALLED">().toMatchTypeOf<WarehouseError["code"]>()
    expectTypeOf<"VALIDATION_ERROR">().toMatchTypeOf<WarehouseError["code"]>()
    expectTypeOf<"NOT_A_CODE">().not.toMatchTypeOf<WarehouseError["code"]>()
    // @ts-expect-error: not a documented code
    compileOnly(() => new WarehouseError({ code: "OOPS", message: "m" }))
  })
})
