/**
 * The `ballast` command of the repository (`pnpm ballast …`). Its one command,
 * `simulate`, plays a named scenario on virtual time through each strategy and
 * prints their figures side by side:
 *
 *     pnpm ballast simulate --scenario outage-2h [--strategy all] [--requests-per-minute 6] [--seed 1] [--json|--markdown]
 *
 * The simulation itself is `Strategies.simulate`; this file parses arguments
 * and prints.
 *
 * @since 0.1.0
 */
import { realpathSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { Either } from "effect"
import * as Scenario from "../Scenario.js"
import * as Strategies from "../Strategies.js"

/**
 * The usage text `--help` prints.
 *
 * @since 0.1.0
 */
export const usage = `usage: ballast simulate --scenario <name> [--strategy <name>|all] [--requests-per-minute <n>] [--seed <n>] [--json | --markdown]

Plays a named outage scenario (for its own duration) on virtual time, sending
4K 16:9 image requests at the given rate through each strategy, and prints one
row per strategy.

options:
  --scenario <name>            ${Scenario.names.join(", ")}
  --strategy <name>|all        ${Strategies.strategyNames.join(", ")} or all (default all)
  --requests-per-minute <n>    request rate, a positive number (default 6)
  --seed <n>                   seeds the randomness; the same seed prints the same table (default 1)
  --json                       print the rows as JSON
  --markdown                   print a Markdown table
  --help                       print this text

strategies:
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

/**
 * What the command line asks for.
 *
 * @since 0.1.0
 */
export interface Command {
  readonly scenario: Scenario.Scenario
  readonly strategies: ReadonlyArray<Strategies.StrategyName>
  readonly requestsPerMinute: number
  readonly seed: number
  readonly format: "table" | "markdown" | "json"
}

/**
 * The result of parsing: a command, a request for help, or an error message.
 *
 * @since 0.1.0
 */
export type Parsed =
  | { readonly _tag: "Run"; readonly command: Command }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Invalid"; readonly message: string }

const invalid = (message: string): Parsed => ({ _tag: "Invalid", message: `${message}\n\n${usage}` })

const valued = ["--scenario", "--strategy", "--requests-per-minute", "--seed"]
const switches = ["--json", "--markdown", "--help"]

/**
 * Parses the arguments after `ballast`.
 *
 * @since 0.1.0
 */
export const parse = (argv: ReadonlyArray<string>): Parsed => {
  if (argv.includes("--help") || argv.includes("-h") || argv[0] === "help") return { _tag: "Help" }
  const [command, ...args] = argv
  if (command === undefined) return invalid("missing command; expected: simulate")
  if (command !== "simulate") return invalid(`unknown command "${command}"; expected: simulate`)
  const flags: Record<string, string> = {}
  const set = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [
      arg,
      undefined
    ]
    if (switches.includes(flag) && inline === undefined) {
      set.add(flag)
    } else if (valued.includes(flag)) {
      const value = inline ?? args[++i]
      if (value === undefined || value === "") return invalid(`${flag} needs a value`)
      flags[flag] = value
    } else {
      return invalid(`unknown option "${arg}"; valid options: ${[...valued, ...switches].join(", ")}`)
    }
  }
  if (set.has("--json") && set.has("--markdown")) return invalid("--json and --markdown exclude each other")

  const scenarioName = flags["--scenario"]
  if (scenarioName === undefined) return invalid(`--scenario is required; expected one of: ${Scenario.names.join(", ")}`)
  const scenario = Scenario.get(scenarioName)
  if (Either.isLeft(scenario)) return invalid(scenario.left)

  const strategy = flags["--strategy"] ?? "all"
  if (strategy !== "all" && !Strategies.isStrategyName(strategy)) {
    return invalid(`Unknown strategy "${strategy}"; expected one of: ${Strategies.strategyNames.join(", ")}, all`)
  }

  const rateText = flags["--requests-per-minute"] ?? "6"
  const requestsPerMinute = Number(rateText)
  if (!/^\s*[0-9.eE+]+\s*$/.test(rateText) || !Number.isFinite(requestsPerMinute) || requestsPerMinute <= 0) {
    return invalid(`--requests-per-minute must be a positive number, got "${rateText}"`)
  }

  const seedText = flags["--seed"] ?? "1"
  const seed = Number(seedText)
  if (!/^-?[0-9]+$/.test(seedText) || !Number.isSafeInteger(seed)) {
    return invalid(`--seed must be an integer, got "${seedText}"`)
  }

  return {
    _tag: "Run",
    command: {
      scenario: scenario.right,
      strategies: strategy === "all" ? Strategies.strategyNames : [strategy],
      requestsPerMinute,
      seed,
      format: set.has("--json") ? "json" : set.has("--markdown") ? "markdown" : "table"
    }
  }
}

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
const secs = (x: number | null) => x === null ? "-" : `${x.toFixed(1)}s`

const headers = [
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
 * Renders rows as an aligned plain-text table, a Markdown table, or JSON.
 *
 * @since 0.1.0
 */
export const format = (
  rows: ReadonlyArray<Strategies.Row>,
  scenario: Scenario.Scenario,
  style: Command["format"]
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
 * Where `main` writes.
 *
 * @since 0.1.0
 */
export interface Output {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

const console_: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`)
}

/**
 * Runs the command line and returns the exit code: 0 on success, 2 for a
 * usage error (written to `err` with the valid values).
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>, output: Output = console_): number => {
  const parsed = parse(argv)
  switch (parsed._tag) {
    case "Help":
      output.out(usage)
      return 0
    case "Invalid":
      output.err(parsed.message)
      return 2
    case "Run": {
      const { command } = parsed
      const rows = command.strategies.map((strategy) =>
        Strategies.simulate({
          scenario: command.scenario,
          strategy,
          requestsPerMinute: command.requestsPerMinute,
          seed: command.seed
        })
      )
      if (command.format !== "json") {
        output.out(
          `scenario ${command.scenario.name} (${command.scenario.description}) — ` +
            `${command.requestsPerMinute} requests/min, seed ${command.seed}\n`
        )
      }
      output.out(format(rows, command.scenario, command.format))
      return 0
    }
  }
}

const isEntryPoint = (): boolean => {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2))
