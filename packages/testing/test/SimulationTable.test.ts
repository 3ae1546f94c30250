import { describe, expect, it } from "@effect/vitest"
import { Scenario, SimulationTable, Strategies } from "../src/index.js"

describe("SimulationTable", () => {
  const outage = Scenario.scenarios["total-outage"]
  const rows = Strategies.strategyNames.slice(0, 2).map((strategy) =>
    Strategies.simulate({ scenario: outage, strategy, requestsPerMinute: 1, seed: 5 })
  )

  it("prints an aligned table: a header, one row per strategy, numbers right-aligned", () => {
    const lines = SimulationTable.format(rows, outage, "table").split("\n")
    expect(lines[0]!.split(/\s{2,}/)).toEqual(SimulationTable.headers)
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(["none", "retry-only"])
    const successEnd = lines[0]!.indexOf("success") + "success".length - 1
    for (const row of lines.slice(1)) expect(row.indexOf("%")).toBe(successEnd)
  })

  it("prints a Markdown table and JSON", () => {
    const markdown = SimulationTable.format(rows, outage, "markdown").split("\n")
    expect(markdown[0]).toBe(`| ${SimulationTable.headers.join(" | ")} |`)
    expect(markdown[1]).toMatch(/^\| --- \| ---: \|/)
    expect(markdown).toHaveLength(4)
    expect(JSON.parse(SimulationTable.format(rows, outage, "json"))).toEqual(rows)
  })

  it("prints \"never\" for a strategy that never fails over, \"-\" without primary trouble", () => {
    const row = Strategies.simulate({ scenario: outage, strategy: "none", requestsPerMinute: 1 })
    expect(SimulationTable.format([row], outage, "table")).toContain("never")
    const steady = Strategies.simulate({ scenario: Scenario.scenarios.steady, strategy: "none", requestsPerMinute: 1 })
    expect(SimulationTable.format([steady], Scenario.scenarios.steady, "table")).not.toContain("never")
  })

  it("heads a table with the scenario, the rate and the seed", () => {
    expect(SimulationTable.heading(outage, 6, 1)).toBe(`scenario total-outage (${outage.description}) — 6 requests/min, seed 1\n`)
  })
})
