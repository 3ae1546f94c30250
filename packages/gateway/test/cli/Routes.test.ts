import { Simulation } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Routes from "../../src/cli/Routes.js"
import { run } from "./capture.js"
import { tempDir, write } from "./tempFiles.js"

const dir = tempDir()
const routeNames = Object.keys(Simulation.referenceConfig.routes)

describe("ballast routes", () => {
  // Live clock: the simulated probes answer after a few (scaled-down) milliseconds.
  it.live("--demo probes every route of the reference plan once and prints a row each", () =>
    Effect.gen(function*() {
      const { code, err, out } = yield* run(["routes", "--demo"])
      expect(err).toBe("")
      expect(code).toBe(0)
      const lines = out.split("\n")
      expect(lines[0]).toBe("plan gemini-pro@4K → gemini-pro@2K → gemini-flash → openai → flux → writer (description)")
      const header = lines.findIndex((line) => line.startsWith("route"))
      expect(lines[header]!.split(/\s{2,}/)).toEqual(Routes.headers)
      const rows = lines.slice(header + 1)
      expect(rows.map((line) => line.split(/\s+/)[0])).toEqual(routeNames)
      for (const row of rows) expect(row).toMatch(/closed\s+(healthy|degraded|down), probe (ok|failed)/)
      expect(rows.find((row) => row.startsWith("flux"))).toMatch(/flux-1\.1-pro\s+-\s+1K\s/)
      expect(rows.find((row) => row.startsWith("writer"))).toMatch(/gpt-5\.2\s+-\s+text\s/)
    }))

  it.effect("--config lists a configuration's routes from the file, not probed", () =>
    Effect.gen(function*() {
      const path = write(dir, "pipeline.json", JSON.stringify(Simulation.referenceConfig))
      const { code, out } = yield* run(["routes", "--config", path])
      expect(code).toBe(0)
      expect(out).toContain("gemini-3-pro-image-preview")
      expect(out).toMatch(/not probed: the CLI does not build real provider layers yet/)
    }))

  it.effect("exits 2 without --demo or --config, and 1 for an invalid configuration", () =>
    Effect.gen(function*() {
      const usage = yield* run(["routes"])
      expect(usage.code).toBe(2)
      expect(usage.err).toContain("--demo")
      const invalid = yield* run(["routes", "--demo", "--config", write(dir, "bad.yaml", "routes: {}\nplan: []\n")])
      expect(invalid.code).toBe(1)
      expect(invalid.err).toContain("plan: must list at least one entry")
    }))
})
