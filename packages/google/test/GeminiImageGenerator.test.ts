import { describe, expect, it } from "@effect/vitest"
import { GeneratedImage, ImageGenerator, ImageRequest, TextGenerator, TextRequest } from "@ballast/core"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { GeminiClient, GeminiImageGenerator, GeminiTextGenerator } from "../src/index.js"
import * as Server from "./fixtures/GeminiServer.js"

const apiKey = "AIzaSyTESTKEY-0123456789abcdefghijklmno"
const pro = "gemini-3-pro-image-preview"

const bytes = (...values: Array<number>) => Uint8Array.from(values)
const b64 = (data: Uint8Array) => Buffer.from(data).toString("base64")
const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3)
const jpeg = bytes(0xff, 0xd8, 0xff, 0xe0, 4, 5, 6)
const interim = bytes(9, 9, 9)

const imageResponse = (parts: ReadonlyArray<unknown>) => ({
  candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
  modelVersion: pro
})

const overloaded = { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } }

const client = (url: string, options: Partial<GeminiClient.Options> = {}) =>
  GeminiClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: url, ...options })

const images = (server: Server.GeminiServer, model = pro, options: Partial<GeminiClient.Options> = {}) =>
  Effect.provide(ImageGenerator, GeminiImageGenerator.layer({ model }).pipe(Layer.provide(client(server.url, options))))

const bodyOf = (request: Server.Received): unknown => JSON.parse(request.body)

