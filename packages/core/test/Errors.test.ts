import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Option, Schema } from "effect"
import {
  AllRoutesFailed,
  AttemptError,
  BadRequest,
  CircuitOpen,
  ContentRejected,
  FailedAttempt,
  GenerationError,
  generationErrorTags,
  isFatalForRequest,
  isGenerationError,
  isRetryable,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  retryableTags,
  retryAfterOf,
  Timeout,
  Unauthorized
} from "../src/Errors.js"

const fields = { provider: "google", model: "gemini-3-pro-image-preview", message: "The model is overloaded" }

const circuitOpen = new CircuitOpen({
  ...fields,
  message: "breaker open",
  route: "gemini-pro",
  retryAt: Option.some(DateTime.unsafeMake(1_700_000_030_000))
})

/** One instance of every tag, in `generationErrorTags` order. */
const oneOfEach: ReadonlyArray<GenerationError> = [
  new Overloaded(fields),
  new RateLimited({ ...fields, retryAfter: Option.some(Duration.seconds(7)) }),
  new BadRequest({ ...fields, message: "prompt is invalid", scope: "request" }),
  new Unauthorized({ ...fields, message: "API key not valid" }),
  new ContentRejected({ ...fields, message: "IMAGE_SAFETY" }),
  new Timeout({ ...fields, message: "deadline passed" }),
  new ProviderUnavailable({ ...fields, message: "502 Bad Gateway" }),
  circuitOpen,
  new AllRoutesFailed({
    provider: "ballast",
    model: "pipeline",
    message: "every route failed",
    attempts: [new FailedAttempt({ route: "gemini-pro", resolution: "4K", error: new Overloaded(fields) })]
  })
]

/** Encodes with the union Schema, goes through JSON text, and decodes again. */
const roundTrip = (error: GenerationError) =>
  Schema.encode(GenerationError)(error).pipe(
    Effect.map((encoded) => JSON.parse(JSON.stringify(encoded)) as unknown),
    Effect.flatMap(Schema.decodeUnknown(GenerationError))
  )

