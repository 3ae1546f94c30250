/**
 * Schema parse errors as a list of `path: message` issues people can read.
 */
import { ParseResult } from "effect"

/** One problem: where (`plan[2].route`, `resolution`) and what. */
export interface Issue {
  readonly path: string
  readonly message: string
}

export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  )

const expectedActual = /^Expected (.+), actual (.+)$/s

// Sections with defaults fail with the schema's structural description
// ("Expected Struct (Encoded side)", "Expected { readonly … }"); say what is meant.
const structural = /^Expected (?:\{|Struct \(Encoded side\)|\S+ \(Encoded side\)).*, actual (.+)$/s

const readable = (message: string): string => {
  const match = structural.exec(message)
  return match === null ? message : `Expected a mapping, actual ${match[1]}`
}

// A literal union fails once per member ("Expected "1K", actual "8K"", then
// "2K", then "4K"); those are merged into one issue.
export const parseIssues = (error: ParseResult.ParseError): Array<Issue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).reduce<Array<Issue>>((issues, issue) => {
    const path = formatPath(issue.path)
    const message = readable(issue.message)
    const previous = issues[issues.length - 1]
    const before = previous?.path === path ? expectedActual.exec(previous.message) : null
    const now = expectedActual.exec(message)
    if (before !== null && now !== null && before[2] === now[2]) {
      issues[issues.length - 1] = { path, message: `Expected ${before[1]} | ${now[1]}, actual ${now[2]}` }
    } else {
      issues.push({ path, message })
    }
    return issues
  }, [])