describe("GeminiImageGenerator", () => {
  it.live("decodes the last non-thought image and sends the image config", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() =>
        Server.json(200, imageResponse([
          { inlineData: { mimeType: "image/png", data: b64(interim) }, thought: true },
          { text: "Here is your fox." },
          { inlineData: { mimeType: "image/png", data: b64(png) } },
          { inlineData: { mimeType: "image/jpeg", data: b64(jpeg) }, thoughtSignature: "sig" },
          { inlineData: { mimeType: "image/png", data: b64(interim) }, thought: true }
        ]))
      )
      const generator = yield* images(server)
      const result = yield* generator.generate(ImageRequest.make({ prompt: "a watercolor fox", resolution: "2K", aspectRatio: "16:9" }))
      expect(result.images).toHaveLength(1)
      expect(result.images[0]!.mimeType).toBe("image/jpeg")
      expect(Array.from(result.images[0]!.data)).toEqual(Array.from(jpeg))
      expect(result.route).toBe(`google/${pro}`)
      expect(result.resolution).toBe("2K")
      expect(result.degraded).toBe(false)
      expect(server.received).toHaveLength(1)
      const [request] = server.received
      expect(request!.method).toBe("POST")
      expect(request!.url).toBe(`/v1beta/models/${pro}:generateContent`)
      expect(request!.headers["x-goog-api-key"]).toBe(apiKey)
      expect(bodyOf(request!)).toEqual({
        contents: [{ role: "user", parts: [{ text: "a watercolor fox" }] }],
        generationConfig: { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "16:9", imageSize: "2K" } }
      })
    }).pipe(Effect.scoped))

  it.live("sends reference images as inline data and omits imageSize for a 1K-only model", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.json(200, imageResponse([{ inlineData: { mimeType: "image/png", data: b64(png) } }])))
      const generator = yield* images(server, "gemini-2.5-flash-image")
      const result = yield* generator.generate(ImageRequest.make({
        prompt: "make it blue",
        resolution: "4K",
        aspectRatio: "4:3",
        referenceImages: [GeneratedImage.make({ data: jpeg, mimeType: "image/jpeg" })]
      }))
      expect(result.resolution).toBe("1K")
      expect(result.degraded).toBe(true)
      expect(bodyOf(server.received[0]!)).toEqual({
        contents: [{ role: "user", parts: [{ text: "make it blue" }, { inlineData: { mimeType: "image/jpeg", data: b64(jpeg) } }] }],
        generationConfig: { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "4:3" } }
      })
    }).pipe(Effect.scoped))

  it.live("makes n calls for n images", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.json(200, imageResponse([{ inlineData: { mimeType: "image/png", data: b64(png) } }])))
      const generator = yield* images(server)
      const result = yield* generator.generate(ImageRequest.make({ prompt: "three foxes", n: 3 }))
      expect(result.images).toHaveLength(3)
      expect(server.received).toHaveLength(3)
    }).pipe(Effect.scoped))

  it.live("a 503 is Overloaded after exactly one request, without the key in the error", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.json(503, overloaded))
      const generator = yield* images(server)
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("Overloaded")
      expect(error.message).toBe("Gemini answered 503 UNAVAILABLE: The model is overloaded. Please try again later.")
      expect(JSON.stringify(error)).not.toContain(apiKey)
      expect(server.received).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("a 429 carries RetryInfo's delay; an HTML 502 and a malformed 200 are ProviderUnavailable", () =>
    Effect.gen(function*() {
      const replies = [
        Server.json(429, {
          error: {
            code: 429,
            message: "Resource has been exhausted (e.g. check quota).",
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "3.299376739s" }]
          }
        }),
        Server.raw(502, "text/html", "<html><body>Bad Gateway</body></html>"),
        Server.raw(200, "application/json", "{\"candidates\": [")
      ]
      const server = yield* Server.start((_, index) => replies[index]!)
      const generator = yield* images(server)
      const request = ImageRequest.make({ prompt: "a fox" })
      const limited = yield* Effect.flip(generator.generate(request))
      expect(limited._tag === "RateLimited" && Option.map(limited.retryAfter, Duration.toMillis)).toEqual(Option.some(3_300))
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ProviderUnavailable")
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ProviderUnavailable")
      expect(server.received).toHaveLength(3)
    }).pipe(Effect.scoped))

  it.live("a 200 without an image is ContentRejected for safety and ProviderUnavailable otherwise", () =>
    Effect.gen(function*() {
      const replies = [
        Server.json(200, { promptFeedback: { blockReason: "PROHIBITED_CONTENT" } }),
        Server.json(200, { candidates: [{ content: { role: "model", parts: [] }, finishReason: "IMAGE_SAFETY" }] }),
        Server.json(200, { candidates: [{ content: { role: "model", parts: [{ text: "I drew nothing." }] }, finishReason: "NO_IMAGE" }] })
      ]
      const server = yield* Server.start((_, index) => replies[index]!)
      const generator = yield* images(server)
      const request = ImageRequest.make({ prompt: "a fox" })
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ContentRejected")
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ContentRejected")
      const other = yield* Effect.flip(generator.generate(request))
      expect(other._tag).toBe("ProviderUnavailable")
      expect(other.message).toContain("NO_IMAGE")
    }).pipe(Effect.scoped))

  it.live("interrupting a call aborts its HTTP request", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.hang)
      const generator = yield* images(server)
      const fiber = yield* Effect.fork(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      const request = yield* Effect.promise(() => server.request(0))
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const aborted = yield* Effect.promise(() => request.closed).pipe(Effect.timeout("5 seconds"))
      expect(aborted).toBe(true)
      expect(server.received).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("the client timeout is a Timeout, and the server sees the request aborted", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.hang)
      const generator = yield* images(server, pro, { timeout: Duration.millis(200) })
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("Timeout")
      expect(yield* Effect.promise(() => server.received[0]!.closed)).toBe(true)
      expect(server.received[0]!.headers["x-server-timeout"]).toBe("1")
    }).pipe(Effect.scoped))

  it.live("an unreachable server is ProviderUnavailable", () =>
    Effect.gen(function*() {
      const closedUrl = yield* Server.start(() => Server.hang).pipe(Effect.map((s) => s.url), Effect.scoped)
      const generator = yield* Effect.provide(
        ImageGenerator,
        GeminiImageGenerator.layer({ model: pro }).pipe(Layer.provide(client(closedUrl)))
      )
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("ProviderUnavailable")
      expect(error.message).toContain("could not reach Gemini")
      expect(error.message).not.toContain(apiKey)
    }))

  it.live("probe reads the model's metadata; a missing model is BadRequest for the route", () =>
    Effect.gen(function*() {
      const server = yield* Server.start((request) =>
        request.url.includes("nope")
          ? Server.json(404, { error: { code: 404, message: "models/nope is not found for API version v1beta", status: "NOT_FOUND" } })
          : Server.json(200, { name: `models/${pro}`, displayName: "Nano Banana Pro" })
      )
      const generator = yield* images(server)
      yield* generator.probe!
      expect(server.received[0]!.method).toBe("GET")
      expect(server.received[0]!.url).toBe(`/v1beta/models/${pro}`)
      const missing = yield* images(server, "nope")
      const error = yield* Effect.flip(missing.probe!)
      expect(error._tag === "BadRequest" && error.scope).toBe("route")
    }).pipe(Effect.scoped))

  it.live("Vertex mode posts to the project and location path and names the route by region", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.json(200, imageResponse([{ inlineData: { mimeType: "image/png", data: b64(png) } }])))
      const generator = yield* images(server, pro, { vertex: { project: "demo", location: "europe-west4" } })
      const result = yield* generator.generate(ImageRequest.make({ prompt: "a fox" }))
      expect(result.route).toBe(`google/europe-west4/${pro}`)
      expect(server.received[0]!.url).toBe(
        `/v1beta1/projects/demo/locations/europe-west4/publishers/google/models/${pro}:generateContent`
      )
      expect(server.received[0]!.headers["x-goog-api-key"]).toBe(apiKey)
    }).pipe(Effect.scoped))
})

