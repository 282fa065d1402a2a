/** `["sources", 2, "engine"]` → `sources[2].engine`. */
export const format = (segments: ReadonlyArray<PropertyKey>): string =>
  segments.reduce<string>(
    (acc, segment) =>
      typeof segment === "number"
        ? `${acc}[${segment}]`
        : acc === ""
        ? String(segment)
        : `${acc}.${String(segment)}`,
    ""
  )
