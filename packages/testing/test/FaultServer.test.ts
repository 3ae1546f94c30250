import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { inflateSync } from "node:zlib"
import * as FaultServer from "../src/FaultServer.js"
import { Scenario } from "../src/index.js"

const geminiKey = { "x-goog-api-key": "test-key", "content-type": "application/json" }
const openAiKey = { authorization: "Bearer sk-test", "content-type": "application/json" }
const imageBody = { contents: [{ parts: [{ text: "a fox" }], role: "user" }], generationConfig: { responseModalities: ["TEXT", "IMAGE"] } }

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const call = (url: string, init: RequestInit): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

const gemini = (server: FaultServer.FaultServer, model: string, body: unknown = imageBody, path = "v1beta") =>
  call(`${server.url}/${path}/models/${model}:generateContent`, {
    method: "POST",
    headers: geminiKey,
    body: JSON.stringify(body)
  })

const openAi = (server: FaultServer.FaultServer, endpoint: "images/generations" | "chat/completions", body: unknown) =>
  call(`${server.url}/v1/${endpoint}`, { method: "POST", headers: openAiKey, body: JSON.stringify(body) })

const image = (server: FaultServer.FaultServer, model = "gpt-image-1.5") =>
  openAi(server, "images/generations", { model, prompt: "a fox", size: "1024x1024" })

const json = (answer: Answer): any => JSON.parse(answer.text)

/** Reads the chunks of a PNG and checks each CRC. */
const pngChunks = (bytes: Buffer) => {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  const chunks: Array<{ type: string; data: Buffer }> = []
  let offset = 8
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset)
    const type = bytes.subarray(offset + 4, offset + 8).toString("latin1")
    const data = bytes.subarray(offset + 8, offset + 8 + length)
    const crc = bytes.readUInt32BE(offset + 8 + length)
    expect(crc).toBe(FaultServer.crc32(bytes.subarray(offset + 4, offset + 8 + length)))
    chunks.push({ type, data })
    offset += 12 + length
  }
  return chunks
}

