import { ChatMessage, ImageRequest, Overloaded, TextRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, TestClock } from "effect"
import { crc32, inflateSync } from "node:zlib"
import { Answer, FakeProvider } from "../src/index.js"

const request = ImageRequest.make({ prompt: "a watercolor fox" })
const textRequest = TextRequest.make({ messages: [ChatMessage.make({ role: "user", content: "Describe a fox." })] })
const model = "gemini-3-pro-image-preview"

const outcomeOf = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), Either.match({ onLeft: (e) => e._tag, onRight: () => "success" }))

describe("FakeProvider.scripted", () => {
  it.effect("gives the answers in order, then repeats the last", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scripted({
        provider: "google",
        model,
        answers: [Answer.overloaded(), Answer.rateLimited("5 seconds"), Answer.ok()]
      })
      const first = yield* Effect.flip(fake.service.generate(request))
      expect(first).toBeInstanceOf(Overloaded)
      expect(first.provider).toBe("google")
      expect(first.model).toBe(model)
      const second = yield* Effect.flip(fake.service.generate(request))
      expect(second._tag).toBe("RateLimited")
      expect(second._tag === "RateLimited" && second.retryAfter).toEqual(Option.some(Duration.seconds(5)))
      const rest = yield* Effect.all(Array.from({ length: 3 }, () => outcomeOf(fake.service.generate(request))))
      expect(rest).toEqual(["success", "success", "success"])
      expect(yield* fake.callCount).toBe(5)
      expect((yield* fake.calls).map((call) => call.outcome)).toEqual([
        "Overloaded",
        "RateLimited",
        "success",
        "success",
        "success"
      ])
    }))

  it.effect("cycles through the answers with after: cycle", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scripted({
        model,
        answers: [Answer.unavailable(), Answer.badRequest("route"), Answer.ok()],
        after: "cycle"
      })
      const outcomes = yield* Effect.all(Array.from({ length: 7 }, () => outcomeOf(fake.service.generate(request))))
      expect(outcomes).toEqual([
        "ProviderUnavailable",
        "BadRequest",
        "success",
        "ProviderUnavailable",
        "BadRequest",
        "success",
        "ProviderUnavailable"
      ])
      const error = yield* Effect.flip(fake.service.generate(request))
      expect(error._tag === "BadRequest" && error.scope).toBe("route")
      expect(error.provider).toBe("fake")
    }))

  it.effect("succeeds at once with no answers, and fails with a given error", () =>
    Effect.gen(function*() {
      const always = yield* FakeProvider.scripted({ model, answers: [] })
      expect(yield* outcomeOf(always.service.generate(request))).toBe("success")
      const given = new Overloaded({ provider: "elsewhere", model: "m", message: "busy" })
      const failing = yield* FakeProvider.scripted({ model, answers: [Answer.fail(given), Answer.timeout()] })
      expect(yield* Effect.flip(failing.service.generate(request))).toBe(given)
      expect((yield* Effect.flip(failing.service.generate(request)))._tag).toBe("Timeout")
    }))

  it.effect("answers with n tiny valid PNGs at the delivered resolution", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scripted({ model, route: "pro@2K", answers: [Answer.ok({ resolution: "2K" })] })
      const result = yield* fake.service.generate(ImageRequest.make({ prompt: "a fox", resolution: "4K", n: 3 }))
      expect(result.route).toBe("pro@2K")
      expect(result.resolution).toBe("2K")
      expect(result.requestedResolution).toBe("4K")
      expect(result.images).toHaveLength(3)
      const [image, other] = result.images
      expect(image?.mimeType).toBe("image/png")
      expect(image?.data).not.toBe(other?.data)
      const png = Buffer.from(image!.data)
      expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10])
      // walk the chunks: each CRC must match, IHDR says 1×1, IDAT inflates to one RGBA scanline
      const chunks: Array<string> = []
      for (let offset = 8; offset < png.length;) {
        const length = png.readUInt32BE(offset)
        const type = png.subarray(offset + 4, offset + 8).toString("latin1")
        const data = png.subarray(offset + 8, offset + 8 + length)
        expect(png.readUInt32BE(offset + 8 + length)).toBe(crc32(png.subarray(offset + 4, offset + 8 + length)))
        if (type === "IHDR") expect([data.readUInt32BE(0), data.readUInt32BE(4)]).toEqual([1, 1])
        if (type === "IDAT") expect(inflateSync(data)).toHaveLength(5)
        chunks.push(type)
        offset += 12 + length
      }
      expect(chunks).toEqual(["IHDR", "IDAT", "IEND"])
    }))

  it.effect("takes its latency on the Clock, and records when each call arrived", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scripted({
        model,
        answers: [Answer.ok({ latency: "30 seconds" }), Answer.overloaded({ latency: "2 seconds" })]
      })
      yield* TestClock.adjust("5 seconds")
      const slow = yield* Effect.fork(fake.service.generate(request))
      yield* TestClock.adjust("29 seconds")
      expect(Option.isNone(yield* Fiber.poll(slow))).toBe(true)
      expect(yield* fake.calls).toEqual([{ at: 5_000, request, outcome: "pending" }])
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(slow)
      expect(Duration.toMillis(result.latency)).toBe(30_000)

      const failing = yield* Effect.fork(Effect.flip(fake.service.generate(request)))
      yield* TestClock.adjust("1999 millis")
      expect(Option.isNone(yield* Fiber.poll(failing))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(failing))._tag).toBe("Overloaded")
      expect((yield* fake.calls).map(({ at, outcome }) => ({ at, outcome }))).toEqual([
        { at: 5_000, outcome: "success" },
        { at: 35_000, outcome: "Overloaded" }
      ])
    }))

  it.effect("records an interrupted call", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scripted({ model, answers: [Answer.ok({ latency: "60 seconds" })] })
      const fiber = yield* Effect.fork(fake.service.generate(request))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiber)
      expect(yield* fake.calls).toEqual([{ at: 0, request, outcome: "interrupted" }])
      expect(yield* fake.callCount).toBe(1)
    }))
})

