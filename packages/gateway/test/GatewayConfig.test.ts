import { describe, expect, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { GatewayConfig, VirtualKeys } from "../src/index.js"

const pro = "gemini-3-pro-image-preview"

const valid = () => ({
  keys: [{ name: "app", sha256: VirtualKeys.hash("secret") }],
  providers: {
    google: { kind: "google", apiKeyEnv: "GEMINI_API_KEY" },
    openai: { kind: "openai", apiKeyEnv: "OPENAI_API_KEY", timeout: "30 seconds" }
  },
  models: {
    [pro]: {
      aliases: ["image"],
      pipeline: {
        routes: { pro: { provider: "google", model: pro }, gpt: { provider: "openai", model: "gpt-image-2" } },
        plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "gpt" }]
      }
    }
  }
})

const issuesOf = (input: unknown) =>
  Effect.map(Effect.flip(GatewayConfig.decode(input)), (error) => error.issues.map((i) => `${i.path}: ${i.message}`))

describe("GatewayConfig", () => {
  it.effect("decodes a configuration with the server defaults", () =>
    Effect.gen(function*() {
      const config = yield* GatewayConfig.decode(valid())
      expect(config.server).toMatchObject({ host: "127.0.0.1", port: 8080, bodyLimit: 25 * 1024 * 1024 })
      expect(config.models[pro]?.aliases).toStrictEqual(["image"])
      expect(config.models[pro]?.pipeline.retry.attempts).toBe(5)
    }))

  it.effect("names the path of every schema problem", () =>
    Effect.gen(function*() {
      const input = valid() as any
      input.server = { port: "80" }
      input.keys = [{ name: "app", sha256: "abc" }]
      input.providers.google.kind = "gemini"
      const issues = yield* issuesOf(input)
      expect(issues.some((i) => i.startsWith("server.port: "))).toBe(true)
      expect(issues).toContain("keys[0].sha256: must be the 64 hex digits of the key's SHA-256")
      expect(issues.some((i) => i.startsWith("providers.google.kind: "))).toBe(true)
    }))

  it.effect("reports a pipeline's problems under models.<name>.pipeline", () =>
    Effect.gen(function*() {
      const input = valid() as any
      input.models[pro].pipeline.plan.push({ route: "nowhere" })
      const issues = yield* issuesOf(input)
      expect(issues.some((i) => i.startsWith(`models.${pro}.pipeline.plan[2].route: unknown route "nowhere"`))).toBe(true)
    }))

  it.effect("reads a batch section: one database, and a worker on the only image model unless one is named", () =>
    Effect.gen(function*() {
      const input = valid() as any
      input.batch = { db: "jobs.db", worker: {} }
      const config = yield* GatewayConfig.decode(input)
      expect(config.batch).toStrictEqual({ db: "jobs.db", worker: { concurrency: 4, ignoreWindow: false } })
      expect(GatewayConfig.batchModel(config)).toBe(pro)
      expect(GatewayConfig.batchModel(yield* GatewayConfig.decode(valid()))).toBeUndefined()

      input.batch = { db: "jobs.db", dbEnv: "BATCH_DB" }
      expect(yield* issuesOf(input)).toStrictEqual(["batch: give exactly one of db (a SQLite file or URL) and dbEnv"])
      input.batch = { db: "jobs.db", worker: { model: "nowhere" } }
      expect(yield* issuesOf(input)).toStrictEqual([`batch.worker.model: unknown model "nowhere" (image models: ${pro})`])
      input.models["gpt-5.2"] = {
        pipeline: { kind: "text", routes: { gpt: { provider: "openai", model: "gpt-5.2" } }, plan: [{ route: "gpt" }] }
      }
      input.batch = { db: "jobs.db", worker: { model: "gpt-5.2" } }
      expect(yield* issuesOf(input)).toStrictEqual([`batch.worker.model: "gpt-5.2" is a text model; batch jobs make images`])
    }))

  it.effect("refuses a route whose provider is not defined, or of the wrong wire", () =>
    Effect.gen(function*() {
      const input = valid() as any
      input.models[pro].pipeline.routes.pro.provider = "vertex"
      input.models[pro].pipeline.routes.gpt.provider = "google"
      const issues = yield* issuesOf(input)
      expect(issues).toContain(`models.${pro}.pipeline.routes.pro.provider: unknown provider "vertex" (known: google, openai)`)
      expect(issues.some((i) => i.startsWith(`models.${pro}.pipeline.routes.gpt.provider: model "gpt-image-2" is sized in pixels`)))
        .toBe(true)
    }))

  it.effect("decodes a text model; a google provider serves only Gemini text models", () =>
    Effect.gen(function*() {
      const input = valid() as any
      input.models["gpt-5.2"] = {
        pipeline: {
          kind: "text",
          routes: { gpt: { provider: "openai", model: "gpt-5.2" }, flash: { provider: "google", model: "gemini-2.5-flash" } },
          plan: [{ route: "gpt" }, { route: "flash" }]
        }
      }
      const config = yield* GatewayConfig.decode(input)
      expect(config.models["gpt-5.2"]?.pipeline.kind).toBe("text")
      input.models["gpt-5.2"].pipeline.routes.gpt.provider = "google"
      expect(yield* issuesOf(input)).toStrictEqual([
        `models.gpt-5.2.pipeline.routes.gpt.provider: model "gpt-5.2" is not a Gemini model; a google provider cannot serve it`
      ])
    }))

  it.effect("refuses no keys, duplicate keys and an alias that shadows a model", () =>
    Effect.gen(function*() {
      const noKeys = { ...valid(), keys: [] }
      expect((yield* issuesOf(noKeys))[0]).toMatch(/^keys: must list at least one key/)
      const twice = valid() as any
      twice.keys.push({ name: "app", sha256: VirtualKeys.hash("secret") })
      twice.models[pro].aliases = [pro]
      const issues = yield* issuesOf(twice)
      expect(issues).toContain(`keys[1].name: "app" is listed twice`)
      expect(issues).toContain("keys[1].sha256: the same key is listed twice")
      expect(issues).toContain(`models.${pro}.aliases[0]: "${pro}" is already used by models.${pro}`)
    }))

  it.effect("reads YAML and JSON files, and names the file in errors", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ballast-gateway-"))
      const json = path.join(dir, "gateway.json")
      fs.writeFileSync(json, JSON.stringify(valid()))
      const yaml = path.join(dir, "gateway.yaml")
      fs.writeFileSync(
        yaml,
        `keys:\n  - { name: app, sha256: ${VirtualKeys.hash("x")} }\nproviders: {}\nmodels:\n  m:\n    pipeline:\n      routes: { pro: { provider: google, model: ${pro} } }\n      plan: [{ route: pro }]\n`
      )
      expect(Object.keys((yield* GatewayConfig.fromFile(json)).models)).toStrictEqual([pro])
      const error = yield* Effect.flip(GatewayConfig.fromFile(yaml))
      expect(error.message).toContain(yaml)
      expect(error.issues.map((i) => i.path)).toStrictEqual(["models.m.pipeline.routes.pro.provider"])
      const missing = yield* Effect.either(GatewayConfig.fromFile(path.join(dir, "nope.yaml")))
      expect(Either.isLeft(missing) && missing.left.message).toContain("file not found")
      const broken = path.join(dir, "broken.yaml")
      fs.writeFileSync(broken, "keys: [\n")
      expect((yield* Effect.flip(GatewayConfig.fromFile(broken))).message).toContain("YAML syntax error")
    }).pipe(Effect.provide(NodeContext.layer)))
})
