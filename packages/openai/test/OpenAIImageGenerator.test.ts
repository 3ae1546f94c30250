import { Capabilities, ImageGenerator, ImageRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { OpenAIClient } from "../src/OpenAIClient.js"
import { type Reply, replying } from "./utils/replying.js"
import * as OpenAIImageGenerator from "../src/OpenAIImageGenerator.js"

const apiKey = "sk-proj-TESTKEY1234567890abcdefXYZ"
/** The PNG of every successful FaultServer image answer. */
const pngBytes = Uint8Array.from(Buffer.from(FaultServer.pngBase64, "base64"))

const generatorAt = (baseUrl: string, options: OpenAIImageGenerator.Options, timeout?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const layer = OpenAIImageGenerator.layer(options).pipe(
      Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make(apiKey), baseUrl, ...(timeout ? { timeout } : {}) }))
    )
    return yield* Effect.provide(ImageGenerator, layer)
  })

const request = (fields: Partial<ConstructorParameters<typeof ImageRequest>[0]> = {}) =>
  ImageRequest.make({ prompt: "a lighthouse at dusk", ...fields })

/** A fault server and its OpenAI base URL. */
const faultServer = Effect.map(FaultServer.make(), (server) => ({ server, baseUrl: `${server.url}/v1` }))



// FaultServer's image answers always carry `output_format: "png"` and base64
// PNGs, its 401 never echoes the caller's key, and its `retry-after` is a number
// of seconds. The cases that depend on another body or header (no or another
// `output_format`, unusable 200 bodies, a masked key echoed back, an HTTP-date
// `retry-after`) use this minimal server instead: it answers the replies in
// order (the last one repeats) and counts the requests.

const imagesOk = (count: number, extra: object = {}): Reply => ({
  status: 200,
  body: { created: 1763769600, data: Array.from({ length: count }, () => ({ b64_json: FaultServer.pngBase64 })), ...extra }
})

const openAIError = (status: number, error: object, headers: Record<string, string> = {}): Reply => ({
  status,
  body: JSON.stringify({ error }, null, 2),
  headers: { "content-type": "application/json", ...headers }
})

