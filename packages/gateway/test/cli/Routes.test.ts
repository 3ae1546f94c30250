import { FaultServer, Simulation } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Routes from "../../src/cli/Routes.js"
import { run } from "./capture.js"
import { gatewayFile, googleKey, gptImage, openaiKey, pro, withKeys } from "./gatewayFiles.js"
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

  it.effect("--config with a pipeline configuration lists its routes from the file, not probed", () =>
    Effect.gen(function*() {
      const path = write(dir, "pipeline.json", JSON.stringify(Simulation.referenceConfig))
      const { code, out } = yield* run(["routes", "--config", path])
      expect(code).toBe(0)
      expect(out).toContain("gemini-3-pro-image-preview")
      expect(out).toMatch(/not probed: a pipeline configuration names no providers or keys/)
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

  // Live: real provider clients probing the fault server on 127.0.0.1.
  it.live("--config with a gateway configuration builds every model and probes each route once", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(gptImage, ["server-error"])
      const { code, err, out } = yield* run(["routes", "--config", gatewayFile(dir, server, { extra: true })]).pipe(withKeys())
      expect(err).toBe("")
      expect(code).toBe(0)
      const blocks = out.split(/\n\n(?=model )/)
      expect(blocks.map((block) => block.split("\n")[0])).toEqual([
        `model ${pro} (aliases image) · image · health probes off in the configuration (probed once for this listing)`,
        "model gpt-image · image",
        "model gpt-5.2 (aliases chat) · text · health probes off in the configuration (probed once for this listing)"
      ])
      const first = blocks[0]!.split("\n")
      expect(first[1]).toBe("plan gemini-pro → gpt-image")
      expect(first[3]!.split(/\s{2,}/)).toEqual(Routes.headers)
      expect(first[4]).toMatch(new RegExp(`^gemini-pro\\s+google\\s+${pro}\\s+-\\s+\\S+\\s+closed\\s+healthy, probe ok in \\d+ ms$`))
      expect(first[5]).toMatch(/^gpt-image\s+openai\s+gpt-image-2\s+-\s+\S+\s+closed\s+degraded, probe failed in \d+ ms$/)
      expect(blocks[2]).toMatch(/\ngpt\s+openai\s+gpt-5\.2\s+-\s+text\s+closed\s+healthy, probe ok in \d+ ms/)
      // one model lookup (GET) per route, with the keys from the environment, and no generation
      const requests = yield* server.requests
      expect(requests.every((r) => r.method === "GET")).toBe(true)
      expect(requests.map((r) => r.model).sort()).toEqual([pro, gptImage, gptImage, "gpt-5.2"].sort())
      expect(requests.find((r) => r.model === pro)!.headers["x-goog-api-key"]).toBe(googleKey)
      expect(out).not.toContain(openaiKey)
    }).pipe(Effect.scoped), 30_000)

  it.live("--model lists one model (by alias); a missing key exits 1 naming its variable", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const path = gatewayFile(dir, server, { name: "one.json", extra: true, health: true })
      const one = yield* run(["routes", "--config", path, "--model", "image"]).pipe(withKeys())
      expect(one.code).toBe(0)
      expect(one.out.split("\n")[0]).toBe(`model ${pro} (aliases image) · image`)
      expect(one.out).not.toContain("gpt-5.2")
      // health on in this configuration: its first probe is the one shown, not followed by another
      expect((yield* server.requests).map((r) => `${r.method} ${r.model}`).sort()).toEqual([`GET ${pro}`, `GET ${gptImage}`])

      const unknown = yield* run(["routes", "--config", path, "--model", "nope"]).pipe(withKeys())
      expect(unknown.code).toBe(2)
      expect(unknown.err).toContain(`no model "nope"`)

      const missing = yield* run(["routes", "--config", path]).pipe(withKeys({ TEST_OPENAI_KEY: openaiKey }))
      expect(missing.code).toBe(1)
      expect(missing.err).toContain("TEST_GOOGLE_KEY")
      expect(missing.err).not.toContain(openaiKey)
    }).pipe(Effect.scoped), 30_000)
})
