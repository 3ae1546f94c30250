import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Duration, Effect, Layer, Redacted } from "effect"
import { OpenAIClient } from "../src/OpenAIClient.js"

describe("OpenAIClient", () => {
  it.effect("builds the SDK client with its retries off and Ballast's timeout", () =>
    Effect.gen(function*() {
      const service = yield* OpenAIClient.make({
        apiKey: Redacted.make("sk-test"),
        baseUrl: "http://127.0.0.1:1/v1",
        timeout: Duration.seconds(5),
        headers: { "x-team": "ballast" },
        provider: "azure-eu"
      })
      expect(service.client.maxRetries).toBe(0)
      expect(service.client.timeout).toBe(5_000)
      expect(service.client.baseURL).toBe("http://127.0.0.1:1/v1")
      expect(service.provider).toBe("azure-eu")
      expect(String(service.apiKey)).not.toContain("sk-test")
    }))

  it.effect("defaults to a 120 s timeout and the provider label openai", () =>
    Effect.gen(function*() {
      const service = yield* OpenAIClient.make({ apiKey: Redacted.make("sk-test") })
      expect(service.client.timeout).toBe(120_000)
      expect(service.provider).toBe("openai")
    }))

  it.effect("reads OPENAI_API_KEY and OPENAI_BASE_URL from configuration", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-config"], ["OPENAI_BASE_URL", "http://127.0.0.1:2/v1"]]))
      const service = yield* Effect.provide(
        OpenAIClient,
        OpenAIClient.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      )
      expect(Redacted.value(service.apiKey)).toBe("sk-config")
      expect(service.client.baseURL).toBe("http://127.0.0.1:2/v1")
      const missing = yield* Effect.flip(Effect.provide(
        OpenAIClient,
        OpenAIClient.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))))
      ))
      expect(ConfigError.isMissingDataOnly(missing)).toBe(true)
    }))
})
