import { TextGenerator, TextRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { OpenAIClient } from "../src/OpenAIClient.js"
import * as OpenAITextGenerator from "../src/OpenAITextGenerator.js"
import { eventually, openAIError, type Reply, start } from "./utils/LocalServer.js"

const apiKey = "gsk_TESTKEY1234567890abcdef"

const completion = (content: string | null, finishReason: string | null = "stop"): Reply => ({
  status: 200,
  body: {
    id: "chatcmpl-abc",
    object: "chat.completion",
    created: 1741569952,
    model: "gpt-4.1-2025-04-14",
    choices: [{
      index: 0,
      message: { role: "assistant", content, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: finishReason
    }],
    usage: { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29 }
  }
})

const generatorAt = (baseUrl: string, options: OpenAITextGenerator.Options) =>
  Effect.provide(
    TextGenerator,
    OpenAITextGenerator.layer(options).pipe(
      Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make(apiKey), baseUrl, provider: "groq" }))
    )
  )

const hi = TextRequest.make({ messages: [{ role: "user", content: "hi" }] })

describe("OpenAITextGenerator", () => {
  it.scopedLive("returns the completion's text and sends the messages as given", () =>
    Effect.gen(function*() {
      const server = yield* start(completion("Hello!"))
      const text = yield* generatorAt(server.baseUrl, { model: "llama-3.3-70b-versatile" })
      const result = yield* text.generate(hi)
      expect(result).toMatchObject({ text: "Hello!", provider: "groq", route: "groq/llama-3.3-70b-versatile" })
      expect(server.received[0]).toMatchObject({
        method: "POST",
        path: "/v1/chat/completions",
        body: { model: "llama-3.3-70b-versatile", messages: [{ role: "user", content: "hi" }] }
      })
      expect(server.received[0]?.headers.authorization).toBe(`Bearer ${apiKey}`)
    }))

  it.scopedLive("sends max_tokens and temperature when set", () =>
    Effect.gen(function*() {
      const server = yield* start(completion("A fox."))
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1", provider: "openai" })
      const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Describe a fox." }] as const
      const result = yield* text.generate(TextRequest.make({ messages: [...messages], maxTokens: 50, temperature: 0.2 }))
      expect(result).toMatchObject({ text: "A fox.", provider: "openai" })
      expect(server.received[0]?.body).toEqual({ model: "gpt-4.1", messages, max_tokens: 50, temperature: 0.2 })
    }))

  it.scopedLive("refuses answers without a finish reason or text", () =>
    Effect.gen(function*() {
      const server = yield* start()
      server.script(
        completion("Hel", null),
        completion(null, "stop"),
        { status: 200, body: { id: "x", object: "chat.completion", choices: [] } },
        { status: 200, body: "upstream says hi", headers: { "content-type": "text/plain" } }
      )
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      for (let i = 0; i < 4; i++) {
        expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("ProviderUnavailable")
      }
      server.script(completion("", "content_filter"))
      expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("ContentRejected")
    }))

  it.scopedLive("translates errors once, with one request each", () =>
    Effect.gen(function*() {
      const server = yield* start()
      server.script(
        openAIError(429, { message: "Rate limit reached for gpt-4.1", type: "tokens", param: null, code: "rate_limit_exceeded" }, {
          "retry-after": "2"
        }),
        openAIError(529, { type: "overloaded_error", message: "Overloaded" }),
        openAIError(401, {
          message: `Incorrect API key provided: ${apiKey.slice(0, 8)}****. You can find your API key elsewhere.`,
          type: "invalid_request_error",
          param: null,
          code: "invalid_api_key"
        })
      )
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      const limited = yield* Effect.flip(text.generate(hi))
      expect(limited._tag === "RateLimited" && limited.retryAfter).toEqual(Option.some(Duration.seconds(2)))
      expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("Overloaded")
      const unauthorized = yield* Effect.flip(text.generate(hi))
      expect(unauthorized._tag).toBe("Unauthorized")
      expect(unauthorized.message).not.toContain(apiKey.slice(0, 8))
      expect(server.received.map((r) => r.headers["x-stainless-retry-count"])).toEqual(["0", "0", "0"])
    }))

  it.scopedLive("aborts the HTTP request when the call is interrupted", () =>
    Effect.gen(function*() {
      const server = yield* start({ hang: true })
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      const fiber = yield* Effect.fork(text.generate(hi))
      yield* eventually(() => server.received.length === 1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
      yield* eventually(() => server.received[0]?.aborted === true)
    }))

  it.scopedLive("probes with the model's metadata", () =>
    Effect.gen(function*() {
      const server = yield* start({ status: 200, body: { id: "gpt-4.1", object: "model", created: 1, owned_by: "openai" } })
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      yield* text.probe!
      expect(server.received[0]).toMatchObject({ method: "GET", path: "/v1/models/gpt-4.1" })
    }))
})
