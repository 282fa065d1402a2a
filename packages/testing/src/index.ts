/**
 * The adapter conformance suite: `Conformance.run(harness)` in an adapter's test file.
 *
 * @since 0.1.0
 */
export * as Conformance from "./conformance/index.js"
