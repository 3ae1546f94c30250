import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { format, main, parse, usage } from "../src/bin/ballast.js"
import { Scenario, Strategies } from "../src/index.js"

/** Runs `main` in-process and captures what it writes. */
const run = (argv: ReadonlyArray<string>) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const code = main(argv, { out: (text) => out.push(text), err: (text) => err.push(text) })
  return { code, out: out.join("\n"), err: err.join("\n") }
}

describe("ballast simulate: arguments", () => {
  it("parses a full command line, with defaults", () => {
    const parsed = parse(["simulate", "--scenario", "feb-19", "--strategy", "recipe", "--requests-per-minute=12", "--seed", "9", "--json"])
    expect(parsed._tag).toBe("Run")
    if (parsed._tag !== "Run") return
    expect(parsed.command).toMatchObject({
      strategies: ["recipe"],
      requestsPerMinute: 12,
      seed: 9,
      format: "json"
    })
    expect(parsed.command.scenario.name).toBe("feb-19")
    const defaults = parse(["simulate", "--scenario", "steady"])
    expect(defaults._tag === "Run" && defaults.command).toMatchObject({
      strategies: Strategies.strategyNames,
      requestsPerMinute: 6,
      seed: 1,
      format: "table"
    })
  })

  it("prints usage for --help, exit code 0", () => {
    const { code, out } = run(["--help"])
    expect(code).toBe(0)
    expect(out).toBe(usage)
    expect(out).toContain("time to fail over")
  })

  it.each([
    [["simulate", "--scenario", "nope"], Scenario.names],
    [["simulate", "--scenario", "steady", "--strategy", "yolo"], Strategies.strategyNames],
    [["simulate", "--scenario", "steady", "--requests-per-minute", "fast"], ["positive number"]],
    [["simulate", "--scenario", "steady", "--requests-per-minute", "-3"], ["positive number"]],
    [["simulate", "--scenario", "steady", "--seed", "abc"], ["integer"]],
    [["simulate", "--scenario", "steady", "--colour"], ["--requests-per-minute", "--strategy"]],
    [["simulate", "--scenario"], ["needs a value"]],
    [["simulate"], Scenario.names],
    [["frobnicate"], ["simulate"]],
    [[], ["simulate"]]
  ])("rejects %j with exit code 2 and the valid values on stderr", (argv, valid) => {
    const { code, err, out } = run(argv)
    expect(code).toBe(2)
    expect(out).toBe("")
    for (const value of valid) expect(err).toContain(value)
  })
})

describe("ballast simulate: output", () => {
  const argv = ["simulate", "--scenario", "total-outage", "--requests-per-minute", "1", "--seed", "5"]

  it("prints one aligned row per strategy, the same for the same seed", () => {
    const first = run(argv)
    expect(first.code).toBe(0)
    const lines = first.out.split("\n")
    const header = lines.findIndex((line) => line.startsWith("strategy"))
    const rows = lines.slice(header + 1)
    expect(rows.map((line) => line.split(/\s+/)[0])).toEqual(["none", "retry-only", "recipe", "ballast"])
    // right-aligned: every success rate ends where the "success" header does
    const successEnd = lines[header]!.indexOf("success") + "success".length - 1
    for (const row of rows) expect(row.indexOf("%")).toBe(successEnd)
    expect(run(argv).out).toBe(first.out)
  })

  it("prints JSON rows with --json and a Markdown table with --markdown", () => {
    const json = run([...argv, "--strategy", "none", "--json"])
    const rows = JSON.parse(json.out) as ReadonlyArray<Strategies.Row>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ strategy: "none", scenario: "total-outage", requests: 60, timeToFailover: null })
    const markdown = run([...argv, "--strategy", "none", "--markdown"]).out.split("\n").filter((l) => l.startsWith("|"))
    expect(markdown[0]).toMatch(/^\| strategy \| success \|/)
    expect(markdown[1]).toMatch(/^\| --- \| ---: \|/)
    expect(markdown).toHaveLength(3)
  })

  it("prints \"never\" for a strategy that never fails over, \"-\" without primary trouble", () => {
    const row = Strategies.simulate({ scenario: Scenario.scenarios["total-outage"], strategy: "none", requestsPerMinute: 1 })
    expect(format([row], Scenario.scenarios["total-outage"], "table")).toContain("never")
    const steady = Strategies.simulate({ scenario: Scenario.scenarios.steady, strategy: "none", requestsPerMinute: 1 })
    expect(format([steady], Scenario.scenarios.steady, "table")).not.toContain("never")
  })
})

describe("ballast (the command, through tsx)", () => {
  it("exits 2 with a message on stderr for an unknown scenario", async () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url))
    const bin = fileURLToPath(new URL("../src/bin/ballast.ts", import.meta.url))
    const error = await promisify(execFile)("pnpm", ["exec", "tsx", bin, "simulate", "--scenario", "nope"], { cwd: root })
      .then(() => undefined, (e: { code: number; stderr: string }) => e)
    expect(error?.code).toBe(2)
    expect(error?.stderr).toContain("Unknown scenario \"nope\"; expected one of: steady, peak-day")
  }, 30_000)
})
