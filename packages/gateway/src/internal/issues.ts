/**
 * Schema parse errors as `path: message` issues people can read.
 */
import { ParseResult } from "effect"

/** One problem: where (`models.image.pipeline.plan[2].route`, `size`) and what. */
export interface Issue {
  readonly path: string
  readonly message: string
  /** The value was absent (rather than wrong). */
  readonly missing: boolean
}

/** `["a", 0, "b"]` → `a[0].b`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  )

const expectedActual = /^Expected (.+), actual (.+)$/s

/**
 * Every issue of a parse error; a literal union's one-issue-per-member is
 * merged into one `Expected "a" | "b", actual "c"`.
 */
export const parseIssues = (error: ParseResult.ParseError): Array<Issue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).reduce<Array<Issue>>((issues, issue) => {
    const path = formatPath(issue.path)
    const previous = issues[issues.length - 1]
    const before = previous?.path === path ? expectedActual.exec(previous.message) : null
    const now = expectedActual.exec(issue.message)
    if (before !== null && now !== null && before[2] === now[2]) {
      issues[issues.length - 1] = { path, message: `Expected ${before[1]} | ${now[1]}, actual ${now[2]}`, missing: false }
    } else {
      issues.push({ path, message: issue.message, missing: issue._tag === "Missing" })
    }
    return issues
  }, [])