describe("FaultServer", () => {
  it("crc32 matches the reference value", () => {
    expect(FaultServer.crc32(Buffer.from("123456789"))).toBe(0xcbf43926)
  })

  it.scoped("ok: Gemini answers a text part and a decodable PNG", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const answer = yield* gemini(server, "gemini-3-pro-image-preview")
      expect(answer.status).toBe(200)
      const body = json(answer)
      const candidate = body.candidates[0]
      expect(candidate.finishReason).toBe("STOP")
      expect(body.modelVersion).toBe("gemini-3-pro-image-preview")
      expect(body.usageMetadata.totalTokenCount).toBeGreaterThan(0)
      const parts = candidate.content.parts
      expect(parts[0].text).toEqual(expect.any(String))
      expect(parts[1].inlineData.mimeType).toBe("image/png")
      const chunks = pngChunks(Buffer.from(parts[1].inlineData.data, "base64"))
      expect(chunks.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"])
      const ihdr = chunks[0]!.data
      expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([8, 8, 8, 2])
      expect(inflateSync(chunks[1]!.data).length).toBe(8 * (1 + 8 * 3))
    }))

  it.scoped("ok: a Gemini text request gets a text part only; Vertex paths are served", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const text = json(yield* gemini(server, "gemini-2.5-flash", { contents: [{ parts: [{ text: "hi" }] }] }))
      expect(text.candidates[0].content.parts).toEqual([{ text: expect.any(String) }])
      const vertex = yield* call(
        `${server.url}/v1beta1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-flash-image:generateContent`,
        { method: "POST", headers: geminiKey, body: JSON.stringify(imageBody) }
      )
      expect(json(vertex).candidates[0].content.parts[1].inlineData.mimeType).toBe("image/png")
      const requests = yield* server.requests
      expect(requests.map((r) => [r.api, r.model, r.fault])).toEqual([
        ["gemini", "gemini-2.5-flash", "ok"],
        ["vertex", "gemini-2.5-flash-image", "ok"]
      ])
      expect(requests[0]!.headers["x-goog-api-key"]).toBe("test-key")
      expect(requests[0]!.body).toEqual({ contents: [{ parts: [{ text: "hi" }] }] })
    }))

  it.scoped("ok: OpenAI images and chat", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const images = json(yield* openAi(server, "images/generations", { model: "gpt-image-2", prompt: "fox", n: 2 }))
      expect(images.data).toHaveLength(2)
      expect(typeof images.created).toBe("number")
      expect(images.usage.total_tokens).toBeGreaterThan(0)
      pngChunks(Buffer.from(images.data[0].b64_json, "base64"))
      const chat = json(yield* openAi(server, "chat/completions", { model: "gpt-4.1", messages: [] }))
      expect(chat.object).toBe("chat.completion")
      expect(chat.choices[0].finish_reason).toBe("stop")
      expect(chat.choices[0].message.content).toEqual(expect.any(String))
      expect((yield* server.requests).map((r) => [r.api, r.model])).toEqual([
        ["openai-images", "gpt-image-2"],
        ["openai-chat", "gpt-4.1"]
      ])
    }))

  it.scoped("Azure OpenAI: deployment paths with api-version, the deployment as the model, OpenAI shapes", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const azureKey = { "api-key": "azure-test-key", "content-type": "application/json" }
      const azure = (prefix: string, deployment: string, endpoint: string, body: unknown, query = "?api-version=2025-04-01-preview") =>
        call(`${server.url}${prefix}/openai/deployments/${deployment}/${endpoint}${query}`, {
          method: "POST",
          headers: azureKey,
          body: JSON.stringify(body)
        })
      const images = yield* azure("", "img-eastus", "images/generations", { model: "gpt-image-2", prompt: "fox", n: 2 })
      expect(images.status).toBe(200)
      expect(json(images).data).toHaveLength(2)
      pngChunks(Buffer.from(json(images).data[0].b64_json, "base64"))
      const chat = json(yield* azure("/westeurope", "chat-weu", "chat/completions", { messages: [] }))
      expect(chat.object).toBe("chat.completion")
      expect(chat.model).toBe("chat-weu")
      const recorded = yield* server.requests
      expect(recorded.map((r) => [r.api, r.model, r.path, r.fault])).toEqual([
        ["openai-images", "img-eastus", "/openai/deployments/img-eastus/images/generations?api-version=2025-04-01-preview", "ok"],
        ["openai-chat", "chat-weu", "/westeurope/openai/deployments/chat-weu/chat/completions?api-version=2025-04-01-preview", "ok"]
      ])
      expect(recorded[0]?.headers["api-key"]).toBe("azure-test-key")
    }))

  it.scoped("Azure OpenAI: faults are scripted per deployment; api-key is required; api-version is required", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const path = (deployment: string, query = "?api-version=2025-04-01-preview") =>
        `${server.url}/openai/deployments/${deployment}/images/generations${query}`
      const body = JSON.stringify({ model: "ignored", prompt: "fox" })
      const headers = { "api-key": "azure-test-key", "content-type": "application/json" }
      yield* server.script("img-eastus", [{ fault: "overloaded" }, { fault: "rate-limited", retryAfterSeconds: 7 }, "ok"])
      const overloaded = yield* call(path("img-eastus"), { method: "POST", headers, body })
      expect(overloaded.status).toBe(503)
      expect(json(overloaded).error.type).toBe("server_error")
      const limited = yield* call(path("img-eastus"), { method: "POST", headers, body })
      expect(limited.status).toBe(429)
      expect(limited.headers.get("retry-after")).toBe("7")
      expect(json(limited).error.code).toBe("rate_limit_exceeded")
      expect((yield* call(path("img-eastus"), { method: "POST", headers, body })).status).toBe(200)
      // a Bearer token is not the Azure key
      const bearer = yield* call(path("img-eastus"), { method: "POST", headers: openAiKey, body })
      expect(bearer.status).toBe(401)
      expect(json(bearer).error.message).toMatch(/^Access denied due to invalid subscription key/)
      const noVersion = yield* call(path("img-eastus", ""), { method: "POST", headers, body })
      expect(noVersion.status).toBe(404)
      expect((yield* server.requests).map((r) => [r.api, r.model, r.fault])).toEqual([
        ["openai-images", "img-eastus", "overloaded"],
        ["openai-images", "img-eastus", "rate-limited"],
        ["openai-images", "img-eastus", "ok"],
        ["openai-images", "img-eastus", "unauthorized"]
      ])
    }))

  it.scoped("Gemini error faults: status, exact body, content type", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const expectations: ReadonlyArray<[FaultServer.FaultName, number, string]> = [
        ["overloaded", 503, "UNAVAILABLE"],
        ["rate-limited", 429, "RESOURCE_EXHAUSTED"],
        ["quota-exhausted", 429, "RESOURCE_EXHAUSTED"],
        ["bad-request", 400, "INVALID_ARGUMENT"],
        ["text-only", 400, "INVALID_ARGUMENT"],
        ["bad-key", 400, "INVALID_ARGUMENT"],
        ["unauthorized", 401, "UNAUTHENTICATED"],
        ["forbidden", 403, "PERMISSION_DENIED"],
        ["not-found", 404, "NOT_FOUND"],
        ["server-error", 500, "INTERNAL"],
        ["sse-error", 500, "INTERNAL"],
        ["gateway-timeout", 504, "DEADLINE_EXCEEDED"]
      ]
      for (const [fault, status, code] of expectations) {
        yield* server.script("m", [fault])
        const answer = yield* gemini(server, "m")
        expect([fault, answer.status]).toEqual([fault, status])
        expect(answer.headers.get("content-type")).toBe("application/json; charset=UTF-8")
        expect(answer.text).toMatch(/^\{\n {2}"error": \{\n/)
        expect(json(answer).error.status).toBe(code)
        expect(json(answer).error.code).toBe(status)
      }
      yield* server.script("m", ["overloaded"])
      expect(json(yield* gemini(server, "m"))).toEqual({
        error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" }
      })
      yield* server.script("m", ["text-only"])
      expect(json(yield* gemini(server, "m")).error.message).toBe("This model only supports text output.")
      yield* server.script("m", ["bad-key"])
      expect(json(yield* gemini(server, "m")).error.details[0].reason).toBe("API_KEY_INVALID")
      yield* server.script("m", ["quota-exhausted"])
      const quota = json(yield* gemini(server, "m")).error
      expect(quota.message).toContain("limit: 0")
      expect(quota.details.some((d: any) => d["@type"].endsWith("RetryInfo"))).toBe(false)
    }))

  it.scoped("rate-limited: RetryInfo (default, explicit, omitted) and retry headers", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const retryDelay = (body: any) =>
        body.error.details.find((d: any) => d["@type"] === "type.googleapis.com/google.rpc.RetryInfo")?.retryDelay
      yield* server.script("m", [
        "rate-limited",
        { fault: "rate-limited", retryInfo: "3.5s", retryAfterSeconds: 4, retryAfterMs: 3500 },
        { fault: "rate-limited", retryInfo: null }
      ])
      const first = yield* gemini(server, "m")
      expect(retryDelay(json(first))).toBe("30s")
      expect(first.headers.get("retry-after")).toBeNull()
      const second = yield* gemini(server, "m")
      expect(retryDelay(json(second))).toBe("3.5s")
      expect(second.headers.get("retry-after")).toBe("4")
      expect(second.headers.get("retry-after-ms")).toBe("3500")
      expect(retryDelay(json(yield* gemini(server, "m")))).toBeUndefined()

      yield* server.script("gpt-image-1.5", [{ fault: "rate-limited", retryAfterMs: 5 }])
      const openai = yield* image(server)
      expect(openai.status).toBe(429)
      expect(openai.headers.get("retry-after-ms")).toBe("5")
      expect(json(openai).error).toMatchObject({ code: "rate_limit_exceeded", type: "requests" })
    }))

  it.scoped("OpenAI error faults: status and error body", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const expectations: ReadonlyArray<[FaultServer.FaultName, number, string, string | null]> = [
        ["overloaded", 503, "server_error", null],
        ["quota-exhausted", 429, "insufficient_quota", "insufficient_quota"],
        ["credit-exhausted", 429, "insufficient_quota", "credit_balance_exhausted"],
        ["bad-request", 400, "invalid_request_error", "invalid_value"],
        ["unauthorized", 401, "invalid_request_error", "invalid_api_key"],
        ["forbidden", 403, "invalid_request_error", null],
        ["not-found", 404, "invalid_request_error", "model_not_found"],
        ["moderation", 400, "image_generation_user_error", "moderation_blocked"],
        ["server-error", 500, "server_error", null],
        ["gateway-timeout", 504, "server_error", null]
      ]
      for (const [fault, status, type, code] of expectations) {
        yield* server.script("gpt-image-1.5", [fault])
        const answer = yield* image(server)
        expect([fault, answer.status]).toEqual([fault, status])
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(json(answer).error).toMatchObject({ type, code })
      }
      yield* server.script("gpt-image-1.5", ["overloaded"])
      expect(json(yield* image(server)).error.message).toMatch(/^That model is currently overloaded/)
      yield* server.script("gpt-image-1.5", ["no-image"])
      const empty = yield* image(server)
      expect([empty.status, json(empty).data]).toEqual([200, []])
    }))

  it.scoped("HTML 5xx, malformed JSON, no image, prompt blocked", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("m", ["bad-gateway", "html-503", "malformed-json", "no-image", "prompt-blocked"])
      const badGateway = yield* gemini(server, "m")
      expect([badGateway.status, badGateway.headers.get("content-type")]).toEqual([502, "text/html; charset=UTF-8"])
      expect(badGateway.text).toContain("<html>")
      const html503 = yield* gemini(server, "m")
      expect([html503.status, html503.headers.get("content-type")?.startsWith("text/html")]).toEqual([503, true])
      const malformed = yield* gemini(server, "m")
      expect([malformed.status, malformed.headers.get("content-type")]).toEqual([200, "application/json; charset=UTF-8"])
      expect(() => JSON.parse(malformed.text)).toThrow(SyntaxError)
      const noImage = json(yield* gemini(server, "m"))
      expect(noImage.candidates[0].finishReason).toBe("IMAGE_SAFETY")
      expect(JSON.stringify(noImage)).not.toContain("inlineData")
      const blocked = json(yield* gemini(server, "m"))
      expect(blocked.promptFeedback).toEqual({ blockReason: "PROHIBITED_CONTENT" })
      expect(blocked.candidates).toBeUndefined()
    }))

  it.scoped("scripts run in order, then repeat the last answer or cycle; models are isolated", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("a", ["overloaded", "ok"])
      yield* server.script("b", ["server-error", "overloaded"], { after: "cycle" })
      const statuses = (model: string, count: number) =>
        Effect.forEach(Array.from({ length: count }), () => Effect.map(gemini(server, model), (a) => a.status))
      expect(yield* statuses("a", 4)).toEqual([503, 200, 200, 200])
      expect(yield* statuses("b", 5)).toEqual([500, 503, 500, 503, 500])
      expect(yield* statuses("c", 1)).toEqual([200])
      yield* server.script("a", ["forbidden"])
      expect(yield* statuses("a", 2)).toEqual([403, 403])
      expect((yield* server.requests).map((r) => r.fault).slice(0, 4)).toEqual(["overloaded", "ok", "ok", "ok"])
      yield* server.reset
      expect(yield* server.requests).toEqual([])
      expect(yield* statuses("a", 1)).toEqual([200])
    }))

  it.scoped("decide chooses per request", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const seen: Array<FaultServer.DecisionRequest> = []
      yield* server.decide("gpt-4.1", (request) => {
        seen.push(request)
        return seen.length % 2 === 0 ? "overloaded" : { fault: "ok" }
      })
      const chat = () => Effect.map(openAi(server, "chat/completions", { model: "gpt-4.1", messages: [] }), (a) => a.status)
      expect([yield* chat(), yield* chat(), yield* chat()]).toEqual([200, 503, 200])
      expect(seen.map((r) => [r.api, r.model])).toEqual(Array.from({ length: 3 }, () => ["openai-chat", "gpt-4.1"]))
    }))

  it.scoped("auth: missing keys are refused, unknown routes are 404", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const noGoogleKey = yield* call(`${server.url}/v1beta/models/m:generateContent`, { method: "POST", body: "{}" })
      expect(noGoogleKey.status).toBe(403)
      expect(json(noGoogleKey).error.message).toMatch(/^Method doesn't allow unregistered callers/)
      const noBearer = yield* call(`${server.url}/v1/images/generations`, {
        method: "POST",
        body: JSON.stringify({ model: "gpt-image-1.5" })
      })
      expect(noBearer.status).toBe(401)
      expect(json(noBearer).error.type).toBe("invalid_request_error")
      const unknown = yield* call(`${server.url}/v2/nothing`, { method: "POST", headers: openAiKey, body: "{}" })
      expect(unknown.status).toBe(404)
      expect(json(unknown).error).toBeDefined()
      expect((yield* server.requests).map((r) => [r.api, r.fault])).toEqual([
        ["gemini", "forbidden"],
        ["openai-images", "unauthorized"]
      ])
    }))

  it.scoped("probes answer metadata, or the scripted error", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const probe = yield* call(`${server.url}/v1beta/models/gemini-2.5-flash-image`, { headers: geminiKey })
      expect(json(probe)).toMatchObject({
        name: "models/gemini-2.5-flash-image",
        supportedGenerationMethods: expect.arrayContaining(["generateContent"])
      })
      yield* server.script("gemini-2.5-flash-image", ["overloaded"])
      expect((yield* call(`${server.url}/v1beta/models/gemini-2.5-flash-image`, { headers: geminiKey })).status)
        .toBe(503)
      const openai = yield* call(`${server.url}/v1/models/gpt-image-2`, { headers: openAiKey })
      expect(json(openai)).toMatchObject({ id: "gpt-image-2", object: "model" })
      expect((yield* server.requests).map((r) => r.api)).toEqual(["gemini", "gemini", "openai-images"])
    }))

  it.scoped("SSE: Gemini frames, error frame, cut stream", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const stream = () =>
        call(`${server.url}/v1beta/models/m:streamGenerateContent?alt=sse`, {
          method: "POST",
          headers: geminiKey,
          body: JSON.stringify(imageBody)
        })
      yield* server.script("m", ["ok", "sse-error", "sse-cut", "overloaded"])
      const ok = yield* stream()
      expect(ok.headers.get("content-type")).toBe("text/event-stream")
      const frames = ok.text.split("\r\n\r\n")
      expect(frames.pop()).toBe("")
      const parsed = frames.map((f) => JSON.parse(f.replace(/^data: /, "")))
      expect(parsed.at(-1).candidates[0].finishReason).toBe("STOP")
      expect(parsed.at(-1).candidates[0].content.parts[0].inlineData.mimeType).toBe("image/png")
      const error = (yield* stream()).text.split("\r\n\r\n")
      expect(JSON.parse(error[1]!.replace(/^data: /, "")).error).toMatchObject({ code: 500, status: "INTERNAL" })
      const cut = (yield* stream()).text.split("\r\n\r\n")
      expect(cut).toHaveLength(2)
      expect(() => JSON.parse(cut[1]!.replace(/^data: /, ""))).toThrow()
      const overloaded = yield* stream()
      expect([overloaded.status, overloaded.headers.get("content-type")]).toEqual([503, "text/event-stream"])
      expect(JSON.parse(overloaded.text).error.status).toBe("UNAVAILABLE")
      expect((yield* server.requests)[0]!.path).toBe("/v1beta/models/m:streamGenerateContent?alt=sse")
    }))

  it.scoped("SSE: OpenAI chat chunks then [DONE], error frame", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("gpt-4.1", ["ok", "sse-error"])
      const chat = () => openAi(server, "chat/completions", { model: "gpt-4.1", messages: [], stream: true })
      const frames = (yield* chat()).text.split("\n\n").filter((f) => f !== "")
      expect(frames.at(-1)).toBe("data: [DONE]")
      const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.replace(/^data: /, "")))
      expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true)
      expect(chunks.at(-1).choices[0].finish_reason).toBe("stop")
      const error = (yield* chat()).text.split("\n\n").filter((f) => f !== "")
      expect(error).toHaveLength(2)
      expect(JSON.parse(error[1]!.replace(/^data: /, "")).error.type).toBe("server_error")
    }))

  it.scoped("hang: a client abort is recorded as aborted; latency delays the answer", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("m", ["hang", { fault: "ok", latency: 30 }, { fault: "ok", latency: 2_000 }])
      const aborted = yield* Effect.promise(() =>
        fetch(`${server.url}/v1beta/models/m:generateContent`, {
          method: "POST",
          headers: geminiKey,
          body: "{}",
          signal: AbortSignal.timeout(50)
        }).then(() => "answered", (e: Error) => e.name)
      )
      expect(aborted).toBe("TimeoutError")
      const started = Date.now()
      expect((yield* gemini(server, "m")).status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(25)
      const slow = yield* Effect.promise(() =>
        fetch(`${server.url}/v1beta/models/m:generateContent`, {
          method: "POST",
          headers: geminiKey,
          body: "{}",
          signal: AbortSignal.timeout(30)
        }).then(() => "answered", (e: Error) => e.name)
      )
      expect(slow).toBe("TimeoutError")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30)))
      expect((yield* server.requests).map((r) => [r.fault, r.aborted])).toEqual([
        ["hang", true],
        ["ok", false],
        ["ok", true]
      ])
    }))

  it.scoped("reset: the socket is destroyed and fetch rejects", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script("gpt-image-1.5", ["reset", "ok"])
      const failure = yield* Effect.promise(() =>
        fetch(`${server.url}/v1/images/generations`, {
          method: "POST",
          headers: openAiKey,
          body: JSON.stringify({ model: "gpt-image-1.5" })
        }).then(() => "answered", (e: Error) => `${e.name}: ${e.message}`)
      )
      expect(failure).toBe("TypeError: fetch failed")
      expect((yield* image(server)).status).toBe(200)
      expect((yield* server.requests).map((r) => [r.fault, r.aborted])).toEqual([["reset", false], ["ok", false]])
    }))

  it.live("the server closes with its scope, hanging connections included, and the port is released", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(FaultServer.make(), scope)
      yield* server.script("m", ["hang"])
      const pending = fetch(`${server.url}/v1beta/models/m:generateContent`, { method: "POST", headers: geminiKey, body: "{}" })
        .then(() => "answered", () => "failed")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.promise(() => pending)).toBe("failed")
      const refused = yield* Effect.promise(() => fetch(server.url).then(() => "answered", () => "refused"))
      expect(refused).toBe("refused")
      const again = yield* Effect.scoped(
        Effect.map(FaultServer.make({ port: server.port }), (s) => s.port)
      )
      expect(again).toBe(server.port)
      const occupied = yield* Effect.scoped(
        Effect.flatMap(FaultServer.make(), (first) => Effect.exit(FaultServer.make({ port: first.port })))
      )
      expect(Exit.isFailure(occupied) && Cause.isDie(occupied.cause)).toBe(true)
    }))

  it.scoped("layer provides the service", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.FaultServerTag
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
      expect((yield* image(server)).status).toBe(200)
    }).pipe(Effect.provide(FaultServer.layer())))

  it("roleOf and fromScenario play a scenario's failure profile on the clock", () => {
    expect(FaultServer.roleOf("gemini", "gemini-3-pro-image-preview")).toBe("primary")
    expect(FaultServer.roleOf("vertex", "gemini-2.5-flash-image")).toBe("flash")
    expect(FaultServer.roleOf("openai-images", "gpt-image-2")).toBe("openai")
    expect(FaultServer.roleOf("openai-images", "flux-1-schnell")).toBe("compatible")
    expect(FaultServer.roleOf("openai-chat", "gpt-4.1")).toBe("text")
    expect(FaultServer.roleOf("gemini", "gemini-2.5-flash")).toBe("text")

    const start = 1_000_000
    const outage = FaultServer.fromScenario(Scenario.scenarios["outage-2h"], { start, random: () => 0.5, latencyScale: 0.001 })
    const primary = { api: "gemini", model: "gemini-3-pro-image-preview" } as const
    expect(outage({ ...primary, at: start + 60_000 })).toEqual({ fault: "overloaded", latency: 10 })
    expect(outage({ ...primary, at: start + 3 * 3_600_000 })).toEqual({ fault: "ok", latency: 40 })

    const limited = FaultServer.fromScenario(Scenario.scenarios["rate-limited"], { start, random: () => 0.5 })
    const faults = Array.from({ length: 151 }, () => limited({ api: "openai-images", model: "gpt-image-2", at: start }))
    expect(faults[149]!.fault).toBe("ok")
    expect(faults[150]).toMatchObject({ fault: "rate-limited", retryAfterSeconds: 20, retryInfo: "20s" })
  })
})
