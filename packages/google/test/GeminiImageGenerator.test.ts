import { describe, expect, it } from "@effect/vitest"
import { GeneratedImage, ImageGenerator, ImageRequest, TextGenerator, TextRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { GeminiClient, GeminiImageGenerator, GeminiTextGenerator } from "../src/index.js"

const apiKey = "AIzaSyTESTKEY-0123456789abcdefghijklmno"
const pro = "gemini-3-pro-image-preview"

const bytes = (...values: Array<number>) => Uint8Array.from(values)
const b64 = (data: Uint8Array) => Buffer.from(data).toString("base64")
const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3)
const jpeg = bytes(0xff, 0xd8, 0xff, 0xe0, 4, 5, 6)
const interim = bytes(9, 9, 9)
/** The PNG of every successful FaultServer image answer. */
const faultPng = Array.from(Buffer.from(FaultServer.pngBase64, "base64"))

const client = (url: string, options: Partial<GeminiClient.Options> = {}) =>
  GeminiClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: url, ...options })

const images = (url: string, model = pro, options: Partial<GeminiClient.Options> = {}) =>
  Effect.provide(ImageGenerator, GeminiImageGenerator.layer({ model }).pipe(Layer.provide(client(url, options))))

const texts = (url: string, model = "gemini-2.5-flash") =>
  Effect.provide(TextGenerator, GeminiTextGenerator.layer({ model }).pipe(Layer.provide(client(url))))



/**
 * FaultServer answers Gemini with a fixed part layout (a text part then one
 * non-thought PNG part for image requests, one text part for text requests),
 * and none of its faults is a 200 with thought parts, with finish reason
 * NO_IMAGE or OTHER, or with empty parts. The few cases that depend on such a
 * body use this minimal one-reply server instead: it answers every request with
 * `body` and counts the requests.
 */
const fixedReply = (body: unknown): Effect.Effect<{ readonly url: string; readonly count: () => number }, never, Scope.Scope> => {
  let count = 0
  return Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          count++
          res.writeHead(200, { "content-type": "application/json; charset=UTF-8" })
          res.end(JSON.stringify(body))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => count })))
}

