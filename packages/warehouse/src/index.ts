/**
 * The warehouse: `Warehouse.layer(config)`, `Warehouse.transaction(operations, options)`, the `Warehouse.Warehouse`
 * service, and the step registry for recovery.
 *
 * @since 0.1.0
 */
export * as Warehouse from "./Warehouse.js"
/**
 * Sources by tag (`Source.SourceConfig`, `Source.Sources`).
 *
 * @since 0.1.0
 */
export * as Source from "./Source.js"
/**
 * Options and result Schemas.
 *
 * @since 0.1.0
 */
export * as Transaction from "./Transaction.js"
/**
 * The Promise facade, used like the seed's `ductape.warehouse`.
 *
 * @since 0.1.0
 */
export { createWarehouse } from "./Warehouse.js"
/**
 * @since 0.1.0
 */
export { WarehouseError } from "./WarehouseError.js"
