/**
 * The metrics polysaga records, as Effect `Metric`s in Effect's global registry: export them with
 * `@effect/opentelemetry`'s `Metrics.layer` (to Prometheus, OTLP, …). Recorded by `@polysaga/warehouse` (sagas,
 * in-flight sagas, step latency by engine) and `@polysaga/journal` (recoveries).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Sagas that ended, tagged `status` (`completed`, `compensated`, `failed`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const sagas = Metric.counter("polysaga_sagas", {
  description: "Sagas that ended, by status (completed, compensated, failed)",
  incremental: true
})

/**
 * Sagas running now.
 *
 * @since 0.1.0
 * @category metrics
 */
export const inFlight = Metric.gauge("polysaga_sagas_in_flight", { description: "Sagas running now" })

/**
 * The duration of one step attempt in seconds, tagged `engine` (the store's engine) and `outcome` (`success`,
 * `failure`). Buckets from 1 ms to ~16 s.
 *
 * @since 0.1.0
 * @category metrics
 */
export const stepDuration = Metric.histogram(
  "polysaga_step_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 15 }),
  "The duration of one step attempt in seconds, by store engine and outcome"
)

/**
 * Sagas a recovery pass drove to an end, tagged `status` (the status they ended with, or `error` when the recovery
 * itself failed and the saga was released for a later pass).
 *
 * @since 0.1.0
 * @category metrics
 */
export const recoveries = Metric.counter("polysaga_recoveries", {
  description: "Sagas recovered after their owner was gone, by the status they ended with (or error)",
  incremental: true
})
