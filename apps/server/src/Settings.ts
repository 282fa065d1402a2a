/**
 * The decoded configuration as a service, for the layers that need parts of it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type { ServerConfig } from "./Config.js"

/**
 * @since 0.1.0
 */
export class Settings extends Context.Tag("@polysaga/server/Settings")<Settings, ServerConfig>() {}