describe("GeminiImageGenerator", () => {
  it.live("sends the image config with the key, in exactly one request, and decodes the image", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const generator = yield* images(server.url)
      const result = yield* generator.generate(ImageRequest.make({ prompt: "a watercolor fox", resolution: "2K", aspectRatio: "16:9" }))
      expect(result.images).toHaveLength(1)
      expect(result.images[0]!.mimeType).toBe("image/png")
      expect(Array.from(result.images[0]!.data)).toEqual(faultPng)
      expect(result.route).toBe(`google/${pro}`)
      expect(result.resolution).toBe("2K")
      expect(result.degraded).toBe(false)
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      const [request] = requests
      expect(request!.api).toBe("gemini")
      expect(request!.method).toBe("POST")
      expect(request!.path).toBe(`/v1beta/models/${pro}:generateContent`)
      expect(request!.model).toBe(pro)
      expect(request!.headers["x-goog-api-key"]).toBe(apiKey)
      expect(request!.body).toEqual({
        contents: [{ role: "user", parts: [{ text: "a watercolor fox" }] }],
        generationConfig: { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "16:9", imageSize: "2K" } }
      })
    }).pipe(Effect.scoped))

  // Inline server: FaultServer's image answer has no thought image parts.
  it.live("decodes the last non-thought image", () =>
    Effect.gen(function*() {
      const server = yield* fixedReply({
        candidates: [{
          content: {
            role: "model",
            parts: [
              { inlineData: { mimeType: "image/png", data: b64(interim) }, thought: true },
              { text: "Here is your fox." },
              { inlineData: { mimeType: "image/png", data: b64(png) } },
              { inlineData: { mimeType: "image/jpeg", data: b64(jpeg) }, thoughtSignature: "sig" },
              { inlineData: { mimeType: "image/png", data: b64(interim) }, thought: true }
            ]
          },
          finishReason: "STOP",
          index: 0
        }],
        modelVersion: pro
      })
      const generator = yield* images(server.url)
      const result = yield* generator.generate(ImageRequest.make({ prompt: "a watercolor fox", resolution: "2K", aspectRatio: "16:9" }))
      expect(result.images).toHaveLength(1)
      expect(result.images[0]!.mimeType).toBe("image/jpeg")
      expect(Array.from(result.images[0]!.data)).toEqual(Array.from(jpeg))
      expect(server.count()).toBe(1)
    }).pipe(Effect.scoped))

  it.live("sends reference images as inline data and omits imageSize for a 1K-only model", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const generator = yield* images(server.url, "gemini-2.5-flash-image")
      const result = yield* generator.generate(ImageRequest.make({
        prompt: "make it blue",
        resolution: "4K",
        aspectRatio: "4:3",
        referenceImages: [GeneratedImage.make({ data: jpeg, mimeType: "image/jpeg" })]
      }))
      expect(result.resolution).toBe("1K")
      expect(result.degraded).toBe(true)
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]!.body).toEqual({
        contents: [{ role: "user", parts: [{ text: "make it blue" }, { inlineData: { mimeType: "image/jpeg", data: b64(jpeg) } }] }],
        generationConfig: { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "4:3" } }
      })
    }).pipe(Effect.scoped))

  it.live("makes n calls for n images", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const generator = yield* images(server.url)
      const result = yield* generator.generate(ImageRequest.make({ prompt: "three foxes", n: 3 }))
      expect(result.images).toHaveLength(3)
      expect(yield* server.requests).toHaveLength(3)
    }).pipe(Effect.scoped))

  it.live("a 503 is Overloaded after exactly one request, without the key in the error", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, ["overloaded"])
      const generator = yield* images(server.url)
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("Overloaded")
      expect(error.message).toBe("Gemini answered 503 UNAVAILABLE: The model is overloaded. Please try again later.")
      expect(JSON.stringify(error)).not.toContain(apiKey)
      const requests = yield* server.requests
      expect(requests.map((r) => r.fault)).toEqual(["overloaded"])
    }).pipe(Effect.scoped))

  it.live("a 429 carries RetryInfo's delay; an HTML 502 and a malformed 200 are ProviderUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, [{ fault: "rate-limited", retryInfo: "3.299376739s" }, "bad-gateway", "malformed-json"])
      const generator = yield* images(server.url)
      const request = ImageRequest.make({ prompt: "a fox" })
      const limited = yield* Effect.flip(generator.generate(request))
      expect(limited._tag === "RateLimited" && Option.map(limited.retryAfter, Duration.toMillis)).toEqual(Option.some(3_300))
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ProviderUnavailable")
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ProviderUnavailable")
      const requests = yield* server.requests
      expect(requests.map((r) => r.fault)).toEqual(["rate-limited", "bad-gateway", "malformed-json"])
    }).pipe(Effect.scoped))

  it.live("a 200 without an image is ContentRejected for safety", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      // promptFeedback.blockReason PROHIBITED_CONTENT, then finishReason IMAGE_SAFETY
      yield* server.script(pro, ["prompt-blocked", "no-image"])
      const generator = yield* images(server.url)
      const request = ImageRequest.make({ prompt: "a fox" })
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ContentRejected")
      expect((yield* Effect.flip(generator.generate(request)))._tag).toBe("ContentRejected")
      expect(yield* server.requests).toHaveLength(2)
    }).pipe(Effect.scoped))

  // Inline server: no FaultServer fault answers a 200 with finish reason NO_IMAGE.
  it.live("a 200 without an image for another reason is ProviderUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* fixedReply({
        candidates: [{ content: { role: "model", parts: [{ text: "I drew nothing." }] }, finishReason: "NO_IMAGE" }]
      })
      const generator = yield* images(server.url)
      const other = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(other._tag).toBe("ProviderUnavailable")
      expect(other.message).toContain("NO_IMAGE")
    }).pipe(Effect.scoped))

  it.live("interrupting a call aborts its HTTP request", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, ["hang"])
      const generator = yield* images(server.url)
      const fiber = yield* Effect.fork(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      yield* FaultServer.waitFor(server, (requests) => requests.length === 1)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const requests = yield* FaultServer.waitFor(server, (requests) => requests[0]?.aborted === true)
      expect(requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("the client timeout is a Timeout, and the server sees the request aborted", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, ["hang"])
      const generator = yield* images(server.url, pro, { timeout: Duration.millis(200) })
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("Timeout")
      const requests = yield* FaultServer.waitFor(server, (requests) => requests[0]?.aborted === true)
      expect(requests).toHaveLength(1)
      expect(requests[0]!.headers["x-server-timeout"]).toBe("1")
    }).pipe(Effect.scoped))

  it.live("an unreachable server is ProviderUnavailable", () =>
    Effect.gen(function*() {
      const closedUrl = yield* FaultServer.make().pipe(Effect.map((s) => s.url), Effect.scoped)
      const generator = yield* images(closedUrl)
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("ProviderUnavailable")
      expect(error.message).toContain("could not reach Gemini")
      expect(error.message).not.toContain(apiKey)
    }))

  it.live("probe reads the model's metadata; a missing model is BadRequest for the route", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("nope", ["not-found"])
      const generator = yield* images(server.url)
      yield* generator.probe!
      const [probe] = yield* server.requests
      expect(probe!.api).toBe("gemini")
      expect(probe!.method).toBe("GET")
      expect(probe!.path).toBe(`/v1beta/models/${pro}`)
      expect(probe!.headers["x-goog-api-key"]).toBe(apiKey)
      const missing = yield* images(server.url, "nope")
      const error = yield* Effect.flip(missing.probe!)
      expect(error._tag === "BadRequest" && error.scope).toBe("route")
      const requests = yield* server.requests
      expect(requests.map((r) => [r.method, r.path, r.fault])).toEqual([
        ["GET", `/v1beta/models/${pro}`, "ok"],
        ["GET", "/v1beta/models/nope", "not-found"]
      ])
    }).pipe(Effect.scoped))

  it.live("Vertex mode posts to the project and location path and names the route by region", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const generator = yield* images(server.url, pro, { vertex: { project: "demo", location: "europe-west4" } })
      const result = yield* generator.generate(ImageRequest.make({ prompt: "a fox" }))
      expect(result.route).toBe(`google/europe-west4/${pro}`)
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]!.api).toBe("vertex")
      expect(requests[0]!.path).toBe(
        `/v1beta1/projects/demo/locations/europe-west4/publishers/google/models/${pro}:generateContent`
      )
      expect(requests[0]!.headers["x-goog-api-key"]).toBe(apiKey)
    }).pipe(Effect.scoped))
})

