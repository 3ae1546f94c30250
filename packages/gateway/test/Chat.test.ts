/**
 * Text models through the gateway, on a real server bound to 127.0.0.1:0 in
 * front of the fault server: OpenAI chat completions and Gemini
 * `generateContent` decoded into a `TextRequest` (every mistake a 400 naming
 * the field), the model kinds kept apart, and the answers in each wire's shape.
 */
import { describe, expect, it } from "@effect/vitest"
import { FaultServer } from "@ballast/testing"
import { ConfigProvider, Effect, Logger, LogLevel } from "effect"
import { Gateway, GatewayConfig, VirtualKeys } from "../src/index.js"

const key = "sk-ballast-test-key"
const pro = "gemini-3-pro-image-preview"
const hello = "Hello from the fault server."

const start = Effect.gen(function*() {
  const server = yield* FaultServer.make()
  const config = yield* GatewayConfig.decode({
    server: { port: 0 },
    keys: [{ name: "test", sha256: VirtualKeys.hash(key) }],
    providers: {
      google: { kind: "google", baseUrl: server.url, apiKeyEnv: "TEST_GOOGLE_KEY", timeout: "5 seconds" },
      openai: { kind: "openai", baseUrl: `${server.url}/v1`, apiKeyEnv: "TEST_OPENAI_KEY", timeout: "5 seconds" },
      anthropic: { kind: "openai-compatible", baseUrl: `${server.url}/v1`, apiKeyEnv: "TEST_OPENAI_KEY", timeout: "5 seconds" }
    },
    models: {
      [pro]: {
        pipeline: {
          routes: { "gemini-pro": { provider: "google", model: pro } },
          plan: [{ route: "gemini-pro" }],
          retry: { attempts: 1 },
          health: { enabled: false },
          routing: { canary: 0 }
        }
      },
      "gpt-5.2": {
        aliases: ["chat"],
        pipeline: {
          kind: "text",
          routes: {
            gpt: { provider: "openai", model: "gpt-5.2" },
            claude: { provider: "anthropic", model: "claude-sonnet-4-5" }
          },
          plan: [{ route: "gpt" }, { route: "claude" }],
          retry: { attempts: 1 },
          health: { enabled: false },
          hedge: { enabled: false },
          routing: { canary: 0 }
        }
      },
      "gemini-2.5-flash": {
        pipeline: {
          kind: "text",
          routes: { flash: { provider: "google", model: "gemini-2.5-flash" } },
          plan: [{ route: "flash" }],
          retry: { attempts: 1 },
          health: { enabled: false },
          routing: { canary: 0 }
        }
      }
    }
  })
  const gateway = yield* Gateway.make(config).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TEST_GOOGLE_KEY", "g-key"], ["TEST_OPENAI_KEY", "sk-key"]])))
  )
  return { gateway, server }
}).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const post = (url: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, json: await response.json() as any }
  })

const chat = (gateway: Gateway.Gateway.Service, body: unknown) => post(`${gateway.url}/v1/chat/completions`, body)

const gemini = (gateway: Gateway.Gateway.Service, model: string, body: unknown) =>
  post(`${gateway.url}/v1beta/models/${model}:generateContent`, body)

const user = [{ role: "user", content: "Say hi." }]