describe("OpenAIImageGenerator", () => {
  it.scopedLive("decodes base64 images and reports provenance, in exactly one request", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const result = yield* images.generate(request({ n: 2 }))
      expect(result.images).toHaveLength(2)
      expect(result.images[0]?.data).toEqual(pngBytes)
      expect(result.images[0]?.mimeType).toBe("image/png")
      expect(result).toMatchObject({ provider: "openai", model: "gpt-image-2", route: "openai/gpt-image-2", degraded: false })
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      const sent = requests[0]
      expect(sent?.api).toBe("openai-images")
      expect(sent?.method).toBe("POST")
      expect(sent?.path).toBe("/v1/images/generations")
      expect(sent?.body).toEqual({ model: "gpt-image-2", prompt: "a lighthouse at dusk", n: 2, size: "1024x1024" })
    }))

  // Inline server: FaultServer always answers output_format "png".
  it.scopedLive("takes the MIME type from output_format, and defaults it to PNG", () =>
    Effect.gen(function*() {
      const server = yield* replying(imagesOk(2, { output_format: "webp" }), imagesOk(1))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const webp = yield* images.generate(request({ n: 2 }))
      expect(webp.images).toHaveLength(2)
      expect(webp.images[0]?.data).toEqual(pngBytes)
      expect(webp.images[0]?.mimeType).toBe("image/webp")
      const result = yield* images.generate(request())
      expect(result.images[0]?.mimeType).toBe("image/png")
      expect(server.count()).toBe(2)
    }))

  it.scopedLive("asks gpt-image-2 for 3840x2160 at 4K 16:9", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const result = yield* images.generate(request({ resolution: "4K", aspectRatio: "16:9" }))
      const [sent] = yield* server.requests
      expect(sent?.body).toMatchObject({ size: "3840x2160" })
      expect(sent?.body).not.toHaveProperty("response_format")
      expect(result).toMatchObject({ resolution: "4K", aspectRatio: "16:9", degraded: false })
    }))

  it.scopedLive("asks gpt-image-1.5 for its nearest fixed size and reports what it delivered", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-1.5" })
      const result = yield* images.generate(request({ resolution: "1K", aspectRatio: "21:9" }))
      expect((yield* server.requests)[0]?.body).toMatchObject({ size: "1536x1024" })
      expect(result).toMatchObject({ resolution: "1K", aspectRatio: "3:2", requestedResolution: "1K", degraded: true })
      const big = yield* images.generate(request({ resolution: "4K", aspectRatio: "1:1" }))
      expect((yield* server.requests)[1]?.body).toMatchObject({ size: "1024x1024" })
      expect(big).toMatchObject({ resolution: "1K", requestedResolution: "4K", degraded: true })
    }))

  it.scopedLive("sends response_format to compatible servers that need it", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const images = yield* generatorAt(baseUrl, {
        model: "flux-schnell",
        provider: "flux-local",
        route: "flux",
        responseFormat: "b64_json"
      })
      const result = yield* images.generate(request({ aspectRatio: "16:9" }))
      expect((yield* server.requests)[0]?.body).toEqual({
        model: "flux-schnell",
        prompt: "a lighthouse at dusk",
        n: 1,
        size: "1344x768",
        response_format: "b64_json"
      })
      expect(result).toMatchObject({ provider: "flux-local", route: "flux" })
    }))

  it.scopedLive("sends the bearer token, and keeps it out of errors", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-image-2", ["unauthorized"])
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]?.headers.authorization).toBe(`Bearer ${apiKey}`)
      expect(error._tag).toBe("Unauthorized")
      expect(JSON.stringify(error)).not.toContain(apiKey)
    }))

  // Inline server: FaultServer's 401 does not echo the caller's (masked) key.
  it.scopedLive("scrubs a masked key echoed back in a 401", () =>
    Effect.gen(function*() {
      const server = yield* replying(openAIError(401, {
        message: `Incorrect API key provided: ${apiKey.slice(0, 8)}***${apiKey.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key"
      }))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag).toBe("Unauthorized")
      expect(error.message).not.toContain(apiKey.slice(0, 8))
      expect(error.message).not.toContain(apiKey.slice(-4))
      expect(JSON.stringify(error)).not.toContain(apiKey.slice(0, 8))
      expect(server.count()).toBe(1)
    }))

  it.scopedLive("makes exactly one request on 503 and 429 (no SDK retries)", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-image-2", [
        "overloaded",
        { fault: "rate-limited", retryAfterMs: 250, retryAfterSeconds: 1 },
        "bad-gateway"
      ])
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const overloaded = yield* Effect.flip(images.generate(request()))
      expect(overloaded._tag).toBe("Overloaded")
      expect(yield* server.requests).toHaveLength(1)
      const limited = yield* Effect.flip(images.generate(request()))
      expect(limited._tag).toBe("RateLimited")
      expect(limited._tag === "RateLimited" && limited.retryAfter).toEqual(Option.some(Duration.millis(250)))
      expect(yield* server.requests).toHaveLength(2)
      // an HTML 502 page
      const html = yield* Effect.flip(images.generate(request()))
      expect(html._tag).toBe("ProviderUnavailable")
      expect(html.message).not.toContain("<html")
      const requests = yield* server.requests
      expect(requests.map((r) => r.fault)).toEqual(["overloaded", "rate-limited", "bad-gateway"])
      expect(requests.map((r) => r.headers["x-stainless-retry-count"])).toEqual(["0", "0", "0"])
    }))

  it.scopedLive("aborts the HTTP request when the call is interrupted", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-image-2", ["hang"])
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const fiber = yield* Effect.fork(images.generate(request()))
      yield* FaultServer.waitFor(server, (requests) => requests.length === 1)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const requests = yield* FaultServer.waitFor(server, (requests) => requests[0]?.aborted === true)
      expect(requests).toHaveLength(1)
    }))

  it.scopedLive("times out with Timeout after the client's timeout, once", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-image-2", ["hang"])
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" }, Duration.millis(200))
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag).toBe("Timeout")
      const requests = yield* FaultServer.waitFor(server, (requests) => requests[0]?.aborted === true)
      expect(requests).toHaveLength(1)
    }))

  it.scopedLive("maps unusable 200s to ProviderUnavailable", () =>
    Effect.gen(function*() {
      // no images (`data: []`), a malformed JSON body, a body cut short
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-image-2", ["no-image", "malformed-json", "sse-cut"])
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(images.generate(request()))
        expect(error._tag).toBe("ProviderUnavailable")
      }
      expect(yield* server.requests).toHaveLength(3)
      // Inline server: an HTML page, no `data`, URLs instead of base64, bad base64 (no FaultServer fault answers these)
      const inline = yield* replying(
        { status: 200, body: "<html>maintenance</html>", headers: { "content-type": "text/html" } },
        { status: 200, body: { created: 1 } },
        { status: 200, body: { created: 1, data: [{ url: "https://example.com/a.png" }] } },
        { status: 200, body: { created: 1, data: [{ b64_json: "!!not base64!!" }] } }
      )
      const compatible = yield* generatorAt(inline.baseUrl, { model: "gpt-image-2" })
      for (let i = 0; i < 4; i++) {
        const error = yield* Effect.flip(compatible.generate(request()))
        expect(error._tag).toBe("ProviderUnavailable")
      }
      expect(inline.count()).toBe(4)
    }))

  // TestClock starts at the epoch, so an HTTP-date 30 s after it is 30 s away:
  // the delay is measured with Clock, not Date.now().
  // Inline server: FaultServer's retry-after is a number of seconds, never an HTTP-date.
  it.scoped("measures a retry-after HTTP-date with the Effect Clock", () =>
    Effect.gen(function*() {
      const server = yield* replying(openAIError(429, { code: "rate_limit_exceeded", message: "slow down", param: null, type: "requests" }, {
        "retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"
      }))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag === "RateLimited" && error.retryAfter).toEqual(Option.some(Duration.seconds(30)))
    }))

  it.scopedLive("maps a refused connection to ProviderUnavailable", () =>
    Effect.gen(function*() {
      const baseUrl = yield* Effect.scoped(Effect.map(faultServer, (s) => s.baseUrl))
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag).toBe("ProviderUnavailable")
    }))

  it.scopedLive("probes with the model's metadata", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      yield* images.probe!
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]).toMatchObject({ method: "GET", path: "/v1/models/gpt-image-2", model: "gpt-image-2", fault: "ok" })
      expect(requests[0]?.headers.authorization).toBe(`Bearer ${apiKey}`)
    }))

  it.scopedLive("reports a missing model from the probe as a route-scoped BadRequest", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("dall-e-3", ["not-found"])
      const images = yield* generatorAt(baseUrl, { model: "dall-e-3" })
      const error = yield* Effect.flip(images.probe!)
      expect(error).toMatchObject({ _tag: "BadRequest", scope: "route", model: "dall-e-3" })
      expect((yield* server.requests).map((r) => [r.method, r.path, r.fault])).toEqual([["GET", "/v1/models/dall-e-3", "not-found"]])
    }))

  it.effect("refuses to build for a model it cannot size", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(generatorAt("http://127.0.0.1:9/v1", { model: "my-diffusion" }))
      expect(unknown).toBeInstanceOf(OpenAIImageGenerator.UnsupportedModel)
      expect(unknown.message).toContain("capabilities")
      const gemini = yield* Effect.flip(generatorAt("http://127.0.0.1:9/v1", { model: "gemini-3-pro-image-preview" }))
      expect(gemini._tag).toBe("UnsupportedModel")
      const text = yield* Effect.flip(generatorAt("http://127.0.0.1:9/v1", { model: "gpt-4.1" }))
      expect(text._tag).toBe("UnsupportedModel")
    }))

  it.scopedLive("uses capabilities given for a model the table does not know", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const capabilities = Capabilities.ModelCapabilities.make({
        model: "my-diffusion",
        provider: "local",
        modalities: ["image"],
        resolutions: ["1K"],
        aspectRatios: ["1:1"],
        sizing: { kind: "fixed", sizes: ["512x512"] }
      })
      const images = yield* generatorAt(baseUrl, { model: "my-diffusion", capabilities })
      const result = yield* images.generate(request({ resolution: "2K" }))
      expect((yield* server.requests)[0]?.body).toMatchObject({ size: "512x512" })
      expect(result).toMatchObject({ resolution: "1K", degraded: true })
    }))
})
