import { ChatMessage, ImageRequest, Overloaded, TextRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Fiber, Option, Random, TestClock } from "effect"
import { crc32, inflateSync } from "node:zlib"
import { Answer, FakeProvider, Scenario, VirtualTime } from "../src/index.js"

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

describe("FakeProvider probes", () => {
  it.effect("fromClock answers probes with its probe function, counted apart from calls", () =>
    Effect.gen(function*() {
      const seen: Array<readonly [number, number, number]> = []
      const fake = yield* FakeProvider.fromClock({
        model,
        answer: () => Answer.ok(),
        probe: ({ call, elapsed, recentRequests }) => {
          seen.push([call, elapsed, recentRequests])
          return elapsed < 60_000 ? Answer.overloaded({ latency: "200 millis" }) : Answer.ok({ latency: "200 millis" })
        }
      })
      const probe = fake.service.probe!
      yield* fake.service.generate(request)
      const first = yield* Effect.fork(Effect.either(probe))
      yield* TestClock.adjust("200 millis")
      const failed = yield* Fiber.join(first)
      expect(Either.isLeft(failed) && failed.left._tag).toBe("Overloaded")
      yield* TestClock.adjust("1 minute")
      const second = yield* Effect.fork(probe)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(second)
      expect(seen).toEqual([[0, 0, 1], [1, 60_200, 0]])
      expect(yield* fake.probeCount).toBe(2)
      expect(yield* fake.callCount).toBe(1)
      expect(yield* fake.calls).toHaveLength(1)
    }))

  it.effect("fakes without a probe function have no probe; fromClockText takes one", () =>
    Effect.gen(function*() {
      const image = yield* FakeProvider.fromClock({ model, answer: () => Answer.ok() })
      expect(image.service.probe).toBeUndefined()
      expect(yield* image.probeCount).toBe(0)
      const text = yield* FakeProvider.fromClockText({
        model: "llama",
        answer: () => Answer.ok(),
        probe: () => Answer.unavailable()
      })
      expect((yield* Effect.flip(text.service.probe!))._tag).toBe("ProviderUnavailable")
      expect([yield* text.probeCount, yield* text.callCount]).toEqual([1, 0])
    }))
})

describe("Scenario fakes' probes (on virtual time)", () => {
  const simulate = <A, E>(effect: Effect.Effect<A, E>) =>
    VirtualTime.runSync(Effect.withRandom(effect, Random.make("probes")))
  /** Runs a probe and returns how it ended and how long it took. */
  const probeOnce = <E extends { readonly _tag: string }>(probe: Effect.Effect<void, E>) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const result = yield* Effect.either(probe)
      const took = (yield* Clock.currentTimeMillis) - start
      return { outcome: Either.isLeft(result) ? result.left._tag : "success", took }
    })
  const probeShare = <E extends { readonly _tag: string }>(probe: Effect.Effect<void, E>, count: number) =>
    Effect.gen(function*() {
      let failures = 0
      for (let i = 0; i < count; i++) {
        if ((yield* probeOnce(probe)).outcome !== "success") failures++
      }
      return failures / count
    })

  it("fail with the role's failure rate at that moment and are not counted as calls", () =>
    simulate(Effect.gen(function*() {
      const scenario = Scenario.scenarios["outage-2h"]
      const primary = yield* Scenario.fakeImage(scenario, "primary", { model })
      const openai = yield* Scenario.fakeImage(scenario, "openai", { model: "gpt-image-2" })
      expect(yield* probeShare(primary.service.probe!, 100)).toBe(1)
      expect((yield* probeOnce(primary.service.probe!)).outcome).toBe("Overloaded")
      expect(yield* probeShare(openai.service.probe!, 500)).toBeLessThan(0.04)
      yield* Effect.sleep("2 hours")
      expect(yield* probeShare(primary.service.probe!, 500)).toBeLessThan(0.1)
      expect(yield* primary.callCount).toBe(0)
      expect(yield* primary.probeCount).toBe(601)
    })))

  it("take 100–500 ms, failed or not", () =>
    simulate(Effect.gen(function*() {
      const fake = yield* Scenario.fakeImage(Scenario.scenarios["feb-19"], "primary", { model })
      const probes = yield* Effect.all(Array.from({ length: 200 }, () => probeOnce(fake.service.probe!)))
      expect(probes.every(({ took }) => took >= 100 && took <= 500)).toBe(true)
      expect(new Set(probes.map(({ outcome }) => outcome))).toEqual(new Set(["success", "Overloaded"]))
    })))

  it("fakeText probes too, healthy through a total outage while image probes fail", () =>
    simulate(Effect.gen(function*() {
      const writer = yield* Scenario.fakeText(Scenario.scenarios["total-outage"], "text", { model: "gpt-5.2" })
      const image = yield* Scenario.fakeImage(Scenario.scenarios["total-outage"], "openai", { model: "gpt-image-2" })
      expect(yield* probeShare(writer.service.probe!, 200)).toBeLessThan(0.05)
      expect(yield* probeShare(image.service.probe!, 50)).toBe(1)
      expect((yield* probeOnce(image.service.probe!)).outcome).toBe("ProviderUnavailable")
      expect(yield* writer.callCount).toBe(0)
    })))
})
