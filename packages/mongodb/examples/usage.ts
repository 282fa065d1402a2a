/**
 * The README's examples of the store alone, run by `tools/readme` against the stack (`.stack/env`): it puts one
 * inventory document in the database `readme_shop`, reserves two (update, undone), then builds the layer from
 * configuration. Exits by itself.
 */
import { MongoClient } from "mongodb"

// what the example needs: a product with stock
const client = await new MongoClient(process.env.POLYSAGA_MONGO_URL!).connect()
await client.db("readme_shop").collection("inventory").deleteMany({ productId: "p1" })
await client.db("readme_shop").collection("inventory").insertOne({ productId: "p1", quantity: 5, status: "free" })
await client.close()

// #region readme:alone
import * as MongoStore from "@polysaga/mongodb"
import { Operation } from "@polysaga/store"
import { Effect, Redacted } from "effect"

const program = Effect.gen(function*() {
  const store = yield* MongoStore.MongoStore
  const op = yield* Operation.parse({
    operation: "update",
    from: { type: "database", tag: "inventory-db", entity: "inventory" },
    data: { quantity: { $decrement: 2 }, status: "reserved" },
    where: { productId: "p1", quantity: { $gte: 2 } }
  })
  yield* store.validate(op) // nothing written: identifiers, operators, values
  const outcome = yield* store.execute(op) // { records (after the update), affected, undo }
  // … a later step failed:
  yield* store.undo(outcome.undo) // quantity += 2 (relative), status restored only if still "reserved"
  return outcome.records
})

const records = await program.pipe(
  Effect.provide(MongoStore.layer({ url: Redacted.make(process.env.POLYSAGA_MONGO_URL!), database: "readme_shop" })),
  Effect.runPromise
)
console.log("reserved, then undone:", records)
// #endregion readme:alone

process.env.MONGO_URL = process.env.POLYSAGA_MONGO_URL
process.env.MONGO_DB = "readme_shop"
// #region readme:config
import { Config } from "effect"

const MongoLive = MongoStore.layerConfig({
  url: Config.redacted("MONGO_URL"),
  database: Config.string("MONGO_DB"),
  maxRecordsPerOperation: Config.withDefault(Config.integer("MONGO_MAX_RECORDS"), 1000)
})
// #endregion readme:config

await program.pipe(Effect.provide(MongoLive), Effect.runPromise)
console.log("the layer from configuration works the same")
