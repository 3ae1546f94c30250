/**
 * A failover in a few lines: two fake providers behind one resilient
 * `ImageGenerator`. The primary answers `503 The model is overloaded`; Ballast
 * retries it, opens its breaker, and answers from the fallback instead.
 *
 *   pnpm --filter @ballast/examples run failover
 */
import { ImageGenerator, ImageRequest, Pipeline, PipelineConfig } from "@ballast/core"
import { Answer, FakeProvider } from "@ballast/testing"
import { Console, Duration, Effect, Layer } from "effect"

// Two providers: Gemini 3 Pro Image, overloaded, and Gemini 3.1 Flash Image, healthy.
const geminiPro = Layer.effect(
  ImageGenerator,
  Effect.map(
    FakeProvider.scripted({ provider: "google", model: "gemini-3-pro-image-preview", answers: [Answer.overloaded()] }),
    (fake) => fake.service
  )
)
const geminiFlash = Layer.effect(
  ImageGenerator,
  Effect.map(
    FakeProvider.scripted({
      provider: "google",
      model: "gemini-3.1-flash-image-preview",
      answers: [Answer.ok({ latency: "50 millis" })]
    }),
    (fake) => fake.service
  )
)

// The plan: Pro at 4K, then Pro at 2K, then Flash. Short delays so the example runs in a second.
const config = PipelineConfig.decode({
  routes: {
    "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview" },
    "gemini-flash": { provider: "google", model: "gemini-3.1-flash-image-preview" }
  },
  plan: [{ route: "gemini-pro", resolutions: ["4K", "2K"] }, { route: "gemini-flash" }],
  retry: { attempts: 3, initialDelay: "20 millis", maxDelay: "100 millis" },
  breaker: { consecutiveFailures: 3 },
  deadline: "10 seconds"
})

const ImagesLive = Layer.unwrapEffect(
  Effect.map(config, (config) =>
    Pipeline.layer(config, { image: { "gemini-pro": geminiPro, "gemini-flash": geminiFlash } }))
)

const program = Effect.gen(function*() {
  const images = yield* ImageGenerator
  for (const n of [1, 2, 3]) {
    const result = yield* images.generate(
      ImageRequest.make({ prompt: `a lighthouse at dusk, take ${n}`, resolution: "4K", aspectRatio: "16:9" })
    )
    yield* Console.log(
      `request ${n}: ${result.route} (${result.model}) answered at ${result.resolution}` +
        ` after ${result.attempts} provider call(s) in ${Duration.format(result.latency)}` +
        `${result.degraded ? ", degraded" : ""}; ${result.images.length} image(s), ${result.images[0]?.mimeType}`
    )
  }
  const pipeline = yield* Pipeline.Pipeline
  const breaker = pipeline.breakers.get("gemini-pro")!
  yield* Console.log(`gemini-pro breaker is now ${(yield* breaker.state)._tag}`)
})

Effect.runPromise(program.pipe(Effect.provide(ImagesLive))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
