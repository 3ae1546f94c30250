/**
 * The gateway's HTTP surface against bad input, on a real server bound to
 * 127.0.0.1:0 in front of the fault server: every mistake is a 4xx in the
 * caller's wire format, naming the field.
 */
import { describe, expect, it } from "@effect/vitest"
import { FaultServer } from "@ballast/testing"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ConfigProvider, Effect, Fiber, Layer, Logger, LogLevel, Option, Schedule, Tracer } from "effect"
import { Gateway, GatewayApi, GatewayConfig, VirtualKeys } from "../src/index.js"

const key = "sk-ballast-test-key"
const pro = "gemini-3-pro-image-preview"

const start = (
  options: {
    readonly bodyLimit?: number
    readonly requestsPerMinute?: number
    readonly shutdownTimeout?: string
    readonly server?: FaultServer.FaultServer
    readonly extraRoutes?: Layer.Layer<never, never, HttpLayerRouter.HttpRouter>
  } = {}
) =>
  Effect.gen(function*() {
    const server = options.server ?? (yield* FaultServer.make())
    const config = yield* GatewayConfig.decode({
      server: {
        port: 0,
        ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
        ...(options.shutdownTimeout !== undefined ? { shutdownTimeout: options.shutdownTimeout } : {})
      },
      keys: [{
        name: "test",
        sha256: VirtualKeys.hash(key),
        ...(options.requestsPerMinute !== undefined ? { requestsPerMinute: options.requestsPerMinute } : {})
      }],
      providers: {
        google: { kind: "google", baseUrl: server.url, apiKeyEnv: "TEST_GOOGLE_KEY", timeout: "5 seconds" },
        openai: { kind: "openai", baseUrl: `${server.url}/v1`, apiKeyEnv: "TEST_OPENAI_KEY", timeout: "5 seconds" }
      },
      models: {
        [pro]: {
          aliases: ["image"],
          pipeline: {
            routes: {
              "gemini-pro": { provider: "google", model: pro },
              "gpt-image": { provider: "openai", model: "gpt-image-2" }
            },
            plan: [{ route: "gemini-pro" }, { route: "gpt-image" }],
            retry: { attempts: 1 },
            health: { enabled: false },
            routing: { canary: 0 }
          }
        }
      }
    })
    const gateway = yield* Gateway.make(config, { extraRoutes: options.extraRoutes }).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TEST_GOOGLE_KEY", "g-secret-key-123"], ["TEST_OPENAI_KEY", "sk-secret-456"]])))
    )
    return { gateway, server }
  }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const post = (url: string, body: string | undefined, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      ...(body !== undefined ? { body } : {})
    })
    const text = await response.text()
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, text, json }
  })

const images = (gateway: Gateway.Gateway.Service, body: unknown, headers?: Record<string, string>) =>
  post(`${gateway.url}/v1/images/generations`, typeof body === "string" ? body : JSON.stringify(body), headers)

const gemini = (gateway: Gateway.Gateway.Service, model: string, body: unknown, headers?: Record<string, string>) =>
  post(`${gateway.url}/v1beta/models/${model}:generateContent`, typeof body === "string" ? body : JSON.stringify(body), {
    authorization: "",
    "x-goog-api-key": key,
    ...headers
  })

