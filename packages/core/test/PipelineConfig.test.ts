import { FileSystem } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import * as PipelineConfig from "../src/PipelineConfig.js"

const referenceYaml = readFileSync(new URL("../../../examples/ballast.yaml", import.meta.url), "utf8")

const minimal = {
  routes: { "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview" } },
  plan: [{ route: "gemini-pro" }]
}

const millis = (duration: Duration.Duration) => Duration.toMillis(duration)

// Everything that can go wrong, once each.
const broken = {
  routes: {
    "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview", region: "us-central1" },
    "gemini-flash": { provider: "google", model: "gemini-3.1-flash-image-preview" },
    flash25: { provider: "google", model: "gemini-2.5-flash-image" },
    x: { provider: "google", model: "gemini-2.5-flash-preview-04-17" },
    dalle: { provider: "openai", model: "dall-e-3" },
    acme: { provider: "acme", model: "acme-img" },
    gpt: { provider: "openai", model: "gpt-image-2" }
  },
  plan: [
    { route: "gemini-pro", resolutions: ["4K", "8K"] },
    { describe: "x" },
    { route: "gemni-flash" },
    { route: "x" },
    { route: "flash25", resolutions: ["2K", "1K"] },
    { route: "dalle" },
    { describe: "gpt" }
  ],
  retry: { attempts: 0, maxDelay: "soon" },
  retryBudget: { ratio: 1.5 },
  breaker: { window: "0 seconds", countedErrors: ["Overloaded", "BadRequest"] },
  deadline: -1
}

