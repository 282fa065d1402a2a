/**
 * @since 0.1.0
 */

/**
 * Sagas: make, step, graph, run, execute, recover.
 *
 * @since 0.1.0
 */
export * as Saga from "./Saga.js"

/**
 * Steps, step definitions and the registry that rebuilds compensations after a restart.
 *
 * @since 0.1.0
 */
export * as Step from "./Step.js"

/**
 * The metrics sagas, steps and recoveries record (Effect `Metric`s).
 *
 * @since 0.1.0
 */
export * as SagaMetrics from "./SagaMetrics.js"

/**
 * The journal port, its Schema entries and the in-memory journal.
 *
 * @since 0.1.0
 */
export * as SagaJournal from "./SagaJournal.js"

/**
 * The package's tagged errors and the transient classification.
 *
 * @since 0.1.0
 */
export * as SagaError from "./SagaError.js"

/**
 * @since 0.1.0
 */
export type * from "./SagaResult.js"