describe("Errors", () => {
  it("has one Schema.TaggedError class per tag, each with provider, model and message", () => {
    expect(oneOfEach.map((e) => e._tag)).toStrictEqual(generationErrorTags)
    for (const error of oneOfEach) {
      expect(error).toBeInstanceOf(Error)
      expect(typeof error.provider).toBe("string")
      expect(typeof error.model).toBe("string")
      expect(error.message.length).toBeGreaterThan(0)
      // the Error message is the human message, and it shows in `String(error)` and stack traces
      expect(String(error)).toContain(error.message)
      expect(error.stack).toContain(error.message)
      expect(error.name).toBe(error._tag)
    }
    // the union Schema knows every tag
    expect(GenerationError.members.map((member) => member.identifier)).toStrictEqual(
      generationErrorTags.map((tag) => `@ballast/core/${tag}`)
    )
  })

  it("a missing provider, model or message is rejected at construction", () => {
    expect(() => new Overloaded({ provider: "google", model: "m" } as never)).toThrow(/message/)
    expect(() => new Timeout({ provider: "google", message: "m" } as never)).toThrow(/model/)
  })

  it.effect("every tag round-trips through Schema.encode(GenerationError) → JSON → decode", () =>
    Effect.gen(function*() {
      for (const error of oneOfEach) {
        const decoded = yield* roundTrip(error)
        expect(decoded).toStrictEqual(error)
        expect(decoded).toBeInstanceOf(error.constructor)
        expect(decoded).toBeInstanceOf(Error)
        expect(decoded.message).toBe(error.message)
      }
    }))

  it.effect("RateLimited.retryAfter is an Option<Duration>, encoded as millis, absent when None", () =>
    Effect.gen(function*() {
      const some = new RateLimited({ ...fields, retryAfter: Option.some(Duration.millis(1_500)) })
      expect(yield* Schema.encode(GenerationError)(some)).toStrictEqual({
        ...fields,
        _tag: "RateLimited",
        retryAfter: 1_500,
        exhausted: false
      })
      const decoded = yield* roundTrip(some)
      expect(decoded._tag).toBe("RateLimited")
      const retryAfter = retryAfterOf(decoded)
      expect(Option.map(retryAfter, Duration.toMillis)).toStrictEqual(Option.some(1_500))

      const none = new RateLimited({ ...fields, retryAfter: Option.none() })
      const encodedNone = yield* Schema.encode(GenerationError)(none)
      expect(encodedNone).not.toHaveProperty("retryAfter")
      const decodedNone = yield* roundTrip(none)
      expect(retryAfterOf(decodedNone)).toStrictEqual(Option.none())

      // the key may be left out on the wire
      const fromWire = yield* Schema.decodeUnknown(GenerationError)({ ...fields, _tag: "RateLimited" })
      expect(fromWire).toStrictEqual(none)
      // only a RateLimited error has a retry delay
      expect(retryAfterOf(new Overloaded(fields))).toStrictEqual(Option.none())
      expect(retryAfterOf("not an error")).toStrictEqual(Option.none())
    }))

  it.effect("BadRequest.scope defaults to \"route\", in the constructor and on decode", () =>
    Effect.gen(function*() {
      expect(new BadRequest(fields).scope).toBe("route")
      expect(new BadRequest({ ...fields, scope: "route" }).scope).toBe("route")
      const decoded = yield* Schema.decodeUnknown(GenerationError)({ ...fields, _tag: "BadRequest" })
      expect(decoded).toBeInstanceOf(BadRequest)
      expect(decoded._tag === "BadRequest" && decoded.scope).toBe("route")
      const requestScoped = yield* roundTrip(new BadRequest({ ...fields, scope: "request" }))
      expect(requestScoped._tag === "BadRequest" && requestScoped.scope).toBe("request")
      const bad = yield* Effect.either(Schema.decodeUnknown(GenerationError)({ ...fields, _tag: "BadRequest", scope: "x" }))
      expect(bad._tag).toBe("Left")
    }))

  it.effect("CircuitOpen carries the route and, while not isolated, when it may close", () =>
    Effect.gen(function*() {
      expect(circuitOpen.route).toBe("gemini-pro")
      const encoded = yield* Schema.encode(GenerationError)(circuitOpen)
      expect(encoded).toMatchObject({ _tag: "CircuitOpen", route: "gemini-pro", retryAt: 1_700_000_030_000 })
      const decoded = yield* roundTrip(circuitOpen)
      expect(decoded._tag === "CircuitOpen" && decoded.route).toBe("gemini-pro")
      expect(decoded._tag === "CircuitOpen" && Option.map(decoded.retryAt, DateTime.toEpochMillis)).toStrictEqual(
        Option.some(1_700_000_030_000)
      )
      const isolated = new CircuitOpen({ ...fields, route: "openai", retryAt: Option.none() })
      expect(yield* roundTrip(isolated)).toStrictEqual(isolated)
    }))

  it.effect("AllRoutesFailed keeps its attempts, in order, through a round trip", () =>
    Effect.gen(function*() {
      const attempts = [
        new FailedAttempt({ route: "gemini-pro", resolution: "4K", error: new Overloaded(fields) }),
        new FailedAttempt({ route: "gemini-pro", resolution: "2K", error: circuitOpen }),
        new FailedAttempt({
          route: "openai",
          resolution: "2K",
          error: new RateLimited({ ...fields, provider: "openai", retryAfter: Option.some(Duration.seconds(20)) })
        }),
        new FailedAttempt({ route: "flux", resolution: "1K", error: new BadRequest({ ...fields, scope: "route" }) }),
        new FailedAttempt({ route: "describe", resolution: "description", error: new Timeout(fields) })
      ]
      const error = new AllRoutesFailed({ provider: "ballast", model: "pipeline", message: "5 attempts failed", attempts })
      const decoded = yield* roundTrip(error)
      expect(decoded).toBeInstanceOf(AllRoutesFailed)
      expect(decoded).toStrictEqual(error)
      if (decoded._tag !== "AllRoutesFailed") throw new Error("unreachable")
      expect(decoded.attempts.map((a) => [a.route, a.resolution, a.error._tag])).toStrictEqual([
        ["gemini-pro", "4K", "Overloaded"],
        ["gemini-pro", "2K", "CircuitOpen"],
        ["openai", "2K", "RateLimited"],
        ["flux", "1K", "BadRequest"],
        ["describe", "description", "Timeout"]
      ])
      for (const attempt of decoded.attempts) expect(attempt).toBeInstanceOf(FailedAttempt)
    }))

  it.effect("an attempt cannot itself be AllRoutesFailed", () =>
    Effect.gen(function*() {
      const nested = yield* Effect.either(Schema.decodeUnknown(AttemptError)({ ...fields, _tag: "AllRoutesFailed", attempts: [] }))
      expect(nested._tag).toBe("Left")
    }))

  it("isRetryable is true exactly for Overloaded, RateLimited, Timeout and ProviderUnavailable", () => {
    expect(retryableTags).toStrictEqual(["Overloaded", "RateLimited", "Timeout", "ProviderUnavailable"])
    const retryable = oneOfEach.filter(isRetryable).map((e) => e._tag)
    expect(retryable).toStrictEqual(["Overloaded", "RateLimited", "Timeout", "ProviderUnavailable"])
    expect(isRetryable(new BadRequest({ ...fields, scope: "route" }))).toBe(false)
    // a quota that will not heal by waiting is not retried
    expect(isRetryable(new RateLimited({ ...fields, retryAfter: Option.none(), exhausted: true }))).toBe(false)
    expect(new RateLimited({ ...fields, retryAfter: Option.none() }).exhausted).toBe(false)
    for (const value of [undefined, null, 42, "Overloaded", {}, { _tag: 503 }, new Error("Overloaded")]) {
      expect(isRetryable(value)).toBe(false)
    }
  })

  it("isFatalForRequest is true only for a BadRequest scoped to the request", () => {
    expect(oneOfEach.filter(isFatalForRequest).map((e) => e._tag)).toStrictEqual(["BadRequest"])
    expect(isFatalForRequest(new BadRequest(fields))).toBe(false)
    expect(isFatalForRequest(new BadRequest({ ...fields, scope: "request" }))).toBe(true)
    expect(isFatalForRequest(new BadRequest({ ...fields, scope: "route" }))).toBe(false)
  })

  it("isGenerationError recognises every tag and nothing else", () => {
    for (const error of oneOfEach) expect(isGenerationError(error)).toBe(true)
    for (
      const value of [
        undefined,
        null,
        "Overloaded",
        new Error("503"),
        { _tag: "Overloaded" },
        { _tag: "Nope", provider: "google" },
        { _tag: "Some", value: 1 }
      ]
    ) expect(isGenerationError(value)).toBe(false)
  })
})
