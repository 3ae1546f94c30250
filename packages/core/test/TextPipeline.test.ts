import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Layer, Ref, TestClock } from "effect"
import { type GenerationError, Overloaded, Pipeline, PipelineConfig, TextGenerator, TextRequest } from "../src/index.js"

const request = TextRequest.make({ messages: [{ role: "user", content: "Describe a lighthouse at dusk." }] })

/** A text provider answering `reply(call)` after `latency` ms; it records calls and interruptions. */
const fakeText = (
  provider: string,
  model: string,
  latency: number,
  reply: (call: number) => Either.Either<string, GenerationError> = () => Either.right(`from ${model}`)
) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const interrupted = yield* Ref.make(0)
    const service = TextGenerator.make({
      provider,
      model,
      generate: () =>
        Ref.getAndUpdate(calls, (n) => n + 1).pipe(
          Effect.tap(() => Effect.sleep(Duration.millis(latency))),
          Effect.flatMap((call) => Either.match(reply(call), { onLeft: Effect.fail, onRight: Effect.succeed })),
          Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1))
        )
    })
    return { service, calls: Ref.get(calls), interrupted: Ref.get(interrupted) }
  })

const chain = {
  kind: "text",
  routes: {
    gpt: { provider: "openai", model: "gpt-5.2" },
    claude: { provider: "anthropic", model: "claude-sonnet-4-5" },
    llama: { provider: "groq", model: "llama-3.3-70b-versatile" }
  },
  plan: [{ route: "gpt" }, { route: "claude" }, { route: "llama" }],
  retry: { attempts: 2, initialDelay: "1 second" },
  routing: { canary: 0 },
  health: { enabled: false }
}

const overloaded = (model: string) => new Overloaded({ provider: "openai", model, message: "overloaded" })

describe("text pipelines (kind: text)", () => {
  it.effect("a text plan names text routes only, without describe entries or resolutions", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PipelineConfig.decode({
        kind: "text",
        routes: {
          gpt: { provider: "openai", model: "gpt-5.2" },
          images: { provider: "openai", model: "gpt-image-2" }
        },
        plan: [{ route: "gpt", resolutions: ["2K"] }, { route: "images" }, { describe: "gpt" }]
      }))
      expect(error.issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual(expect.arrayContaining([
        "plan[0].resolutions: a text plan's steps have no resolutions",
        "plan[1].route: model \"gpt-image-2\" of route \"images\" cannot generate text (image only)",
        "plan[2].describe: a text plan has no describe entry: its routes already answer in text"
      ]))
      expect((yield* PipelineConfig.decode(chain)).kind).toBe("text")
    }))

  it.scoped("Pipeline.make refuses a text configuration and Pipeline.makeText an image one", () =>
    Effect.gen(function*() {
      const text = yield* PipelineConfig.decode(chain)
      const image = yield* PipelineConfig.decode({
        routes: { pro: { provider: "google", model: "gemini-3-pro-image-preview" } },
        plan: [{ route: "pro" }]
      })
      expect((yield* Effect.flip(Pipeline.make(text, { image: {} }))).issues[0]!.path).toBe("kind")
      expect((yield* Effect.flip(Pipeline.makeText(image, { text: {} }))).issues[0]!.path).toBe("kind")
    }))

  it.scoped("falls back along the chain: an overloaded first model, then the next answers", () =>
    Effect.gen(function*() {
      const gpt = yield* fakeText("openai", "gpt-5.2", 100, () => Either.left(overloaded("gpt-5.2")))
      const claude = yield* fakeText("anthropic", "claude-sonnet-4-5", 200)
      const llama = yield* fakeText("groq", "llama-3.3-70b-versatile", 50)
      const config = yield* PipelineConfig.decode(chain)
      const pipeline = yield* Pipeline.makeText(config, {
        text: { gpt: gpt.service, claude: claude.service, llama: llama.service }
      })
      const fiber = yield* Effect.fork(pipeline.generate(request))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      // gpt twice (one retry after 1 s), then claude
      expect(result).toMatchObject({ text: "from claude-sonnet-4-5", route: "claude", model: "claude-sonnet-4-5", attempts: 3 })
      expect([yield* gpt.calls, yield* claude.calls, yield* llama.calls]).toStrictEqual([2, 1, 0])
    }))

  it.scoped("hedges by default: a slow first model is raced by the next after the delay, and interrupted", () =>
    Effect.gen(function*() {
      const gpt = yield* fakeText("openai", "gpt-5.2", 10_000)
      const claude = yield* fakeText("anthropic", "claude-sonnet-4-5", 500)
      const llama = yield* fakeText("groq", "llama-3.3-70b-versatile", 50)
      const config = yield* PipelineConfig.decode({ ...chain, hedge: { delay: "2 seconds" } })
      const pipeline = yield* Pipeline.makeText(config, {
        text: { gpt: gpt.service, claude: claude.service, llama: llama.service }
      })
      const fiber = yield* Effect.fork(pipeline.generate(request))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      expect(result.route).toBe("claude")
      expect(Duration.toMillis(result.latency)).toBe(2_500)
      expect(yield* gpt.interrupted).toBe(1)
      expect(yield* pipeline.hedges).toStrictEqual({ calls: 1, hedged: 1, hedgeWins: 1 })
    }))

  it.scoped("with hedge.enabled: false the same request waits for the slow model", () =>
    Effect.gen(function*() {
      const gpt = yield* fakeText("openai", "gpt-5.2", 10_000)
      const claude = yield* fakeText("anthropic", "claude-sonnet-4-5", 500)
      const llama = yield* fakeText("groq", "llama-3.3-70b-versatile", 50)
      const config = yield* PipelineConfig.decode({ ...chain, hedge: { enabled: false, delay: "2 seconds" } })
      const pipeline = yield* Pipeline.makeText(config, {
        text: { gpt: gpt.service, claude: claude.service, llama: llama.service }
      })
      const fiber = yield* Effect.fork(pipeline.generate(request))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      expect([result.route, Duration.toMillis(result.latency)]).toStrictEqual(["gpt", 10_000])
      expect(yield* claude.calls).toBe(0)
    }))
})

describe("Pipeline.layerText", () => {
  it.effect("provides the resilient TextGenerator from text provider Layers", () =>
    Effect.gen(function*() {
      const gpt = yield* fakeText("openai", "gpt-5.2", 10, () => Either.left(overloaded("gpt-5.2")))
      const claude = yield* fakeText("anthropic", "claude-sonnet-4-5", 10)
      const llama = yield* fakeText("groq", "llama-3.3-70b-versatile", 10)
      const config = yield* PipelineConfig.decode({ ...chain, retry: { attempts: 1 } })
      const live = Pipeline.layerText(config, {
        text: {
          gpt: Layer.succeed(TextGenerator, gpt.service),
          claude: Layer.succeed(TextGenerator, claude.service),
          llama: Layer.succeed(TextGenerator, llama.service)
        }
      })
      const fiber = yield* Effect.fork(Effect.provide(Effect.flatMap(TextGenerator, (text) => text.generate(request)), live))
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).route).toBe("claude")
    }))
})
