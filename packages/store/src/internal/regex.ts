/**
 * The safe `$regex` subset (see `Filter.Regex`): a checker that parses a pattern into its anchors and body, or
 * says why it is outside the subset.
 */

/** The longest pattern, in code points. */
export const maxLength = 256
/** The largest count in `{n}`, `{n,}`, `{n,m}`. */
export const maxCount = 100
/** The product of `m - n + 1` over the bounded quantifiers (`?` is `{0,1}`): the backtracking per position. */
export const maxBranching = 1000

/** A pattern of the safe subset: anchored at the start (`^`) and / or end (`$`), and the body between them. */
export interface Parsed {
  readonly start: boolean
  readonly end: boolean
  readonly body: string
}

/** The characters that must be escaped to stand for themselves (the only ones that may be escaped). */
export const metacharacters: ReadonlySet<string> = new Set([..."\\.*+?()[]{}|^$"])

const inRange = (a: string, b: string) => a <= b && ["az", "AZ", "09"].some(([lo, hi]) => a >= lo! && b <= hi!)

/** Parses `pattern`: its anchors and body, or why it is not in the safe subset (a message without the path). */
export const parse = (pattern: string): Parsed | string => {
  const chars = [...pattern]
  if (chars.length > maxLength) return `a $regex pattern has at most ${maxLength} characters`
  const start = chars[0] === "^"
  let i = start ? 1 : 0
  // a trailing `$` is the end anchor unless it is escaped (an odd run of backslashes before it)
  let slashes = 0
  for (let j = chars.length - 2; j >= i && chars[j] === "\\"; j--) slashes++
  const end = chars.length > i && chars[chars.length - 1] === "$" && slashes % 2 === 0
  const stop = end ? chars.length - 1 : chars.length
  if (i === stop) return "a $regex pattern needs at least one character to match"
  let unbounded = 0
  let branching = 1
  while (i < stop) {
    const c = chars[i]!
    // one atom
    if (c === "\\") {
      const next = chars[i + 1]
      if (next === undefined || i + 1 >= stop || !metacharacters.has(next)) {
        return `only the characters \\.*+?()[]{}|^$ may be escaped in a $regex (at ${i}: \\${
          next ?? ""
        }); shorthand classes (\\d, \\w, \\s), \\b and other escapes mean different things to the stores' engines`
      }
      i += 2
    } else if (c === "[") {
      let j = i + 1
      if (chars[j] === "^") j++
      const first = j
      while (j < stop && chars[j] !== "]") {
        const here = chars[j]!
        if (here === "\\") {
          const next = chars[j + 1]
          if (next === undefined || (!metacharacters.has(next) && next !== "-")) {
            return `only \\.*+?()[]{}|^$ and - may be escaped in a $regex class (at ${j})`
          }
          j += 2
        } else if (here === "[" || here === "&") {
          return `${here} must be escaped in a $regex class (at ${j}): the engines read it differently`
        } else if (chars[j + 1] === "-" && chars[j + 2] !== undefined && chars[j + 2] !== "]") {
          if (!inRange(here, chars[j + 2]!)) {
            return `a $regex class range stays within a-z, A-Z or 0-9 (at ${j}: ${here}-${chars[j + 2]})`
          }
          j += 3
        } else if (here === "-") {
          return `- must be escaped in a $regex class unless it makes a range (at ${j})`
        } else j++
      }
      if (j >= stop) return `an unclosed $regex class (at ${i})`
      if (j === first) return `an empty $regex class (at ${i})`
      i = j + 1
    } else if (c === "(" || c === ")" || c === "|") {
      return `groups and alternation are not in the safe $regex subset (at ${i}: ${c})`
    } else if (c === "*" || c === "+" || c === "?" || c === "{") {
      return `a $regex quantifier needs a character, . or class before it (at ${i}: ${c})`
    } else if (c === "^" || c === "$" || c === "]" || c === "}") {
      return `${c} must be escaped here in a $regex (at ${i}); ^ and $ anchor only at the very start and end`
    } else i++
    // its quantifier, if any
    if (i >= stop) break
    const q = chars[i]!
    if (q === "*" || q === "+") {
      unbounded++
      i++
    } else if (q === "?") {
      branching *= 2
      i++
    } else if (q === "{") {
      const close = chars.indexOf("}", i)
      const body = close < 0 || close >= stop ? "" : chars.slice(i + 1, close).join("")
      const m = /^(\d{1,3})(,(\d{0,3}))?$/.exec(body)
      if (m === null) return `a $regex repetition is {n}, {n,} or {n,m} (at ${i}); a literal { must be escaped`
      const lo = Number(m[1])
      const hi = m[2] === undefined ? lo : m[3] === "" ? undefined : Number(m[3])
      if (lo > maxCount || (hi !== undefined && (hi > maxCount || hi < lo))) {
        return `a $regex repetition counts at most ${maxCount}, with n ≤ m (at ${i})`
      }
      if (hi === undefined) unbounded++
      else branching *= hi - lo + 1
      i = close + 1
    }
    if (i < stop && "*+?{".includes(chars[i]!)) {
      return `one quantifier per atom in the safe $regex subset: no lazy, possessive or stacked quantifiers (at ${i})`
    }
  }
  if (unbounded > 1) return "at most one unbounded quantifier (*, +, {n,}) in a $regex"
  if (unbounded === 1 && !start) {
    return "an unbounded quantifier (*, +, {n,}) needs a $regex anchored with ^ (unanchored, a backtracking " +
      "engine retries it from every position)"
  }
  if (branching > maxBranching) {
    return `the bounded quantifiers of a $regex allow more than ${maxBranching} ways to match at one position`
  }
  return { start, end, body: chars.slice(start ? 1 : 0, stop).join("") }
}

const cache = new Map<string, RegExp>()

/** A pattern of the safe subset as a JavaScript RegExp with the reference semantics (`.` matches newlines). */
export const toRegExp = (pattern: string): RegExp => {
  let re = cache.get(pattern)
  if (re === undefined) {
    re = new RegExp(pattern, "su")
    if (cache.size >= 1000) cache.clear()
    cache.set(pattern, re)
  }
  return re
}
