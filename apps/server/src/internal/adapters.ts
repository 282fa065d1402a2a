import { Source } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"

/**
 * The first-party adapters, each imported by a literal specifier only when a configuration names its engine: in the
 * bundle (`dist/main.js`) esbuild puts each in a chunk of its own next to it, so a source of `engine: "neo4j"` loads
 * the bundled driver and nothing is resolved from `node_modules` (which would load a second copy of Effect). An
 * engine not listed here (`@scope/name`) is imported by name, as the warehouse does by default.
 */
const modules = {
  "@polysaga/postgres": () => import("@polysaga/postgres"),
  "@polysaga/mongodb": () => import("@polysaga/mongodb"),
  "@polysaga/neo4j": () => import("@polysaga/neo4j"),
  "@polysaga/chroma": () => import("@polysaga/chroma")
}

/** `effect` with the service's adapters. */
export const provide = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, Source.AdapterModules, modules)
