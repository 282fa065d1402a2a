/**
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.js"
/**
 * @since 0.1.0
 */
export type * from "./Harness.js"
/**
 * @since 0.1.0
 */
export { canonical, run } from "./Suite.js"
