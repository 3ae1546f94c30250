import { Scenario, Strategies } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { run } from "./capture.js"

describe("ballast simulate: arguments", () => {
  it.effect("prints its help, with the strategies and columns, exit code 0", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run(["simulate", "--help"])
      expect(code).toBe(0)
      expect(out).toContain("--requests-per-minute")
      expect(out).toContain("time to fail over")
    }))

  const rejected: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<string>]> = [
    [["simulate", "--scenario", "nope"], Scenario.names],
    [["simulate", "--scenario", "steady", "--strategy", "yolo"], [...Strategies.strategyNames, "all"]],
    [["simulate", "--scenario", "steady", "--requests-per-minute", "fast"], ["positive number"]],
    [["simulate", "--scenario", "steady", "--requests-per-minute", "-3"], ["positive number"]],
    [["simulate", "--scenario", "steady", "--seed", "abc"], ["integer"]],
    [["simulate", "--scenario", "steady", "--colour"], ["--colour"]],
    [["simulate", "--scenario", "steady", "--json", "--markdown"], ["exclude each other"]],
    [["simulate"], ["--scenario"]]
  ]
  for (const [argv, valid] of rejected) {
    it.effect(`rejects ${argv.join(" ")} with exit code 2 and the valid values on stderr`, () =>
      Effect.gen(function*() {
        const { code, err, out } = yield* run(argv)
        expect(code).toBe(2)
        expect(out).toBe("")
        for (const value of valid) expect(err).toContain(value)
      }))
  }
})

describe("ballast simulate: output", () => {
  const argv = ["simulate", "--scenario", "total-outage", "--requests-per-minute", "1", "--seed", "5"]

  it.effect("prints one aligned row per strategy, the same for the same seed", () =>
    Effect.gen(function*() {
      const first = yield* run(argv)
      expect(first.code).toBe(0)
      expect(first.out).toMatch(/^scenario total-outage \(.*\) — 1 requests\/min, seed 5\n/)
      const lines = first.out.split("\n")
      const header = lines.findIndex((line) => line.startsWith("strategy"))
      const rows = lines.slice(header + 1)
      expect(rows.map((line) => line.split(/\s+/)[0])).toEqual(["none", "retry-only", "recipe", "ballast"])
      // right-aligned: every success rate ends where the "success" header does
      const successEnd = lines[header]!.indexOf("success") + "success".length - 1
      for (const row of rows) expect(row.indexOf("%")).toBe(successEnd)
      expect((yield* run(argv)).out).toBe(first.out)
    }))

  it.effect("prints JSON rows with --json and a Markdown table with --markdown", () =>
    Effect.gen(function*() {
      const json = yield* run([...argv, "--strategy", "none", "--json"])
      const rows = JSON.parse(json.out) as ReadonlyArray<Strategies.Row>
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ strategy: "none", scenario: "total-outage", requests: 60, timeToFailover: null })
      const markdown = (yield* run([...argv, "--strategy=none", "--markdown"])).out.split("\n")
        .filter((line) => line.startsWith("|"))
      expect(markdown[0]).toMatch(/^\| strategy \| success \|/)
      expect(markdown[1]).toMatch(/^\| --- \| ---: \|/)
      expect(markdown).toHaveLength(3)
    }))
})
