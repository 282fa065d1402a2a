/**
 * @since 0.1.0
 */

/**
 * The HTTP API definition (endpoints, schemas, errors).
 *
 * @since 0.1.0
 */
export * as Api from "./Api.js"

/**
 * The configuration file and its Schema.
 *
 * @since 0.1.0
 */
export * as Config from "./Config.js"

/**
 * The running sagas and the shutdown switch.
 *
 * @since 0.1.0
 */
export * as Intake from "./Intake.js"

/**
 * The whole service as a layer, and the command.
 *
 * @since 0.1.0
 */
export * as Server from "./Server.js"

/**
 * @since 0.1.0
 */
export * as Settings from "./Settings.js"

/**
 * The journal and the sources opening behind the HTTP server: readiness.
 *
 * @since 0.3.0
 */
export * as Startup from "./Startup.js"

/**
 * What the endpoints do.
 *
 * @since 0.1.0
 */
export * as Transactions from "./Transactions.js"