describe("FakeProvider.fromClock", () => {
  it.effect("answers change as the clock advances", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const fake = yield* FakeProvider.fromClock({
        model,
        answer: ({ elapsed }) => elapsed < 60_000 ? Answer.overloaded() : Effect.succeed(Answer.ok())
      })
      expect(yield* outcomeOf(fake.service.generate(request))).toBe("Overloaded")
      yield* TestClock.adjust("59 seconds")
      expect(yield* outcomeOf(fake.service.generate(request))).toBe("Overloaded")
      yield* TestClock.adjust("1 second")
      expect(yield* outcomeOf(fake.service.generate(request))).toBe("success")
      expect((yield* fake.calls).map((call) => call.at)).toEqual([3_600_000, 3_659_000, 3_660_000])
    }))

  it.effect("tells the answer the call index and the requests of the last minute", () =>
    Effect.gen(function*() {
      const seen: Array<readonly [number, number]> = []
      const fake = yield* FakeProvider.fromClock({
        model,
        answer: ({ call, recentRequests }) => {
          seen.push([call, recentRequests])
          return Answer.ok()
        }
      })
      yield* fake.service.generate(request)
      yield* TestClock.adjust("30 seconds")
      yield* fake.service.generate(request)
      yield* TestClock.adjust("30 seconds")
      yield* fake.service.generate(request) // the first call is now a minute old
      yield* TestClock.adjust("31 seconds")
      yield* fake.service.generate(request)
      expect(seen).toEqual([[0, 1], [1, 2], [2, 2], [3, 2]])
    }))
})

describe("FakeProvider text fakes", () => {
  it.effect("scriptedText answers in order with latency", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.scriptedText({
        provider: "openai",
        model: "gpt-5-mini",
        answers: [Answer.rateLimited(), Answer.ok({ text: "A fox in the snow.", latency: "2 seconds" })]
      })
      const error = yield* Effect.flip(fake.service.generate(textRequest))
      expect(error._tag === "RateLimited" && error.retryAfter).toEqual(Option.none())
      const fiber = yield* Effect.fork(fake.service.generate(textRequest))
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result.text).toBe("A fox in the snow.")
      expect(result.route).toBe("openai/gpt-5-mini")
      expect((yield* fake.calls).map((call) => call.outcome)).toEqual(["RateLimited", "success"])
    }))

  it.effect("fromClockText answers change with the clock", () =>
    Effect.gen(function*() {
      const fake = yield* FakeProvider.fromClockText({
        model: "llama",
        answer: ({ elapsed }) => elapsed < 1_000 ? Answer.unavailable() : Answer.ok()
      })
      expect(yield* outcomeOf(fake.service.generate(textRequest))).toBe("ProviderUnavailable")
      yield* TestClock.adjust("1 second")
      expect((yield* fake.service.generate(textRequest)).text).toBe("A reply from llama.")
    }))
})
