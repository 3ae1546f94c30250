import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, ParseResult, Schema } from "effect"
import { DeliveredResolution, GeneratedImage, ImageRequest, ImageResult } from "../src/Image.js"
import { ChatMessage, TextRequest, TextResult } from "../src/Text.js"

const decodeRequest = Schema.decodeUnknownEither(ImageRequest)
const decodeTextRequest = Schema.decodeUnknownEither(TextRequest)

/** The formatted message of a decoding failure (fails the test when decoding succeeded). */
const failureMessage = <A>(result: Either.Either<A, ParseResult.ParseError>): string => {
  if (Either.isRight(result)) throw new Error(`expected a decoding failure, got ${JSON.stringify(result.right)}`)
  return result.left.message
}

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x7f, 0x80])

const result = ImageResult.make({
  images: [new GeneratedImage({ data: png, mimeType: "image/png" })],
  route: "gemini-pro",
  provider: "google",
  model: "gemini-3-pro-image-preview",
  resolution: "2K",
  requestedResolution: "4K",
  aspectRatio: "16:9",
  degraded: true,
  attempts: 3,
  latency: Duration.millis(41_250)
})

describe("ImageRequest", () => {
  it("defaults to one 1K square image, in make and in decode", () => {
    const made = ImageRequest.make({ prompt: "a watercolor fox" })
    expect({ resolution: made.resolution, aspectRatio: made.aspectRatio, n: made.n }).toStrictEqual({
      resolution: "1K",
      aspectRatio: "1:1",
      n: 1
    })
    expect(made.referenceImages).toBeUndefined()
    expect(made.idempotencyKey).toBeUndefined()
    expect(made.deadline).toBeUndefined()
    expect(decodeRequest({ prompt: "a watercolor fox" })).toStrictEqual(Either.right(made))
  })

  it("keeps what was asked for", () => {
    const decoded = decodeRequest({ prompt: "a fox", resolution: "4K", aspectRatio: "21:9", n: 10, idempotencyKey: "k-1" })
    expect(Either.getOrThrow(decoded)).toMatchObject({ resolution: "4K", aspectRatio: "21:9", n: 10, idempotencyKey: "k-1" })
  })

  it("rejects a blank prompt with a message naming `prompt`", () => {
    for (const prompt of ["", "   ", "\n\t "]) {
      const message = failureMessage(decodeRequest({ prompt }))
      expect(message).toContain(`["prompt"]`)
      expect(message).toContain("must not be blank")
    }
    expect(() => ImageRequest.make({ prompt: " " })).toThrow(/\["prompt"\][\s\S]*must not be blank/)
    expect(failureMessage(decodeRequest({}))).toContain(`["prompt"]`)
    expect(failureMessage(decodeRequest({ prompt: "x".repeat(32_001) }))).toContain("at most 32000 characters")
    expect(Either.isRight(decodeRequest({ prompt: "x".repeat(32_000) }))).toBe(true)
  })

  it("rejects n outside 1..10 or not an integer", () => {
    for (const n of [0, -1, 11, 1.5, "2"]) {
      expect(failureMessage(decodeRequest({ prompt: "a fox", n }))).toContain(`["n"]`)
    }
    for (const n of [1, 10]) expect(Either.isRight(decodeRequest({ prompt: "a fox", n }))).toBe(true)
  })

  it("rejects an unknown resolution or aspect ratio, and an empty idempotency key", () => {
    expect(failureMessage(decodeRequest({ prompt: "a fox", resolution: "8K" }))).toContain(`["resolution"]`)
    expect(failureMessage(decodeRequest({ prompt: "a fox", aspectRatio: "7:5" }))).toContain(`["aspectRatio"]`)
    expect(failureMessage(decodeRequest({ prompt: "a fox", idempotencyKey: "" }))).toContain(`["idempotencyKey"]`)
  })

  it.effect("decodes the deadline from milliseconds and encodes it back", () =>
    Effect.gen(function*() {
      const request = yield* Schema.decodeUnknown(ImageRequest)({ prompt: "a fox", deadline: 90_000 })
      expect(Duration.toMillis(request.deadline!)).toBe(90_000)
      expect(Duration.equals(request.deadline!, Duration.seconds(90))).toBe(true)
      const encoded = yield* Schema.encode(ImageRequest)(request)
      expect(encoded.deadline).toBe(90_000)
      expect(failureMessage(decodeRequest({ prompt: "a fox", deadline: -1 }))).toContain(`["deadline"]`)
      expect(failureMessage(decodeRequest({ prompt: "a fox", deadline: "90 seconds" }))).toContain(`["deadline"]`)
    }))

  it.effect("reference images travel as base64 and come back byte for byte", () =>
    Effect.gen(function*() {
      const request = ImageRequest.make({
        prompt: "this fox, in winter",
        referenceImages: [new GeneratedImage({ data: png, mimeType: "image/png" })]
      })
      const json = JSON.parse(JSON.stringify(yield* Schema.encode(ImageRequest)(request)))
      expect(json.referenceImages[0]).toStrictEqual({ data: Buffer.from(png).toString("base64"), mimeType: "image/png" })
      const decoded = yield* Schema.decodeUnknown(ImageRequest)(json)
      expect(decoded.referenceImages![0]!.data).toStrictEqual(png)
      expect(decoded).toStrictEqual(request)
    }))
})

