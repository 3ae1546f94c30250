/**
 * How `ballast simulate` prints the simulator's rows (`Strategies.Row`): an
 * aligned plain-text table, a Markdown table or JSON, plus the explanation of
 * the strategies and columns its help shows.
 *
 * @since 0.1.0
 */
import type * as Scenario from "./Scenario.js"
import * as Strategies from "./Strategies.js"

/**
 * The output styles: an aligned plain-text table, a Markdown table, or JSON.
 *
 * @since 0.1.0
 */
export type Style = "table" | "markdown" | "json"

/**
 * What the strategies are and what each column means, for help texts.
 *
 * @since 0.1.0
 */
export const legend = `strategies:
  none        the primary (gemini-pro) once, no retry
  retry-only  the primary, 5 attempts, exponential backoff from 2 s with jitter
  recipe      retry on 503 only, one circuit breaker shared by all models, model list
              gemini-pro → gemini-flash → openai → flux
  ballast     Ballast's pipeline on the reference plan

columns:
  success        answered / sent
  degraded       answers at a lower resolution or as a text description / answers
  p50 p95 p99    request latency (s), answers and failures
  calls/success  provider generation calls / answers (retry amplification; probes excluded)
  probes         health probes sent
  failover       time to fail over: from the start of the primary's trouble (the first
                 stretch in which it fails more than 25% of calls) to the first request
                 answered by a fallback with one provider call and no call to the primary;
                 "never" if none (or "-" when the scenario has no primary trouble)
  p95 after      p95 latency of requests sent after that moment while the primary is in trouble
  fallback p95   the fallback's own p95: the same requests, in the same period, sent straight to
                 the route that answered most of them (a plan of that route alone, same
                 retries) in a separate run — what that route costs without any failover`

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
const secs = (x: number | null) => x === null ? "-" : `${x.toFixed(1)}s`

/**
 * The column headers of the table, in order.
 *
 * @since 0.1.0
 */
export const headers: ReadonlyArray<string> = [
  "strategy",
  "success",
  "degraded",
  "p50",
  "p95",
  "p99",
  "calls/success",
  "probes",
  "failover",
  "p95 after",
  "fallback p95"
]

const cellsOf = (row: Strategies.Row, hasTrouble: boolean): ReadonlyArray<string> => [
  row.strategy,
  percent(row.successRate),
  percent(row.degradedShare),
  secs(row.p50),
  secs(row.p95),
  secs(row.p99),
  row.callsPerSuccess === null ? "-" : row.callsPerSuccess.toFixed(2),
  String(row.probes),
  !hasTrouble ? "-" : row.timeToFailover === null ? "never" : secs(row.timeToFailover),
  secs(row.p95AfterFailover),
  row.fallbackP95 === null ? "-" : `${secs(row.fallbackP95)} (${row.fallbackRoute})`
]

/**
 * Renders rows as an aligned plain-text table (numbers right-aligned), a
 * Markdown table, or JSON.
 *
 * @since 0.1.0
 * @example
 * import { Scenario, SimulationTable, Strategies } from "@ballast/testing"
 *
 * const scenario = Scenario.scenarios["outage-2h"]
 * const row = Strategies.simulate({ scenario, strategy: "ballast" })
 * console.log(SimulationTable.format([row], scenario, "markdown"))
 */
export const format = (
  rows: ReadonlyArray<Strategies.Row>,
  scenario: Scenario.Scenario,
  style: Style
): string => {
  if (style === "json") return JSON.stringify(rows, null, 2)
  const hasTrouble = Strategies.troublePeriod(scenario, Strategies.defaultStart) !== undefined
  const body = rows.map((row) => cellsOf(row, hasTrouble))
  const numeric = (column: number) => column > 0
  if (style === "markdown") {
    const line = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
    return [
      line(headers),
      line(headers.map((_, i) => (numeric(i) ? "---:" : "---"))),
      ...body.map(line)
    ].join("\n")
  }
  const widths = headers.map((header, i) => Math.max(header.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (numeric(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), ...body.map(line)].join("\n")
}

/**
 * The line printed above a table (not above JSON): the scenario, its
 * description, the request rate and the seed, then an empty line.
 *
 * @since 0.1.0
 */
export const heading = (scenario: Scenario.Scenario, requestsPerMinute: number, seed: number): string =>
  `scenario ${scenario.name} (${scenario.description}) — ${requestsPerMinute} requests/min, seed ${seed}\n`