describe("chat completions", () => {
  it.scoped("a text model answers in the chat.completion shape with the provenance headers", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start
      const response = yield* chat(gateway, {
        model: "chat",
        messages: [
          { role: "developer", content: "Be brief." },
          { role: "user", content: [{ type: "text", text: "Say" }, { type: "text", text: "hi." }] }
        ],
        max_completion_tokens: 50,
        temperature: 0.5,
        top_p: 0.9
      })
      expect(response.status).toBe(200)
      expect(response.json).toMatchObject({
        object: "chat.completion",
        model: "gpt-5.2",
        choices: [{ index: 0, message: { role: "assistant", content: hello }, finish_reason: "stop" }],
        // the answering provider's own count (the fault server's chat answer says 10 + 6)
        usage: { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 }
      })
      expect(response.json.id).toMatch(/^chatcmpl-/)
      expect(typeof response.json.created).toBe("number")
      expect(response.headers.get("x-ballast-route")).toBe("gpt")
      expect(response.headers.get("x-ballast-attempts")).toBe("1")
      expect(response.headers.get("x-ballast-degraded")).toBe("false")
      expect(response.headers.get("x-ballast-resolution")).toBeNull()
      expect(Number(response.headers.get("x-ballast-overhead-ms"))).toBeGreaterThanOrEqual(0)
      const sent = (yield* server.requests).filter((r) => r.api === "openai-chat")
      expect(sent[0]?.body).toMatchObject({
        model: "gpt-5.2",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say\nhi." }],
        max_tokens: 50,
        temperature: 0.5
      })
      expect(sent[0]?.headers.authorization).toBe("Bearer sk-key")
    }))

  it.scoped("the primary failing, the fallback answers and the headers say so", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start
      yield* server.script("gpt-5.2", ["overloaded"])
      const response = yield* chat(gateway, { model: "gpt-5.2", messages: user })
      expect(response.status).toBe(200)
      expect(response.json.choices[0].message.content).toBe(hello)
      expect(response.json.model).toBe("claude-sonnet-4-5")
      expect(response.headers.get("x-ballast-route")).toBe("claude")
      expect(response.headers.get("x-ballast-attempts")).toBe("2")
    }))

  it.scoped("every route failing is a 503 in the OpenAI error shape", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start
      for (const model of ["gpt-5.2", "claude-sonnet-4-5"]) yield* server.script(model, ["overloaded"])
      const response = yield* chat(gateway, { model: "gpt-5.2", messages: user })
      expect(response.status).toBe(503)
      expect(response.json.error).toMatchObject({ type: "server_error" })
      expect(typeof response.json.error.message).toBe("string")
    }))

  it.scoped("bad bodies are 400s naming the field", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start
      const cases: ReadonlyArray<readonly [unknown, string, string]> = [
        [{ model: "gpt-5.2" }, "messages", "Missing required parameter: 'messages'"],
        [{ messages: user }, "model", "Missing required parameter: 'model'"],
        [{ model: "gpt-5.2", messages: [] }, "messages", "empty array"],
        [{ model: "gpt-5.2", messages: [{ role: "tool", content: "x" }] }, "messages[0].role", "tool"],
        [{ model: "gpt-5.2", messages: [{ role: "user" }] }, "messages[0].content", "Missing required parameter"],
        [{ model: "gpt-5.2", messages: [{ role: "user", content: 7 }] }, "messages[0].content", "expected a string or an array"],
        [
          { model: "gpt-5.2", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
          "messages[0].content[0].type",
          "image_url"
        ],
        [{ model: "gpt-5.2", messages: user, temperature: 3 }, "temperature", "from 0 to 2"],
        [{ model: "gpt-5.2", messages: user, temperature: "hot" }, "temperature", "Invalid value for 'temperature'"],
        [{ model: "gpt-5.2", messages: user, max_tokens: 0 }, "max_tokens", "positive integer"],
        [{ model: "gpt-5.2", messages: user, stream: true }, "stream", "Streaming is not supported"],
        [{ model: "gpt-5.2", messages: user, n: 2 }, "n", "'n': 1"],
        [{ model: "gpt-5.2", messages: user, tools: [{ type: "function" }] }, "tools", "Tool calling"]
      ]
      for (const [body, param, message] of cases) {
        const response = yield* chat(gateway, body)
        expect({ status: response.status, param: response.json.error.param }).toStrictEqual({ status: 400, param })
        expect(response.json.error.message).toContain(message)
        expect(response.json.error.type).toBe("invalid_request_error")
      }
      const array = yield* chat(gateway, [1, 2])
      expect(array.status).toBe(400)
    }))

  it.scoped("a model of the other kind is a 400 naming model; an unknown one a 404", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start
      const imageInChat = yield* chat(gateway, { model: pro, messages: user })
      expect(imageInChat.status).toBe(400)
      expect(imageInChat.json.error).toMatchObject({ param: "model", code: "model_not_supported" })
      expect(imageInChat.json.error.message).toContain("/v1/images/generations")

      const textInImages = yield* post(`${gateway.url}/v1/images/generations`, { model: "gpt-5.2", prompt: "a fox" })
      expect(textInImages.status).toBe(400)
      expect(textInImages.json.error).toMatchObject({ param: "model", code: "model_not_supported" })
      expect(textInImages.json.error.message).toContain("/v1/chat/completions")

      const unknown = yield* chat(gateway, { model: "gpt-9", messages: user })
      expect(unknown.status).toBe(404)
      expect(unknown.json.error).toMatchObject({ param: "model", code: "model_not_found" })
    }))
})