describe("GeneratedImage", () => {
  it.effect("bytes round-trip as base64, including every byte value", () =>
    Effect.gen(function*() {
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)
      const image = new GeneratedImage({ data: everyByte, mimeType: "image/webp" })
      const encoded = yield* Schema.encode(GeneratedImage)(image)
      expect(encoded.data).toBe(Buffer.from(everyByte).toString("base64"))
      const decoded = yield* Schema.decodeUnknown(GeneratedImage)(JSON.parse(JSON.stringify(encoded)))
      expect(decoded.data).toStrictEqual(everyByte)
      expect(decoded.mimeType).toBe("image/webp")
      const invalid = Schema.decodeUnknownEither(GeneratedImage)({ data: "not base64!", mimeType: "image/png" })
      expect(failureMessage(invalid)).toContain(`["data"]`)
    }))
})

describe("ImageResult", () => {
  it.effect("round-trips through JSON: images as base64, latency as millis", () =>
    Effect.gen(function*() {
      const encoded = yield* Schema.encode(ImageResult)(result)
      expect(encoded.latency).toBe(41_250)
      expect(encoded.images[0]!.data).toBe(Buffer.from(png).toString("base64"))
      const decoded = yield* Schema.decodeUnknown(ImageResult)(JSON.parse(JSON.stringify(encoded)))
      expect(decoded).toStrictEqual(result)
      expect(decoded.images[0]!.data).toStrictEqual(png)
    }))

  it.effect("may answer with a description instead of images", () =>
    Effect.gen(function*() {
      const described = ImageResult.make({
        ...result,
        images: [],
        description: "A red fox sitting in snow.",
        resolution: "description"
      })
      const decoded = yield* Schema.decodeUnknown(ImageResult)(
        JSON.parse(JSON.stringify(yield* Schema.encode(ImageResult)(described)))
      )
      expect(decoded).toStrictEqual(described)
      expect(Schema.is(DeliveredResolution)("description")).toBe(true)
      expect(Schema.is(DeliveredResolution)("8K")).toBe(false)
    }))
})

describe("TextRequest and TextResult", () => {
  it("accepts plain message objects, in make and in decode", () => {
    const messages = [
      { role: "system", content: "You describe images." },
      { role: "user", content: "Describe a fox." },
      { role: "assistant", content: "A fox." }
    ] as const
    const made = TextRequest.make({ messages })
    expect(made.messages).toStrictEqual(messages)
    const decoded = Either.getOrThrow(decodeTextRequest({ messages, maxTokens: 256, temperature: 0.7 }))
    expect(decoded.messages).toStrictEqual(messages)
    expect(decoded).toMatchObject({ maxTokens: 256, temperature: 0.7 })
    expect(Schema.is(ChatMessage)(messages[1])).toBe(true)
  })

  it("rejects no messages, an unknown role, and out-of-range options", () => {
    expect(failureMessage(decodeTextRequest({ messages: [] }))).toContain(`["messages"]`)
    expect(failureMessage(decodeTextRequest({ messages: [{ role: "tool", content: "x" }] }))).toContain(`["role"]`)
    const user = [{ role: "user", content: "hi" }]
    expect(failureMessage(decodeTextRequest({ messages: user, maxTokens: 0 }))).toContain(`["maxTokens"]`)
    expect(failureMessage(decodeTextRequest({ messages: user, temperature: 2.5 }))).toContain(`["temperature"]`)
    expect(Either.getOrThrow(decodeTextRequest({ messages: user, deadline: 5_000 })).deadline).toStrictEqual(
      Duration.millis(5_000)
    )
  })

  it.effect("TextResult round-trips, latency as millis", () =>
    Effect.gen(function*() {
      const text = TextResult.make({
        text: "A fox.",
        route: "describe",
        provider: "openai",
        model: "gpt-5.2",
        degraded: false,
        attempts: 1,
        latency: Duration.millis(1_200)
      })
      const encoded = yield* Schema.encode(TextResult)(text)
      expect(encoded.latency).toBe(1_200)
      expect(yield* Schema.decodeUnknown(TextResult)(JSON.parse(JSON.stringify(encoded)))).toStrictEqual(text)
    }))
})
