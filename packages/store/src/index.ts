/**
 * @since 0.1.0
 */
export * as StepBarrier from "./StepBarrier.js"
/**
 * @since 0.1.0
 */
export * as Capabilities from "./Capabilities.js"
/**
 * @since 0.1.0
 */
export * as Filter from "./Filter.js"

/**
 * @since 0.1.0
 */
export * as KeyedLock from "./KeyedLock.js"
/**
 * @since 0.1.0
 */
export * as Identifier from "./Identifier.js"
/**
 * @since 0.1.0
 */
export * as Operation from "./Operation.js"
/**
 * @since 0.1.0
 */
export * from "./Store.js"
/**
 * @since 0.1.0
 */
export * from "./StoreError.js"
/**
 * @since 0.1.0
 */
export * as Undo from "./Undo.js"
/**
 * @since 0.1.0
 */
export * as Update from "./Update.js"
/**
 * @since 0.1.0
 */
export * as StoreLayer from "./StoreLayer.js"
/**
 * @since 0.1.0
 */
export * as Limits from "./Limits.js"
/**
 * @since 0.1.0
 */
export * as Adapter from "./Adapter.js"
