import { Capabilities, ImageGenerator, ImageRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { OpenAIClient } from "../src/OpenAIClient.js"
import * as OpenAIImageGenerator from "../src/OpenAIImageGenerator.js"
import { eventually, imagesOk, openAIError, pngBytes, start } from "./utils/LocalServer.js"

const apiKey = "sk-proj-TESTKEY1234567890abcdefXYZ"

const generatorAt = (baseUrl: string, options: OpenAIImageGenerator.Options, timeout?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const layer = OpenAIImageGenerator.layer(options).pipe(
      Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make(apiKey), baseUrl, ...(timeout ? { timeout } : {}) }))
    )
    return yield* Effect.provide(ImageGenerator, layer)
  })

const request = (fields: Partial<ConstructorParameters<typeof ImageRequest>[0]> = {}) =>
  ImageRequest.make({ prompt: "a lighthouse at dusk", ...fields })

describe("OpenAIImageGenerator", () => {
  it.scopedLive("decodes base64 images and reports provenance", () =>
    Effect.gen(function*() {
      const server = yield* start()
      server.script(imagesOk(2, { output_format: "webp" }))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const result = yield* images.generate(request({ n: 2 }))
      expect(result.images).toHaveLength(2)
      expect(result.images[0]?.data).toEqual(pngBytes)
      expect(result.images[0]?.mimeType).toBe("image/webp")
      expect(result).toMatchObject({ provider: "openai", model: "gpt-image-2", route: "openai/gpt-image-2", degraded: false })
      const sent = server.received[0]
      expect(sent?.method).toBe("POST")
      expect(sent?.path).toBe("/v1/images/generations")
      expect(sent?.body).toEqual({ model: "gpt-image-2", prompt: "a lighthouse at dusk", n: 2, size: "1024x1024" })
    }))

  it.scopedLive("defaults the MIME type to PNG", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const result = yield* images.generate(request())
      expect(result.images[0]?.mimeType).toBe("image/png")
    }))

  it.scopedLive("asks gpt-image-2 for 3840x2160 at 4K 16:9", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const result = yield* images.generate(request({ resolution: "4K", aspectRatio: "16:9" }))
      expect(server.received[0]?.body).toMatchObject({ size: "3840x2160" })
      expect(server.received[0]?.body).not.toHaveProperty("response_format")
      expect(result).toMatchObject({ resolution: "4K", aspectRatio: "16:9", degraded: false })
    }))

  it.scopedLive("asks gpt-image-1.5 for its nearest fixed size and reports what it delivered", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-1.5" })
      const result = yield* images.generate(request({ resolution: "1K", aspectRatio: "21:9" }))
      expect(server.received[0]?.body).toMatchObject({ size: "1536x1024" })
      expect(result).toMatchObject({ resolution: "1K", aspectRatio: "3:2", requestedResolution: "1K", degraded: true })
      const big = yield* images.generate(request({ resolution: "4K", aspectRatio: "1:1" }))
      expect(server.received[1]?.body).toMatchObject({ size: "1024x1024" })
      expect(big).toMatchObject({ resolution: "1K", requestedResolution: "4K", degraded: true })
    }))

  it.scopedLive("sends response_format to compatible servers that need it", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const images = yield* generatorAt(server.baseUrl, {
        model: "flux-schnell",
        provider: "flux-local",
        route: "flux",
        responseFormat: "b64_json"
      })
      const result = yield* images.generate(request({ aspectRatio: "16:9" }))
      expect(server.received[0]?.body).toEqual({
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
      const server = yield* start()
      server.script(openAIError(401, {
        message: `Incorrect API key provided: ${apiKey.slice(0, 8)}***${apiKey.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key"
      }))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(server.received[0]?.headers.authorization).toBe(`Bearer ${apiKey}`)
      expect(error._tag).toBe("Unauthorized")
      expect(error.message).not.toContain(apiKey.slice(0, 8))
      expect(error.message).not.toContain(apiKey.slice(-4))
      expect(JSON.stringify(error)).not.toContain(apiKey.slice(0, 8))
    }))

  it.scopedLive("makes exactly one request on 503 and 429 (no SDK retries)", () =>
    Effect.gen(function*() {
      const server = yield* start()
      server.script(
        openAIError(503, { message: "That model is currently overloaded with other requests.", type: "server_error", param: null, code: null }),
        openAIError(429, { code: "rate_limit_exceeded", message: "Rate limit exceeded", param: null, type: "requests" }, {
          "retry-after-ms": "250",
          "retry-after": "1"
        }),
        { status: 500, body: "<html><body>Internal Server Error</body></html>", headers: { "content-type": "text/html" } }
      )
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const overloaded = yield* Effect.flip(images.generate(request()))
      expect(overloaded._tag).toBe("Overloaded")
      expect(server.received).toHaveLength(1)
      const limited = yield* Effect.flip(images.generate(request()))
      expect(limited._tag).toBe("RateLimited")
      expect(limited._tag === "RateLimited" && limited.retryAfter).toEqual(Option.some(Duration.millis(250)))
      expect(server.received).toHaveLength(2)
      const html = yield* Effect.flip(images.generate(request()))
      expect(html._tag).toBe("ProviderUnavailable")
      expect(html.message).not.toContain("<html")
      expect(server.received).toHaveLength(3)
      expect(server.received.map((r) => r.headers["x-stainless-retry-count"])).toEqual(["0", "0", "0"])
    }))

  it.scopedLive("aborts the HTTP request when the call is interrupted", () =>
    Effect.gen(function*() {
      const server = yield* start({ hang: true })
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const fiber = yield* Effect.fork(images.generate(request()))
      yield* eventually(() => server.received.length === 1)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* eventually(() => server.received[0]?.aborted === true)
      expect(server.received).toHaveLength(1)
    }))

  it.scopedLive("times out with Timeout after the client's timeout, once", () =>
    Effect.gen(function*() {
      const server = yield* start({ hang: true })
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" }, Duration.millis(200))
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag).toBe("Timeout")
      expect(server.received).toHaveLength(1)
    }))

  it.scopedLive("maps unusable 200s to ProviderUnavailable", () =>
    Effect.gen(function*() {
      const server = yield* start()
      server.script(
        { status: 200, body: "<html>maintenance</html>", headers: { "content-type": "text/html" } },
        { status: 200, body: { created: 1, data: [] } },
        { status: 200, body: { created: 1 } },
        { status: 200, body: "{\"created\": 1, \"data\": [", headers: { "content-type": "application/json" } },
        { status: 200, body: { created: 1, data: [{ url: "https://example.com/a.png" }] } },
        { status: 200, body: { created: 1, data: [{ b64_json: "!!not base64!!" }] } }
      )
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      for (let i = 0; i < 6; i++) {
        const error = yield* Effect.flip(images.generate(request()))
        expect(error._tag).toBe("ProviderUnavailable")
      }
      expect(server.received).toHaveLength(6)
    }))

  // TestClock starts at the epoch, so an HTTP-date 30 s after it is 30 s away:
  // the delay is measured with Clock, not Date.now().
  it.scoped("measures a retry-after HTTP-date with the Effect Clock", () =>
    Effect.gen(function*() {
      const server = yield* start(openAIError(429, { code: "rate_limit_exceeded", message: "slow down", param: null, type: "requests" }, {
        "retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"
      }))
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag === "RateLimited" && error.retryAfter).toEqual(Option.some(Duration.seconds(30)))
    }))

  it.scopedLive("maps a refused connection to ProviderUnavailable", () =>
    Effect.gen(function*() {
      const baseUrl = yield* Effect.scoped(Effect.map(start(), (s) => s.baseUrl))
      const images = yield* generatorAt(baseUrl, { model: "gpt-image-2" })
      const error = yield* Effect.flip(images.generate(request()))
      expect(error._tag).toBe("ProviderUnavailable")
    }))

  it.scopedLive("probes with the model's metadata", () =>
    Effect.gen(function*() {
      const server = yield* start({ status: 200, body: { id: "gpt-image-2", object: "model", created: 1, owned_by: "openai" } })
      const images = yield* generatorAt(server.baseUrl, { model: "gpt-image-2" })
      yield* images.probe!
      expect(server.received[0]).toMatchObject({ method: "GET", path: "/v1/models/gpt-image-2" })
    }))

  it.scopedLive("reports a missing model from the probe as a route-scoped BadRequest", () =>
    Effect.gen(function*() {
      const server = yield* start(openAIError(404, {
        message: "The model `dall-e-3` does not exist or you do not have access to it.",
        type: "invalid_request_error",
        param: null,
        code: "model_not_found"
      }))
      const images = yield* generatorAt(server.baseUrl, { model: "dall-e-3" })
      const error = yield* Effect.flip(images.probe!)
      expect(error).toMatchObject({ _tag: "BadRequest", scope: "route", model: "dall-e-3" })
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
      const server = yield* start()
      const capabilities = Capabilities.ModelCapabilities.make({
        model: "my-diffusion",
        provider: "local",
        modalities: ["image"],
        resolutions: ["1K"],
        aspectRatios: ["1:1"],
        sizing: { kind: "fixed", sizes: ["512x512"] }
      })
      const images = yield* generatorAt(server.baseUrl, { model: "my-diffusion", capabilities })
      const result = yield* images.generate(request({ resolution: "2K" }))
      expect(server.received[0]?.body).toMatchObject({ size: "512x512" })
      expect(result).toMatchObject({ resolution: "1K", degraded: true })
    }))
})
