/**
 * A loopback TCP proxy that loses one reply or one request on demand: writes in doubt, for tests.
 *
 * @since 0.1.0
 */
export * as LossyProxy from "./LossyProxy.js"

/**
 * Property-test your sagas: shape arbitraries, fault injection, the atomicity checker, the scenario harness.
 *
 * @since 0.1.0
 */
export * from "./saga/index.js"

/**
 * An in-memory store on `Store.make`, for unit tests of your own sagas (never for adapter or integration tests).
 *
 * @since 0.1.0
 */
export * as TestStore from "./TestStore.js"

/**
 * The TestStore's adapter descriptor: a configured source `{ "engine": "testing" }` (see `TestStore.adapter`).
 *
 * @since 0.1.0
 */
export { adapter } from "./TestStore.js"