describe("GeminiTextGenerator", () => {
  it.live("sends system messages as systemInstruction and returns the non-thought text", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() =>
        Server.json(200, {
          candidates: [{
            content: { role: "model", parts: [{ text: "thinking…", thought: true }, { text: "A fox " }, { text: "in snow." }] },
            finishReason: "STOP"
          }]
        })
      )
      const text = yield* Effect.provide(
        TextGenerator,
        GeminiTextGenerator.layer({ model: "gemini-2.5-flash" }).pipe(Layer.provide(client(server.url)))
      )
      const result = yield* text.generate(TextRequest.make({
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "Describe a fox." },
          { role: "assistant", content: "Which fox?" },
          { role: "user", content: "Any." }
        ],
        maxTokens: 100,
        temperature: 0.2
      }))
      expect(result.text).toBe("A fox in snow.")
      expect(result.route).toBe("google/gemini-2.5-flash")
      expect(bodyOf(server.received[0]!)).toEqual({
        contents: [
          { role: "user", parts: [{ text: "Describe a fox." }] },
          { role: "model", parts: [{ text: "Which fox?" }] },
          { role: "user", parts: [{ text: "Any." }] }
        ],
        systemInstruction: { parts: [{ text: "be brief" }], role: "user" },
        generationConfig: { maxOutputTokens: 100, temperature: 0.2 }
      })
    }).pipe(Effect.scoped))

  it.live("an empty answer is ProviderUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* Server.start(() => Server.json(200, { candidates: [{ content: { role: "model", parts: [] }, finishReason: "OTHER" }] }))
      const text = yield* Effect.provide(
        TextGenerator,
        GeminiTextGenerator.layer({ model: "gemini-2.5-flash" }).pipe(Layer.provide(client(server.url)))
      )
      const error = yield* Effect.flip(text.generate(TextRequest.make({ messages: [{ role: "user", content: "Hi" }] })))
      expect(error._tag).toBe("ProviderUnavailable")
    }).pipe(Effect.scoped))
})