describe("PipelineConfig", () => {
  describe("decode", () => {
    it.effect("fills every default into a minimal configuration", () =>
      Effect.gen(function*() {
        const config = yield* PipelineConfig.decode(minimal)
        expect(config.plan).toEqual([{ _tag: "ImageStep", route: "gemini-pro" }])
        expect(config.routes["gemini-pro"]?.model).toBe("gemini-3-pro-image-preview")
        expect(config.retry.attempts).toBe(5)
        expect(millis(config.retry.initialDelay)).toBe(2_000)
        expect(millis(config.retry.maxDelay)).toBe(60_000)
        expect(config.retry.factor).toBe(2)
        expect(config.retry.jitter).toBe(true)
        expect(config.retryBudget.ratio).toBe(0.2)
        expect(config.retryBudget.minPerSecond).toBe(10)
        expect(config.retryBudget.capacity).toBeUndefined()
        expect(config.breaker.consecutiveFailures).toBe(5)
        expect(config.breaker.failureRatio).toBe(0.25)
        expect(millis(config.breaker.window)).toBe(60_000)
        expect(config.breaker.minimumCalls).toBe(10)
        expect(millis(config.breaker.openDuration)).toBe(30_000)
        expect(millis(config.breaker.maxOpenDuration)).toBe(60_000)
        expect(config.breaker.countedErrors).toEqual([
          "Overloaded",
          "RateLimited",
          "Timeout",
          "ProviderUnavailable",
          "Unauthorized"
        ])
        expect(millis(config.deadline)).toBe(180_000)
      }))

    it.effect("keeps what is given and defaults the rest of a section", () =>
      Effect.gen(function*() {
        const config = yield* PipelineConfig.decode({
          ...minimal,
          retry: { attempts: 3, initialDelay: 250 },
          breaker: { window: "1 minute", countedErrors: ["Overloaded"] },
          deadline: "90 seconds"
        })
        expect(config.retry.attempts).toBe(3)
        expect(millis(config.retry.initialDelay)).toBe(250)
        expect(millis(config.retry.maxDelay)).toBe(60_000)
        expect(millis(config.breaker.window)).toBe(60_000)
        expect(config.breaker.countedErrors).toEqual(["Overloaded"])
        expect(config.breaker.consecutiveFailures).toBe(5)
        expect(millis(config.deadline)).toBe(90_000)
      }))

    it.effect("accepts durations as milliseconds or strings", () =>
      Effect.gen(function*() {
        for (const [input, expected] of [[1500, 1500], ["500 millis", 500], ["1 minute", 60_000], ["2.5 seconds", 2500]] as const) {
          const config = yield* PipelineConfig.decode({ ...minimal, deadline: input })
          expect(millis(config.deadline)).toBe(expected)
        }
        for (const input of [-5, "-2 seconds", "2 secs", "forever", Number.POSITIVE_INFINITY, true]) {
          const error = yield* Effect.flip(PipelineConfig.decode({ ...minimal, deadline: input }))
          expect(error.issues.map((issue) => issue.path)).toEqual(["deadline"])
        }
      }))

    it.effect("decodes describe entries and routes with declared capabilities", () =>
      Effect.gen(function*() {
        const config = yield* PipelineConfig.decode({
          routes: {
            custom: {
              provider: "acme",
              model: "acme-img",
              capabilities: { modalities: ["image"], resolutions: ["1K"], aspectRatios: ["1:1"] }
            },
            // A declared capability overrides the table, e.g. for a test server emulating a retired model.
            emulated: {
              provider: "fake",
              model: "dall-e-3",
              capabilities: { modalities: ["image"], resolutions: ["1K"], aspectRatios: ["1:1"] }
            },
            claude: { provider: "anthropic", model: "claude-sonnet-4-5" }
          },
          plan: [{ route: "custom", resolutions: ["1K"] }, { route: "emulated" }, { describe: "claude" }]
        })
        expect(config.plan).toEqual([
          { _tag: "ImageStep", route: "custom", resolutions: ["1K"] },
          { _tag: "ImageStep", route: "emulated" },
          { _tag: "Describe", describe: "claude" }
        ])
        const custom = PipelineConfig.capabilitiesOf(config, "custom")
        expect(custom.model).toBe("acme-img")
        expect(custom.provider).toBe("acme")
        expect(custom.sizing).toEqual({ kind: "named" })
        expect(PipelineConfig.capabilitiesOf(config, "emulated").retired).toBeUndefined()
        expect(PipelineConfig.capabilitiesOf(config, "claude").modalities).toEqual(["text"])
        expect(() => PipelineConfig.capabilitiesOf(config, "nope")).toThrow(/unknown route "nope"/)
      }))

    it.effect("reports every problem, each at its path", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.decode(broken))
        expect(error._tag).toBe("ConfigError")
        const expected: ReadonlyArray<readonly [string, string]> = [
          ["plan[0].resolutions[1]", `Expected "1K" | "2K" | "4K", actual "8K"`],
          ["retry.attempts", "Expected a number greater than or equal to 1, actual 0"],
          ["retry.maxDelay", "Expected a duration"],
          ["retryBudget.ratio", "Expected a number less than or equal to 1, actual 1.5"],
          ["breaker.window", "must be longer than zero"],
          ["breaker.countedErrors[1]", "BadRequest cannot be counted by a breaker"],
          ["deadline", "Expected a duration"],
          ["routes.dalle.model", `model "dall-e-3" retired on 2026-05-12, use gpt-image-2`],
          ["routes.acme.model", `unknown model "acme-img"`],
          ["plan[1].describe", "a describe entry must be the last of the plan"],
          [
            "plan[2].route",
            `unknown route "gemni-flash" (known: gemini-pro, gemini-flash, flash25, x, dalle, acme, gpt)`
          ],
          [
            "plan[3].route",
            `model "gemini-2.5-flash-preview-04-17" of route "x" cannot generate images (text only)`
          ],
          ["plan[4].resolutions[0]", `model "gemini-2.5-flash-image" of route "flash25" cannot make 2K images (it makes 1K)`],
          ["plan[6].describe", `model "gpt-image-2" of route "gpt" cannot generate text (image only)`]
        ]
        for (const [path, message] of expected) {
          expect(error.issues).toContainEqual({ path, message: expect.stringContaining(message) })
          expect(error.message).toContain(`${path}: ${message}`)
        }
        expect(error.issues).toHaveLength(expected.length)
        expect(error.message).toMatch(/^Invalid pipeline configuration \(14 problems\):\n/)
        // A step on a retired or unknown model is not judged again: the route's problem says it all.
        expect(error.issues.map((issue) => issue.path)).not.toContain("plan[5].route")
      }))

    it.effect("checks the routing, health, hedge, peak and adaptive sections, naming each problem", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.decode({
          routes: {
            pro: { provider: "google", model: "gemini-3-pro-image-preview", limits: { requestsPerMinute: 0 } },
            flash: { provider: "google", model: "gemini-3.1-flash-image-preview" },
            writer: { provider: "openai", model: "gpt-5.2" }
          },
          plan: [{ route: "pro" }, { route: "flash" }, { describe: "writer" }],
          routing: {
            canary: 2,
            demoteBelow: 0.8,
            restoreAt: 0.5,
            weights: { pro: 1, writer: 1, nowhere: 2 },
            classes: { photo: { keywords: [], routes: ["flash", "writer"] } }
          },
          health: { interval: "30 seconds", maxInterval: "15 seconds" },
          hedge: { delay: "soon" },
          peak: { schedule: { timeZone: "Mars/Olympus", windows: ["09:00-11:00", "9-11"] } },
          adaptive: { stepDownBelow: 0.9, stepUpAt: 0.5 }
        }))
        const paths = error.issues.map((issue) => issue.path)
        expect(paths).toEqual(expect.arrayContaining([
          "routes.pro.limits.requestsPerMinute",
          "routing.canary",
          "routing.weights.writer",
          "routing.weights.nowhere",
          "routing.classes.photo.keywords",
          "routing.classes.photo.routes[1]",
          "health.maxInterval",
          "hedge.delay",
          "peak.schedule.windows[1].start",
          "adaptive.stepUpAt"
        ]))
        const message = (path: string) => error.issues.find((issue) => issue.path === path)?.message
        expect(message("routing.weights.nowhere")).toContain('"nowhere" is not a route of the plan\'s steps')
        expect(message("health.maxInterval")).toContain("must not be shorter than interval")
        expect(paths).not.toContain("routing.weights.pro")
        expect(paths).not.toContain("routing.classes.photo.routes[0]")
      }))

    it.effect("names unknown keys, wrong types and missing fields", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.decode({
          routes: { a: { provider: "google" }, b: 3, c: { provider: "google", model: "gpt-image-2", modle: "x" } },
          plan: [{ route: "a", describe: "b" }, {}, { route: "c", resolutions: [] }],
          retry: 5,
          retries: { attempts: 2 },
          breaker: { openDuration: "90 seconds" }
        }))
        const issues = error.issues.map((issue) => `${issue.path}: ${issue.message}`)
        expect(issues).toEqual(expect.arrayContaining([
          "retries: is unexpected, expected: \"kind\" | \"routes\" | \"plan\" | \"retry\" | \"retryBudget\" | \"breaker\" | \"deadline\" | \"reserveShare\" | \"routing\" | \"health\" | \"hedge\" | \"peak\" | \"adaptive\"",
          "routes.a.model: is missing",
          "routes.b: Expected a route { provider, model, region?, capabilities?, limits? }, actual 3",
          expect.stringMatching(/^routes\.c\.modle: is unexpected/),
          "plan[0].describe: an entry is an image step (route) or the text fallback (describe), not both",
          "plan[1]: needs route (an image step) or describe (the text fallback)",
          "plan[2].resolutions: must list at least one resolution, or be left out",
          "retry: Expected a mapping, actual 5",
          "breaker.maxOpenDuration: must not be shorter than openDuration (1m 30s)"
        ]))
      }))

    it.effect("checks the capabilities a route declares", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.decode({
          routes: {
            a: { provider: "acme", model: "a", capabilities: { modalities: ["image"] } },
            b: { provider: "acme", model: "b", capabilities: { modalities: ["text"], aspectRatios: ["1:1"] } },
            c: { provider: "acme", model: "c", capabilities: { modalities: [] } }
          },
          plan: [{ route: "a" }]
        }))
        expect(error.issues).toEqual([
          { path: "routes.a.capabilities.resolutions", message: "an image model needs at least one resolution" },
          { path: "routes.b.capabilities.modalities", message: "a text-only model has no resolutions or aspect ratios" },
          { path: "routes.c.capabilities.modalities", message: "must list at least one modality" }
        ])
      }))

    it.effect("refuses an empty plan, a plan of only a description and a document that is not a mapping", () =>
      Effect.gen(function*() {
        const empty = yield* Effect.flip(PipelineConfig.decode({ routes: minimal.routes, plan: [] }))
        expect(empty.message).toBe("Invalid pipeline configuration: plan: must list at least one entry")
        const onlyText = yield* Effect.flip(PipelineConfig.decode({
          routes: { claude: { provider: "anthropic", model: "claude-sonnet-4-5" } },
          plan: [{ describe: "claude" }]
        }))
        expect(onlyText.issues).toEqual([
          { path: "plan", message: "needs at least one image step (route) before the describe entry" }
        ])
        const nothing = yield* Effect.flip(PipelineConfig.decode(null))
        expect(nothing.message).toBe("Invalid pipeline configuration: Expected a mapping with routes and plan, actual null")
      }))

    it.effect("encodes back to plain data that decodes to the same configuration", () =>
      Effect.gen(function*() {
        const config = yield* PipelineConfig.parse(referenceYaml, "yaml")
        const encoded = Schema.encodeSync(PipelineConfig.PipelineConfig)(config)
        expect(encoded.deadline).toBe(180_000)
        expect(encoded.plan[0]).toEqual({ route: "gemini-pro", resolutions: ["4K", "2K"] })
        expect(yield* PipelineConfig.decode(JSON.parse(JSON.stringify(encoded)))).toEqual(config)
      }))
  })

  describe("parse", () => {
    it.effect("validates the reference examples/ballast.yaml, whose settings are the defaults", () =>
      Effect.gen(function*() {
        const config = yield* PipelineConfig.parse(referenceYaml, "yaml")
        expect(config.plan.map((entry) => entry._tag === "ImageStep" ? entry.route : `describe:${entry.describe}`)).toEqual([
          "gemini-pro",
          "gemini-flash",
          "gemini-flash-25",
          "gpt-image-2",
          "gpt-image-1-5",
          "flux",
          "stable-diffusion",
          "describe:claude"
        ])
        expect(config.plan[0]).toEqual({ _tag: "ImageStep", route: "gemini-pro", resolutions: ["4K", "2K"] })
        expect(PipelineConfig.capabilitiesOf(config, "gemini-flash-25").resolutions).toEqual(["1K"])
        const defaults = yield* PipelineConfig.decode({ routes: config.routes, plan: config.plan.map((entry) =>
          entry._tag === "ImageStep" ? { route: entry.route } : { describe: entry.describe }) })
        expect(config.retry).toEqual(defaults.retry)
        expect(config.retryBudget).toEqual(defaults.retryBudget)
        expect(config.breaker).toEqual(defaults.breaker)
        expect(config.deadline).toEqual(defaults.deadline)
        expect(config.routing).toEqual(defaults.routing)
        expect(config.health).toEqual(defaults.health)
        expect(config.hedge).toEqual(defaults.hedge)
        expect(config.peak).toEqual(defaults.peak)
        expect(config.adaptive).toEqual(defaults.adaptive)
      }))

    it.effect("gives equal configurations from JSON and YAML", () =>
      Effect.gen(function*() {
        const json = JSON.stringify({
          routes: {
            pro: { provider: "google", model: "gemini-3-pro-image-preview", region: "us-central1" },
            gpt: { provider: "openai", model: "gpt-image-2" },
            text: { provider: "openai", model: "gpt-4.1" }
          },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "gpt" }, { describe: "text" }],
          retry: { attempts: 3, initialDelay: "500 millis" },
          breaker: { countedErrors: ["Overloaded", "Timeout"] },
          deadline: 30000
        }, null, 2)
        const yaml = `
routes:
  pro: { provider: google, model: gemini-3-pro-image-preview, region: us-central1 }
  gpt:
    provider: openai
    model: gpt-image-2
  text: { provider: openai, model: gpt-4.1 }
plan:
  - route: pro
    resolutions: [4K, 2K]
  - route: gpt
  - describe: text
retry: { attempts: 3, initialDelay: 500 millis }
breaker:
  countedErrors: [Overloaded, Timeout]
deadline: 30000
`
        const fromJson = yield* PipelineConfig.parse(json, "json")
        const fromYaml = yield* PipelineConfig.parse(yaml, "yaml")
        expect(fromYaml).toEqual(fromJson)
        expect(millis(fromYaml.retry.initialDelay)).toBe(500)
      }))

    it.effect("reports a YAML syntax error with its line and column", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.parse("routes:\n  a: { provider: google\nplan: []\n", "yaml"))
        expect(error.issues.length).toBeGreaterThan(0)
        expect(error.message).toMatch(/YAML syntax error at line \d+, column \d+: /)
        const duplicate = yield* Effect.flip(PipelineConfig.parse("routes: {}\nplan: []\nroutes: {}\n", "yaml"))
        expect(duplicate.message).toContain("YAML syntax error at line 3, column 1: Map keys must be unique")
      }))

    it.effect("reports a JSON syntax error", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.parse(`{\n  "routes": {},\n  "plan": [}`, "json"))
        expect(error.message).toMatch(/^Invalid pipeline configuration: JSON syntax error/)
      }))

    it.effect("reports an empty YAML document as not a mapping", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(PipelineConfig.parse("# nothing yet\n", "yaml"))
        expect(error.message).toContain("Expected a mapping with routes and plan, actual null")
      }))
  })

  describe("fromFile", () => {
    const files: Record<string, string> = {
      "/etc/ballast.yaml": referenceYaml,
      "/etc/ballast.json": JSON.stringify(minimal),
      "/etc/broken.yml": "routes: {}\nplan: [{ route: missing }]\n"
    }
    const fileSystem = FileSystem.layerNoop({
      readFileString: (path) =>
        path in files
          ? Effect.succeed(files[path] ?? "")
          : Effect.fail(
            new SystemError({ reason: "NotFound", module: "FileSystem", method: "readFileString", pathOrDescriptor: path })
          )
    })

    it.effect("reads YAML and JSON by extension", () =>
      Effect.gen(function*() {
        const yaml = yield* PipelineConfig.fromFile("/etc/ballast.yaml")
        expect(yaml.plan).toHaveLength(8)
        const json = yield* PipelineConfig.fromFile("/etc/ballast.json")
        expect(json).toEqual(yield* PipelineConfig.decode(minimal))
      }).pipe(Effect.provide(fileSystem)))

    it.effect("names the file when it is missing, of an unknown format or invalid", () =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(PipelineConfig.fromFile("/etc/nope.yaml"))
        expect(missing.message).toBe("Cannot read pipeline configuration /etc/nope.yaml: file not found")
        const unknown = yield* Effect.flip(PipelineConfig.fromFile("/etc/ballast.toml"))
        expect(unknown.message).toContain("/etc/ballast.toml")
        expect(unknown.message).toContain(".json, .yaml or .yml")
        const invalid = yield* Effect.flip(PipelineConfig.fromFile("/etc/broken.yml"))
        expect(invalid.message).toBe(
          `Invalid pipeline configuration in /etc/broken.yml: plan[0].route: unknown route "missing" (no routes are defined)`
        )
      }).pipe(Effect.provide(fileSystem)))
  })
})