describe("Gemini generateContent for a text model", () => {
  it.scoped("maps contents, systemInstruction and generationConfig onto the text request and answers in candidates", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start
      const response = yield* gemini(gateway, "gpt-5.2", {
        contents: [
          { role: "user", parts: [{ text: "Hi." }] },
          { role: "model", parts: [{ text: "Hello," }, { text: " there." }] },
          { parts: [{ text: "Say hi again." }] }
        ],
        systemInstruction: { role: "user", parts: [{ text: "Be brief." }] },
        generationConfig: { temperature: 0.2, maxOutputTokens: 100 }
      })
      expect(response.status).toBe(200)
      expect(response.json).toMatchObject({
        candidates: [{ content: { role: "model", parts: [{ text: hello }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 6, totalTokenCount: 16 },
        modelVersion: "gpt-5.2"
      })
      expect(response.headers.get("x-ballast-route")).toBe("gpt")
      const sent = (yield* server.requests).filter((r) => r.api === "openai-chat")
      expect(sent[0]?.body).toMatchObject({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi." },
          { role: "assistant", content: "Hello, there." },
          { role: "user", content: "Say hi again." }
        ],
        temperature: 0.2,
        max_tokens: 100
      })
    }))

  it.scoped("a Gemini text route is called through GeminiTextGenerator", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start
      const response = yield* chat(gateway, {
        model: "gemini-2.5-flash",
        messages: [{ role: "system", content: "Be brief." }, ...user]
      })
      expect(response.status).toBe(200)
      expect(response.json.choices[0].message.content).toBe(hello)
      const sent = (yield* server.requests).filter((r) => r.api === "gemini" && r.model === "gemini-2.5-flash")
      expect(sent[0]?.body).toMatchObject({
        contents: [{ role: "user", parts: [{ text: "Say hi." }] }],
        systemInstruction: { parts: [{ text: "Be brief." }] }
      })
    }))

  it.scoped("bad text bodies are 400s naming the field, in the Gemini error shape", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{}, "contents"],
        [{ contents: [{ role: "function", parts: [{ text: "x" }] }] }, "contents[0].role"],
        [{ contents: [{ role: "user", parts: [] }] }, "contents"],
        [{ contents: [{ parts: [{ inlineData: { mimeType: "image/png", data: "AAAA" } }] }] }, "contents[0].parts[0].inlineData"],
        [{ contents: [{ parts: [{ text: "x" }] }], generationConfig: { temperature: 5 } }, "generationConfig.temperature"],
        [{ contents: [{ parts: [{ text: "x" }] }], generationConfig: { responseModalities: ["IMAGE"] } }, "generationConfig.responseModalities"]
      ]
      for (const [body, field] of cases) {
        const response = yield* gemini(gateway, "gpt-5.2", body)
        expect(response.status).toBe(400)
        expect(response.json.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" })
        expect(response.json.error.message).toContain(`GenerateContentRequest.${field}`)
      }
    }))
})

describe("text models in the admin endpoints", () => {
  it.scoped("/v1/routes reports each model's kind and routes; /ready counts text routes", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start
      expect([...gateway.models].map(([name, model]) => [name, model.kind])).toStrictEqual([
        [pro, "image"],
        ["gpt-5.2", "text"],
        ["gemini-2.5-flash", "text"]
      ])
      const routes = yield* Effect.promise(() => fetch(`${gateway.url}/v1/routes`).then((r) => r.json() as Promise<any>))
      const text = routes.models.find((m: any) => m.model === "gpt-5.2")
      expect(text.kind).toBe("text")
      expect(text.routes.map((r: any) => [r.route, r.kind, r.usable])).toStrictEqual([["gpt", "text", true], ["claude", "text", true]])
      const ready = yield* Effect.promise(() => fetch(`${gateway.url}/ready`))
      expect(ready.status).toBe(200)
    }))
})
