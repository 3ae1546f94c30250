import { describe, expect, it } from "@effect/vitest"
import { ImageGenerator, ImageRequest } from "@ballast/core"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { GeminiClient, GeminiImageGenerator } from "../src/index.js"
import * as Server from "./fixtures/GeminiServer.js"

const apiKey = "AIzaSyCONFIGKEY-0123456789abcdefghijklm"
const model = "gemini-3.1-flash-image-preview"

describe("GeminiClient", () => {
  it.live("layerConfig reads GEMINI_API_KEY and GEMINI_BASE_URL; extra headers are sent and scrubbed", () =>
    Effect.gen(function*() {
      const token = "tenant-secret-7f3a9c"
      const server = yield* Server.start((request) =>
        Server.json(400, {
          error: { code: 400, message: `bad tenant ${request.headers["x-tenant"]} for ${apiKey}`, status: "INVALID_ARGUMENT" }
        })
      )
      const config = ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", apiKey], ["GEMINI_BASE_URL", server.url]]))
      const generator = yield* Effect.provide(
        ImageGenerator,
        GeminiImageGenerator.layer({ model }).pipe(
          Layer.provide(GeminiClient.layerConfig({ headers: { "x-tenant": token } })),
          Layer.provide(Layer.setConfigProvider(config))
        )
      )
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag === "BadRequest" && error.scope).toBe("request")
      expect(error.message).not.toContain(apiKey)
      expect(error.message).not.toContain(token)
      const request = server.received[0]!
      expect(request.url).toBe(`/v1beta/models/${model}:generateContent`)
      expect(request.headers["x-goog-api-key"]).toBe(apiKey)
      expect(request.headers["x-tenant"]).toBe(token)
    }).pipe(Effect.scoped))

  it.effect("layerConfig fails without GEMINI_API_KEY, and the key is redacted when present", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.exit(
        Effect.provide(GeminiClient, GeminiClient.layerConfig()).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      const client = yield* Effect.provide(GeminiClient, GeminiClient.layerConfig({ vertex: { project: "p", location: "us-central1" } })).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", apiKey]])))
      )
      expect(client.location).toEqual(Option.some("us-central1"))
      expect(client.scrub(`key ${apiKey}`)).toBe("key [redacted]")
    }))
})