describe("GeminiTextGenerator", () => {
  it.live("sends system messages as systemInstruction, in exactly one request, and returns the text", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const text = yield* texts(server.url)
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
      expect(result.text).toBe("Hello from the fault server.")
      expect(result.route).toBe("google/gemini-2.5-flash")
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]!.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent")
      expect(requests[0]!.headers["x-goog-api-key"]).toBe(apiKey)
      expect(requests[0]!.body).toEqual({
        contents: [
          { role: "user", parts: [{ text: "Describe a fox." }] },
          { role: "model", parts: [{ text: "Which fox?" }] },
          { role: "user", parts: [{ text: "Any." }] }
        ],
        systemInstruction: { parts: [{ text: "be brief" }], role: "user" },
        generationConfig: { maxOutputTokens: 100, temperature: 0.2 }
      })
    }).pipe(Effect.scoped))

  // Inline server: FaultServer's text answer is a single non-thought part.
  it.live("returns the non-thought text parts, joined", () =>
    Effect.gen(function*() {
      const server = yield* fixedReply({
        candidates: [{
          content: { role: "model", parts: [{ text: "thinking…", thought: true }, { text: "A fox " }, { text: "in snow." }] },
          finishReason: "STOP"
        }]
      })
      const text = yield* texts(server.url)
      const result = yield* text.generate(TextRequest.make({ messages: [{ role: "user", content: "Describe a fox." }] }))
      expect(result.text).toBe("A fox in snow.")
      expect(server.count()).toBe(1)
    }).pipe(Effect.scoped))

  // Inline server: no FaultServer fault answers a 200 with no parts (finish reason OTHER).
  it.live("an empty answer is ProviderUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* fixedReply({ candidates: [{ content: { role: "model", parts: [] }, finishReason: "OTHER" }] })
      const text = yield* texts(server.url)
      const error = yield* Effect.flip(text.generate(TextRequest.make({ messages: [{ role: "user", content: "Hi" }] })))
      expect(error._tag).toBe("ProviderUnavailable")
    }).pipe(Effect.scoped))
})
