import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Ref, TestClock } from "effect"
import { Overloaded } from "../src/Errors.js"
import { GeneratedImage, ImageRequest } from "../src/Image.js"
import { ImageGenerator } from "../src/ImageGenerator.js"
import { TextRequest } from "../src/Text.js"
import { TextGenerator } from "../src/TextGenerator.js"

const image = new GeneratedImage({ data: new Uint8Array([1, 2, 3]), mimeType: "image/png" })
const identity = { provider: "google", model: "gemini-3-pro-image-preview" }
const request = ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "4K", aspectRatio: "16:9" })
const textRequest = TextRequest.make({ messages: [{ role: "user", content: "Describe a lighthouse." }] })

/** Runs `effect` in a fiber while `elapsed` of TestClock time passes, and returns its result. */
const afterElapsed = <A, E>(effect: Effect.Effect<A, E>, elapsed: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(elapsed)
    return yield* Fiber.join(fiber)
  })

describe("ImageGenerator.make", () => {
  it.effect("fills in the provenance: route provider/model, one attempt, not degraded, latency from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour") // latency is measured from the call, not from the epoch
      const generator = ImageGenerator.make({
        ...identity,
        generate: () => Effect.as(Effect.sleep("42 seconds"), { images: [image] })
      })
      expect(generator).toMatchObject({ ...identity, route: "google/gemini-3-pro-image-preview" })
      const result = yield* afterElapsed(generator.generate(request), "1 minute")
      expect(result).toMatchObject({
        images: [image],
        route: "google/gemini-3-pro-image-preview",
        provider: "google",
        model: "gemini-3-pro-image-preview",
        resolution: "4K",
        requestedResolution: "4K",
        aspectRatio: "16:9",
        degraded: false,
        attempts: 1
      })
      expect(result.description).toBeUndefined()
      expect(Duration.toMillis(result.latency)).toBe(42_000)
    }))

  it.effect("an instant provider has zero latency", () =>
    Effect.gen(function*() {
      const generator = ImageGenerator.make({ ...identity, generate: () => Effect.succeed({ images: [image] }) })
      expect(Duration.toMillis((yield* generator.generate(request)).latency)).toBe(0)
    }))

  it.effect("uses the given route name", () =>
    Effect.gen(function*() {
      const generator = ImageGenerator.make({
        ...identity,
        route: "gemini-pro",
        generate: () => Effect.succeed({ images: [image] })
      })
      expect(generator.route).toBe("gemini-pro")
      expect((yield* generator.generate(request)).route).toBe("gemini-pro")
    }))

  it.effect("reports what the provider delivered when it differs from the request, degraded only when less", () =>
    Effect.gen(function*() {
      const delivering = (output: Omit<ImageGenerator.Output, "images">) =>
        ImageGenerator.make({ ...identity, generate: () => Effect.succeed({ images: [image], ...output }) })
      const lower = yield* delivering({ resolution: "2K" }).generate(request)
      expect(lower).toMatchObject({ resolution: "2K", requestedResolution: "4K", aspectRatio: "16:9", degraded: true })
      const otherRatio = yield* delivering({ aspectRatio: "3:2" }).generate(request)
      expect(otherRatio).toMatchObject({ resolution: "4K", aspectRatio: "3:2", degraded: true })
      // a model that only makes larger images delivers more than asked: not degraded
      const small = ImageRequest.make({ prompt: "an icon", resolution: "1K" })
      const larger = yield* delivering({ resolution: "2K" }).generate(small)
      expect(larger).toMatchObject({ resolution: "2K", requestedResolution: "1K", degraded: false })
    }))

  it.effect("passes the request through and the provider's error through unchanged", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<ImageRequest>>([])
      const overloaded = new Overloaded({ ...identity, message: "The model is overloaded" })
      const generator = ImageGenerator.make({
        ...identity,
        generate: (r) => Effect.zipRight(Ref.update(seen, (all) => [...all, r]), Effect.fail(overloaded))
      })
      expect(yield* Effect.either(generator.generate(request))).toStrictEqual(Either.left(overloaded))
      expect(yield* Ref.get(seen)).toStrictEqual([request])
    }))

  it.effect("ImageGenerator.layer provides the tag", () =>
    Effect.gen(function*() {
      const generator = yield* ImageGenerator
      expect(generator.route).toBe("gemini-pro")
      const result = yield* generator.generate(request)
      expect(result).toMatchObject({ route: "gemini-pro", provider: "google", images: [image] })
    }).pipe(
      Effect.provide(ImageGenerator.layer({ ...identity, route: "gemini-pro", generate: () => Effect.succeed({ images: [image] }) }))
    ))
})

describe("TextGenerator.make", () => {
  const textIdentity = { provider: "openai", model: "gpt-5.2" }

  it.effect("fills in the provenance: route provider/model, one attempt, not degraded, latency from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const generator = TextGenerator.make({
        ...textIdentity,
        generate: (r) => Effect.as(Effect.sleep("2500 millis"), `echo: ${r.messages[0].content}`)
      })
      expect(generator).toMatchObject({ ...textIdentity, route: "openai/gpt-5.2" })
      const result = yield* afterElapsed(generator.generate(textRequest), "10 seconds")
      expect(result).toMatchObject({
        text: "echo: Describe a lighthouse.",
        route: "openai/gpt-5.2",
        provider: "openai",
        model: "gpt-5.2",
        degraded: false,
        attempts: 1
      })
      expect(Duration.toMillis(result.latency)).toBe(2_500)
    }))

  it.effect("uses the given route name and passes errors through", () =>
    Effect.gen(function*() {
      const overloaded = new Overloaded({ ...textIdentity, message: "busy" })
      const generator = TextGenerator.make({ ...textIdentity, route: "describe", generate: () => Effect.fail(overloaded) })
      expect(generator.route).toBe("describe")
      expect(yield* Effect.either(generator.generate(textRequest))).toStrictEqual(Either.left(overloaded))
    }))

  it.effect("TextGenerator.layer provides the tag", () =>
    Effect.gen(function*() {
      const generator = yield* TextGenerator
      expect((yield* generator.generate(textRequest))).toMatchObject({ text: "hello", route: "describe" })
    }).pipe(
      Effect.provide(TextGenerator.layer({ ...textIdentity, route: "describe", generate: () => Effect.succeed("hello") }))
    ))
})
