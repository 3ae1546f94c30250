import { Simulation } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { run } from "./capture.js"
import { tempDir, write } from "./tempFiles.js"

const dir = tempDir()

const validYaml = `
routes:
  pro: { provider: google, model: gemini-3-pro-image-preview }
  gpt: { provider: openai, model: gpt-image-2 }
  writer: { provider: openai, model: gpt-5.2 }
plan:
  - route: pro
    resolutions: [4K, 2K]
  - route: gpt
  - describe: writer
`

// Three problems in three places: an unknown model, a plan entry naming no route, a bad setting.
const invalidYaml = `
routes:
  pro: { provider: google, model: gemini-9-imaginary }
  gpt: { provider: openai, model: gpt-image-2 }
plan:
  - route: pro
  - route: nowhere
retry:
  attempts: 0
`

describe("ballast validate-config", () => {
  it.effect("prints the routes and the plan of a valid YAML configuration, exit code 0", () =>
    Effect.gen(function*() {
      const { code, err, out } = yield* run(["validate-config", write(dir, "valid.yaml", validYaml)])
      expect(err).toBe("")
      expect(code).toBe(0)
      expect(out).toBe("valid: 3 routes, plan pro@4K → pro@2K → gpt → writer (description)")
    }))

  it.effect("reads JSON too", () =>
    Effect.gen(function*() {
      const path = write(dir, "reference.json", JSON.stringify(Simulation.referenceConfig))
      const { code, out } = yield* run(["validate-config", path])
      expect(code).toBe(0)
      expect(out).toContain("valid: 5 routes, plan gemini-pro@4K → gemini-pro@2K → gemini-flash")
    }))

  it.effect("lists every problem with its path, exit code 1", () =>
    Effect.gen(function*() {
      const path = write(dir, "invalid.yaml", invalidYaml)
      const { code, err, out } = yield* run(["validate-config", path])
      expect(code).toBe(1)
      expect(out).toBe("")
      expect(err).toContain(path)
      expect(err).toContain("routes.pro.model: unknown model \"gemini-9-imaginary\"")
      expect(err).toContain("plan[1].route: unknown route \"nowhere\"")
      expect(err).toContain("retry.attempts")
    }))

  it.effect("names the line and column of a syntax error, and a missing file", () =>
    Effect.gen(function*() {
      const broken = yield* run(["validate-config", write(dir, "broken.json", "{\n  \"routes\": {,\n}")])
      expect(broken.code).toBe(1)
      expect(broken.err).toMatch(/JSON syntax error at line 2, column \d+/)
      const missing = yield* run(["validate-config", join(dir, "absent.yaml")])
      expect(missing.code).toBe(1)
      expect(missing.err).toContain("file not found")
    }))

  it.effect("checks a configuration with a top-level models key as a gateway configuration", () =>
    Effect.gen(function*() {
      const path = write(dir, "gateway.yaml", "models:\n  image: { pipeline: {} }\n")
      const { code, err } = yield* run(["validate-config", path])
      expect(code).toBe(1)
      expect(err).toContain("Invalid gateway configuration")
    }))

  it.effect("describes a valid gateway configuration, its batch queue included", () =>
    Effect.gen(function*() {
      const path = write(dir, "gateway-batch.yaml", `
keys: [{ name: app, sha256: "${"ab".repeat(32)}" }]
providers: { openai: { kind: openai, apiKeyEnv: OPENAI_API_KEY } }
models:
  gpt-image-2: { pipeline: { routes: { gpt: { provider: openai, model: gpt-image-2 } }, plan: [{ route: gpt }] } }
batch: { db: jobs.db, worker: { concurrency: 2, ignoreWindow: true } }
`)
      const { code, out } = yield* run(["validate-config", path])
      expect(code).toBe(0)
      expect(out).toBe([
        "valid: gateway configuration, 1 model, 1 virtual key",
        "  gpt-image-2: 1 route, plan gpt",
        "  batch queue: jobs.db, worked by the gateway on gpt-image-2 (concurrency 2, window ignored)"
      ].join("\n"))
    }))

  it.effect("exits 2 without a file", () =>
    Effect.gen(function*() {
      const { code, err } = yield* run(["validate-config"])
      expect(code).toBe(2)
      expect(err).toContain("<file>")
    }))
})
