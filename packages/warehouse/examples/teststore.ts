/**
 * `@polysaga/testing`'s README example, run by `tools/readme` as a plain script (no vitest): the TestStore as a
 * configured warehouse engine. The package's main entry imports no test runner, so it loads in any process.
 */

// #region readme
import { createWarehouse } from "@polysaga/warehouse"

// `engine: "testing"` loads `@polysaga/testing`'s in-memory TestStore: no database, nothing to start
const warehouse = await createWarehouse({ sources: [{ tag: "orders", type: "database", engine: "testing" }] })
const result = await warehouse.transaction([
  { operation: "insert", from: { type: "database", tag: "orders", entity: "orders" }, data: { id: "o1", total: 10 } },
  {
    operation: "update",
    from: { type: "database", tag: "orders", entity: "stock" },
    data: { quantity: { $decrement: 1 } },
    where: { sku: "none-left" }
  }
])
console.log(result.status, result.compensatedSteps) // compensated [ 'step_0' ]: the update matched nothing
await warehouse.close()
// #endregion readme

if (result.status !== "compensated" || result.compensatedSteps.join() !== "step_0") process.exitCode = 1
