import { TextGenerator, TextRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { OpenAIClient } from "../src/OpenAIClient.js"
import { type Reply, replying } from "./utils/replying.js"
import * as OpenAITextGenerator from "../src/OpenAITextGenerator.js"

const apiKey = "gsk_TESTKEY1234567890abcdef"
/** What FaultServer's chat completions say. */
const faultText = "Hello from the fault server."

const generatorAt = (baseUrl: string, options: OpenAITextGenerator.Options) =>
  Effect.provide(
    TextGenerator,
    OpenAITextGenerator.layer(options).pipe(
      Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make(apiKey), baseUrl, provider: "groq" }))
    )
  )

const hi = TextRequest.make({ messages: [{ role: "user", content: "hi" }] })

/** A fault server and its OpenAI base URL. */
const faultServer = Effect.map(FaultServer.make(), (server) => ({ server, baseUrl: `${server.url}/v1` }))



// FaultServer's chat answers are a finished completion with text, or one
// refused with `content_filter`; its 401 never echoes the caller's key. The
// cases that depend on another body (no finish reason, no content, no choices,
// a text/plain 200, a masked key echoed back) use this minimal server instead:
// it answers the replies in order (the last one repeats) and counts the requests.

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

describe("OpenAITextGenerator", () => {
  it.scopedLive("returns the completion's text and sends the messages as given, in exactly one request", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const text = yield* generatorAt(baseUrl, { model: "llama-3.3-70b-versatile" })
      const result = yield* text.generate(hi)
      expect(result).toMatchObject({ text: faultText, provider: "groq", route: "groq/llama-3.3-70b-versatile" })
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]).toMatchObject({
        api: "openai-chat",
        method: "POST",
        path: "/v1/chat/completions",
        body: { model: "llama-3.3-70b-versatile", messages: [{ role: "user", content: "hi" }] }
      })
      expect(requests[0]?.headers.authorization).toBe(`Bearer ${apiKey}`)
    }))

  it.scopedLive("sends max_tokens and temperature when set", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const text = yield* generatorAt(baseUrl, { model: "gpt-4.1", provider: "openai" })
      const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Describe a fox." }] as const
      const result = yield* text.generate(TextRequest.make({ messages: [...messages], maxTokens: 50, temperature: 0.2 }))
      expect(result).toMatchObject({ text: faultText, provider: "openai" })
      expect((yield* server.requests)[0]?.body).toEqual({ model: "gpt-4.1", messages, max_tokens: 50, temperature: 0.2 })
    }))

  it.scopedLive("refuses answers without a finish reason or text", () =>
    Effect.gen(function*() {
      // Inline server: no FaultServer fault answers these 200s
      const server = yield* replying(
        completion("Hel", null),
        completion(null, "stop"),
        { status: 200, body: { id: "x", object: "chat.completion", choices: [] } },
        { status: 200, body: "upstream says hi", headers: { "content-type": "text/plain" } }
      )
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      for (let i = 0; i < 4; i++) {
        expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("ProviderUnavailable")
      }
      expect(server.count()).toBe(4)
      // FaultServer's "no-image" chat answer: content null, finish_reason content_filter
      const fault = yield* faultServer
      yield* fault.server.script("gpt-4.1", ["no-image"])
      const filtered = yield* generatorAt(fault.baseUrl, { model: "gpt-4.1" })
      expect((yield* Effect.flip(filtered.generate(hi)))._tag).toBe("ContentRejected")
    }))

  it.scopedLive("translates errors once, with one request each", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-4.1", [{ fault: "rate-limited", retryAfterSeconds: 2 }, "overloaded", "unauthorized"])
      const text = yield* generatorAt(baseUrl, { model: "gpt-4.1" })
      const limited = yield* Effect.flip(text.generate(hi))
      expect(limited._tag === "RateLimited" && limited.retryAfter).toEqual(Option.some(Duration.seconds(2)))
      expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("Overloaded")
      const unauthorized = yield* Effect.flip(text.generate(hi))
      expect(unauthorized._tag).toBe("Unauthorized")
      expect(JSON.stringify(unauthorized)).not.toContain(apiKey)
      const requests = yield* server.requests
      expect(requests.map((r) => r.fault)).toEqual(["rate-limited", "overloaded", "unauthorized"])
      expect(requests.map((r) => r.headers["x-stainless-retry-count"])).toEqual(["0", "0", "0"])
    }))

  // Inline server: FaultServer's 503 is the only overload it sends (not 529), and its 401 does not echo the key.
  it.scopedLive("a 529 is Overloaded, and a masked key echoed in a 401 is scrubbed", () =>
    Effect.gen(function*() {
      const server = yield* replying(
        { status: 529, body: { error: { type: "overloaded_error", message: "Overloaded" } } },
        {
          status: 401,
          body: {
            error: {
              message: `Incorrect API key provided: ${apiKey.slice(0, 8)}****. You can find your API key elsewhere.`,
              type: "invalid_request_error",
              param: null,
              code: "invalid_api_key"
            }
          }
        }
      )
      const text = yield* generatorAt(server.baseUrl, { model: "gpt-4.1" })
      expect((yield* Effect.flip(text.generate(hi)))._tag).toBe("Overloaded")
      const unauthorized = yield* Effect.flip(text.generate(hi))
      expect(unauthorized._tag).toBe("Unauthorized")
      expect(unauthorized.message).not.toContain(apiKey.slice(0, 8))
      expect(server.count()).toBe(2)
    }))

  it.scopedLive("aborts the HTTP request when the call is interrupted", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      yield* server.script("gpt-4.1", ["hang"])
      const text = yield* generatorAt(baseUrl, { model: "gpt-4.1" })
      const fiber = yield* Effect.fork(text.generate(hi))
      yield* FaultServer.waitFor(server, (requests) => requests.length === 1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
      const requests = yield* FaultServer.waitFor(server, (requests) => requests[0]?.aborted === true)
      expect(requests).toHaveLength(1)
    }))

  it.scopedLive("probes with the model's metadata", () =>
    Effect.gen(function*() {
      const { baseUrl, server } = yield* faultServer
      const text = yield* generatorAt(baseUrl, { model: "gpt-4.1" })
      yield* text.probe!
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]).toMatchObject({ method: "GET", path: "/v1/models/gpt-4.1", fault: "ok" })
    }))
})
