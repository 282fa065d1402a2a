/**
 * The adapter conformance suite, `@polysaga/testing/conformance`: `Conformance.run(harness)` at the top level of an
 * adapter's vitest file. It has an entry point of its own because it imports `vitest` and `@effect/vitest`; the
 * package's main entry (the TestStore, the saga kit, LossyProxy) imports neither, so it loads in any process.
 *
 * @since 0.1.0
 */

/**
 * The suite (`run`), its harness types and the arbitraries it draws from.
 *
 * @since 0.1.0
 */
export * as Conformance from "./conformance/index.js"
