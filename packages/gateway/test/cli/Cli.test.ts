import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as Cli from "../../src/cli/Cli.js"
import { run } from "./capture.js"

describe("ballast", () => {
  it.effect("--help lists every command, exit code 0", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run(["--help"])
      expect(code).toBe(0)
      for (const name of Cli.commandNames) expect(out).toContain(name)
    }))

  it.effect("an unknown or missing command exits 2 and names the commands", () =>
    Effect.gen(function*() {
      for (const argv of [["frobnicate"], []]) {
        const { code, err, out } = yield* run(argv)
        expect(code).toBe(2)
        expect(out).toBe("")
        for (const name of Cli.commandNames) expect(err).toContain(name)
      }
    }))

  it("runs as `pnpm ballast` from the repository root, exit code 2 and one message for a bad scenario", async () => {
    const root = fileURLToPath(new URL("../../../..", import.meta.url))
    const error = await promisify(execFile)("pnpm", ["-s", "ballast", "simulate", "--scenario", "nope"], { cwd: root })
      .then(() => undefined, (e: { code: number; stdout: string; stderr: string }) => e)
    expect(error?.code).toBe(2)
    expect(error?.stdout).toBe("")
    expect(error?.stderr.trim()).toBe(
      "Unknown scenario \"nope\"; expected one of: steady, peak-day, outage-2h, feb-19, rate-limited, total-outage"
    )
  }, 30_000)
})
