import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { capture, run } from "./capture.js"
import { tempDir, write } from "./tempFiles.js"

const dir = tempDir()

describe("ballast serve", () => {
  // Live: a real HTTP server on a free port, stopped by interrupting the command.
  it.live("--demo serves the demo gateway until interrupted and prints how to reach it", () =>
    Effect.gen(function*() {
      const serve = capture(["serve", "--demo", "--port", "0"])
      const fiber = yield* Effect.fork(serve.effect)
      const url = yield* Effect.suspend(() => {
        const match = /^ballast gateway listening on (\S+)$/m.exec(serve.out.join("\n"))
        return match === null ? Effect.fail("not listening yet") : Effect.succeed(match[1]!)
      }).pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds"))))
      const health = yield* Effect.promise(() => fetch(`${url}/health`))
      expect(health.status).toBe(200)
      const printed = serve.out.join("\n")
      expect(printed).toContain("models: gemini-3-pro-image-preview")
      expect(printed).toContain(`baseURL: "${url}/v1", apiKey: "ballast-demo"`)
      yield* Fiber.interrupt(fiber)
    }), 30_000)

  it.effect("bad usage exits 2: no --demo or --config, both, a bad port, scenario or log format", () =>
    Effect.gen(function*() {
      for (
        const argv of [
          ["serve"],
          ["serve", "--demo", "--config", "gateway.yaml"],
          ["serve", "--demo", "--port", "http"],
          ["serve", "--demo", "--port", "70000"],
          ["serve", "--demo", "--scenario", "nope"],
          ["serve", "--demo", "--log-format", "xml"]
        ]
      ) {
        const { code, err } = yield* run(argv)
        expect(code, argv.join(" ")).toBe(2)
        expect(err).not.toBe("")
      }
    }))

  it.effect("an invalid gateway configuration exits 1 with every problem", () =>
    Effect.gen(function*() {
      const { code, err } = yield* run(["serve", "--config", write(dir, "gateway.yaml", "models: {}\n")])
      expect(code).toBe(1)
      expect(err).toContain("Invalid gateway configuration")
      expect(err).toContain("keys")
    }))
})