describe("the gateway's HTTP surface", () => {
  it.live("serves an OpenAI image request with the x-ballast headers", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start()
      const response = yield* images(gateway, { model: "image", prompt: "a fox", size: "1536x1024" })
      expect(response.status).toBe(200)
      expect(response.json.data[0].b64_json.length).toBeGreaterThan(10)
      expect(response.headers.get("x-ballast-route")).toBe("gemini-pro")
      expect(response.headers.get("x-ballast-attempts")).toBe("1")
      expect(response.headers.get("x-ballast-resolution")).toBe("1K")
      expect(Number(response.headers.get("x-ballast-overhead-ms"))).toBeGreaterThanOrEqual(0)
    }).pipe(Effect.scoped))

  it.live("answers malformed JSON, wrong types and missing fields with 400s naming the field", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start()
      const malformed = yield* images(gateway, "{\"model\": ")
      expect(malformed.status).toBe(400)
      expect(malformed.json.error).toMatchObject({ type: "invalid_request_error", code: "invalid_json" })

      const missing = yield* images(gateway, { model: pro })
      expect(missing.status).toBe(400)
      expect(missing.json.error).toMatchObject({ param: "prompt", message: "Missing required parameter: 'prompt'." })

      const wrongType = yield* images(gateway, { model: pro, prompt: "a fox", n: "two" })
      expect(wrongType.status).toBe(400)
      expect(wrongType.json.error.param).toBe("n")
      expect(wrongType.json.error.message).toContain("'n'")

      const badSize = yield* images(gateway, { model: pro, prompt: "a fox", size: "huge" })
      expect(badSize.json.error).toMatchObject({ param: "size" })
      expect(badSize.status).toBe(400)

      const blank = yield* images(gateway, { model: pro, prompt: "   " })
      expect(blank.status).toBe(400)
      expect(blank.json.error.param).toBe("prompt")

      const notObject = yield* images(gateway, "[1,2]")
      expect(notObject.status).toBe(400)

      const empty = yield* images(gateway, "")
      expect(empty.status).toBe(400)

      const geminiBad = yield* gemini(gateway, pro, { contents: "a fox" })
      expect(geminiBad.status).toBe(400)
      expect(geminiBad.json.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" })
      expect(geminiBad.json.error.message).toContain("contents")

      const geminiRatio = yield* gemini(gateway, pro, {
        contents: [{ parts: [{ text: "a fox" }] }],
        generationConfig: { imageConfig: { aspectRatio: "7:3" } }
      })
      expect(geminiRatio.status).toBe(400)
      expect(geminiRatio.json.error.message).toContain("generationConfig.imageConfig.aspectRatio")

      const geminiText = yield* gemini(gateway, pro, {
        contents: [{ parts: [{ text: "a fox" }] }],
        generationConfig: { responseModalities: ["TEXT"] }
      })
      expect(geminiText.status).toBe(400)
      expect(geminiText.json.error.message).toContain("responseModalities")

      const v1 = yield* post(`${gateway.url}/v1/models/${pro}:generateContent`, JSON.stringify({ contents: [{ parts: [{ text: "a fox" }] }] }), {
        authorization: "",
        "x-goog-api-key": key
      })
      expect(v1.status).toBe(200)
      expect(v1.json.candidates[0].content.parts[0].inlineData.mimeType).toBe("image/png")

      const stream = yield* post(`${gateway.url}/v1beta/models/${pro}:streamGenerateContent?alt=sse`, "{}", {
        authorization: "",
        "x-goog-api-key": key
      })
      expect(stream.status).toBe(400)

      const geminiMalformed = yield* gemini(gateway, pro, "{{")
      expect(geminiMalformed.status).toBe(400)
      expect(geminiMalformed.json.error.status).toBe("INVALID_ARGUMENT")
    }).pipe(Effect.scoped))

  it.live("answers a body over the limit with 413", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start({ bodyLimit: 1024 })
      const huge = yield* images(gateway, { model: pro, prompt: "x".repeat(4096) })
      expect(huge.status).toBe(413)
      expect(huge.json.error.code).toBe("request_too_large")
      const hugeGemini = yield* gemini(gateway, pro, { contents: [{ parts: [{ text: "x".repeat(4096) }] }] })
      expect(hugeGemini.status).toBe(413)
      // Without a content-length (chunked), the body is read up to the limit and the rest discarded: still a 413.
      const chunked = yield* Effect.promise(async () => {
        const chunk = new TextEncoder().encode("x".repeat(16 * 1024))
        const body = new ReadableStream({
          start(controller) {
            for (let i = 0; i < 8; i++) controller.enqueue(chunk)
            controller.close()
          }
        })
        const response = await fetch(`${gateway.url}/v1/images/generations`, {
          method: "POST",
          body,
          duplex: "half",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }
        } as RequestInit)
        return { status: response.status, json: await response.json() as any }
      })
      expect(chunked.status).toBe(413)
      expect(chunked.json.error.code).toBe("request_too_large")
      // The server is still serving.
      const ok = yield* images(gateway, { model: pro, prompt: "a fox" })
      expect(ok.status).toBe(200)
    }).pipe(Effect.scoped))

  it.live("answers an unknown model with 404 and an unknown path with a JSON 404", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start()
      const openai = yield* images(gateway, { model: "dall-e-9", prompt: "a fox" })
      expect(openai.status).toBe(404)
      expect(openai.json.error).toMatchObject({ code: "model_not_found", param: "model" })
      const google = yield* gemini(gateway, "gemini-9", { contents: [{ parts: [{ text: "a fox" }] }] })
      expect(google.status).toBe(404)
      expect(google.json.error.status).toBe("NOT_FOUND")
      const path = yield* post(`${gateway.url}/v1/nothing`, "{}")
      expect(path.status).toBe(404)
      expect(path.json.error.code).toBe("unknown_url")
    }).pipe(Effect.scoped))

  it.live("answers a missing or wrong key with 401, and never echoes a provider key", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start()
      const none = yield* images(gateway, { model: pro, prompt: "a fox" }, { authorization: "" })
      expect(none.status).toBe(401)
      expect(none.json.error.code).toBe("invalid_api_key")
      const wrong = yield* images(gateway, { model: pro, prompt: "a fox" }, { authorization: "Bearer nope" })
      expect(wrong.status).toBe(401)
      const wrongGemini = yield* gemini(gateway, pro, { contents: [{ parts: [{ text: "a fox" }] }] }, { "x-goog-api-key": "nope" })
      expect(wrongGemini.status).toBe(401)
      expect(wrongGemini.json.error.status).toBe("UNAUTHENTICATED")
      for (const response of [none, wrong, wrongGemini]) {
        expect(response.text).not.toContain("g-secret-key-123")
        expect(response.text).not.toContain("sk-secret-456")
      }
    }).pipe(Effect.scoped))

  it.live("limits a key's requests per minute with 429 and retry-after", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start({ requestsPerMinute: 1 })
      const first = yield* images(gateway, { model: pro, prompt: "a fox" })
      expect(first.status).toBe(200)
      const second = yield* images(gateway, { model: pro, prompt: "a fox" })
      expect(second.status).toBe(429)
      expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(second.json.error.code).toBe("rate_limit_exceeded")
    }).pipe(Effect.scoped))

  it.live("maps pipeline failures to each wire's error shape", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start()
      yield* server.script(pro, ["overloaded"])
      yield* server.script("gpt-image-2", ["overloaded"])
      const openai = yield* images(gateway, { model: pro, prompt: "a fox" })
      expect(openai.status).toBe(503)
      expect(openai.json.error.type).toBe("server_error")
      const google = yield* gemini(gateway, pro, { contents: [{ parts: [{ text: "a fox" }] }] })
      expect(google.status).toBe(503)
      expect(google.json.error.status).toBe("UNAVAILABLE")
      for (const response of [openai, google]) {
        expect(response.text).not.toContain("g-secret-key-123")
        expect(response.text).not.toContain("sk-secret-456")
      }
    }).pipe(Effect.scoped))

  it.live("answers a safety block as OpenAI's moderation_blocked 400 and as Gemini's 200 with promptFeedback", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start()
      yield* server.script(pro, ["prompt-blocked"])
      yield* server.script("gpt-image-2", ["moderation"])
      const openai = yield* images(gateway, { model: pro, prompt: "something unsafe" })
      expect(openai.status).toBe(400)
      expect(openai.json.error.code).toBe("moderation_blocked")
      const google = yield* gemini(gateway, pro, { contents: [{ parts: [{ text: "something unsafe" }] }] })
      expect(google.status).toBe(200)
      expect(google.json.promptFeedback.blockReason).toBe("OTHER")
      expect(google.json.candidates).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("is not ready once every image route of a model has its breaker open", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start()
      yield* server.script(pro, ["overloaded"])
      yield* server.script("gpt-image-2", ["overloaded"])
      // Five consecutive failures open a breaker (one attempt per route per request here).
      for (let i = 0; i < 5; i++) yield* images(gateway, { model: pro, prompt: "a fox" })
      const ready = yield* Effect.promise(() => fetch(`${gateway.url}/ready`).then(async (r) => ({ status: r.status, json: await r.json() as any })))
      expect(ready.status).toBe(503)
      expect(ready.json.reasons[0]).toContain("gemini-pro: breaker open")
      const routes = yield* Effect.promise(() => fetch(`${gateway.url}/v1/routes`).then((r) => r.json() as Promise<any>))
      expect(routes.models[0].routes.map((r: any) => [r.route, r.breaker._tag, r.usable])).toStrictEqual([
        ["gemini-pro", "Open", false],
        ["gpt-image", "Open", false]
      ])
    }).pipe(Effect.scoped))

  it.live("serves /health, /ready, /v1/routes and /metrics", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start()
      const get = (path: string) =>
        Effect.promise(() => fetch(`${gateway.url}${path}`).then(async (r) => ({ status: r.status, text: await r.text() })))
      expect(yield* get("/health")).toStrictEqual({ status: 200, text: "{\"status\":\"ok\"}" })
      expect((yield* get("/ready")).status).toBe(200)
      const routes = JSON.parse((yield* get("/v1/routes")).text)
      expect(routes.models[0].model).toBe(pro)
      expect(routes.models[0].routes.map((r: { route: string }) => r.route)).toStrictEqual(["gemini-pro", "gpt-image"])
      expect(routes.models[0].routes[0].breaker).toStrictEqual({ _tag: "Closed" })
      const metrics = yield* get("/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.text).toContain("ballast_gateway_overhead_seconds")
    }).pipe(Effect.scoped))

  it.live("the admin endpoints are an HttpApi: its typed client decodes every answer, and /openapi.json describes them", () =>
    Effect.gen(function*() {
      const { gateway, server } = yield* start()
      const client = yield* HttpApiClient.make(GatewayApi.GatewayApi, { baseUrl: gateway.url })
      expect(yield* client.status.health()).toStrictEqual({ status: "ok" })
      expect(yield* client.status.ready()).toStrictEqual({ status: "ready" })
      yield* images(gateway, { model: pro, prompt: "a fox" })
      // Decoded with the schemas: breaker states, health, router figures, degradation and hedging.
      const { models } = yield* client.status.routes()
      expect(models.map((m) => [m.model, m.kind, m.aliases])).toStrictEqual([[pro, "image", ["image"]]])
      expect(models[0]!.routes[0]).toMatchObject({ route: "gemini-pro", kind: "image", usable: true, breaker: { _tag: "Closed" } })
      expect(models[0]!.routes[0]!.stats).toMatchObject({ outcomes: 1, successRate: 1 })
      expect(models[0]!.hedges).toStrictEqual({ calls: 0, hedged: 0, hedgeWins: 0 })
      expect(yield* client.status.metrics()).toContain("ballast_requests_total")
      const { samples } = yield* client.dashboard.data({ urlParams: {} })
      expect(samples.length).toBeGreaterThan(0)
      // Not ready: the typed error, with its reasons.
      yield* server.script(pro, ["overloaded"])
      yield* server.script("gpt-image-2", ["overloaded"])
      for (let i = 0; i < 5; i++) yield* images(gateway, { model: pro, prompt: "a fox" })
      const notReady = yield* Effect.flip(client.status.ready())
      expect(notReady).toMatchObject({ status: "not ready", reasons: [expect.stringContaining("breaker open")] })

      const spec = yield* Effect.promise(() => fetch(`${gateway.url}/openapi.json`).then((r) => r.json() as Promise<any>))
      expect(spec.info.title).toBe("Ballast gateway")
      expect(Object.keys(spec.paths).sort()).toStrictEqual([
        "/dashboard",
        "/dashboard/data",
        "/health",
        "/metrics",
        "/ready",
        "/v1/batches",
        "/v1/batches/jobs",
        "/v1/batches/jobs/{id}",
        "/v1/batches/jobs/{id}/images/{n}",
        "/v1/routes"
      ])
      // The batch endpoints take a virtual key; the status endpoints do not.
      expect(spec.paths["/v1/batches"].get.security).toStrictEqual([{ bearer: [] }])
      expect(spec.paths["/health"].get.security).toStrictEqual([])
      expect(Object.keys(spec.paths["/ready"].get.responses).sort()).toStrictEqual(["200", "400", "503"])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("drains an in-flight request on shutdown", () =>
    Effect.gen(function*() {
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const { gateway, server } = yield* start()
        yield* server.script(pro, [{ fault: "ok", latency: 300 }])
        const pending = yield* Effect.fork(images(gateway, { model: pro, prompt: "a fox" }))
        yield* Effect.repeat(gateway.inFlight, { until: (n) => n > 0, schedule: Schedule.spaced("5 millis") })
        return pending
      }))
      // The scope closed while the request was in flight; it still completed.
      const response = yield* Fiber.join(result)
      expect(response.status).toBe(200)
    }))

  it.live("interrupts what is still running after shutdownTimeout, aborting its provider call", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, [{ fault: "ok", latency: 10_000 }])
      const pending = yield* Effect.scoped(Effect.gen(function*() {
        const { gateway } = yield* start({ server, shutdownTimeout: "50 millis" })
        const pending = yield* Effect.fork(Effect.either(Effect.tryPromise(() =>
          fetch(`${gateway.url}/v1/images/generations`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ model: pro, prompt: "a slow fox" })
          })
        )))
        yield* FaultServer.waitFor(server, (rs) => rs.some((r) => r.model === pro))
        return pending
      }))
      // The client lost its connection, and the gateway's call to the provider was aborted.
      expect((yield* Fiber.join(pending))._tag).toBe("Left")
      const requests = yield* FaultServer.waitFor(server, (rs) => rs.some((r) => r.model === pro && r.aborted))
      expect(requests.filter((r) => r.model === pro).map((r) => r.aborted)).toStrictEqual([true])
    }).pipe(Effect.scoped))
})

describe("request spans", () => {
  // A route beside the gateway's that answers with the name of the span it runs in, if any.
  const spanRoute = HttpLayerRouter.add(
    "GET",
    "/span",
    Effect.map(Effect.option(Effect.currentSpan), (span) =>
      HttpServerResponse.unsafeJson({ span: Option.getOrNull(Option.map(span, (s) => s.name)) }))
  )
  const spanOf = (url: string) => Effect.promise(() => fetch(`${url}/span`).then((r) => r.json() as Promise<{ span: string | null }>))

  it.scoped("the platform's http.server span only when a tracer other than Effect's native one reads spans", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      // Another tracer object, as an exporter's would be, making the native tracer's spans.
      const reading = Tracer.make({ span: (...args) => native.span(...args), context: (f, fiber) => native.context(f, fiber) })
      const untraced = yield* start({ extraRoutes: spanRoute })
      const traced = yield* start({ extraRoutes: spanRoute }).pipe(Effect.withTracer(reading))
      expect(yield* spanOf(untraced.gateway.url)).toStrictEqual({ span: null })
      expect((yield* spanOf(traced.gateway.url)).span).toMatch(/^http\.server/)
    }))
})

