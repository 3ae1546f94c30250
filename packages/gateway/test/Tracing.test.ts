/**
 * Tracing end to end: a demo gateway (simulated providers) inside
 * `Tracing.layerFromEnv`, a real `node:http` server on 127.0.0.1:0 playing
 * the OTLP/HTTP collector, and plain `fetch` requests. Spans are exported
 * when the layer's scope closes, so every assertion runs after it closed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigProvider, Effect } from "effect"
import { Demo, Tracing } from "../src/index.js"

interface OtlpValue {
  readonly stringValue?: string
  readonly intValue?: number | string
  readonly boolValue?: boolean
  readonly doubleValue?: number
}
interface OtlpAttribute {
  readonly key: string
  readonly value: OtlpValue
}
interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes?: ReadonlyArray<OtlpAttribute>
}
interface OtlpExport {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }>
  }>
}

// A collector that records every body POSTed to /v1/traces (OTLP/HTTP JSON, the exporter's default).
const collector = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly exports: Array<OtlpExport>; readonly server: Http.Server }>((resume) => {
    const exports: Array<OtlpExport> = []
    const server = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        if (request.method === "POST" && request.url === "/v1/traces") {
          expect(request.headers["content-type"]).toContain("application/json")
          exports.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpExport)
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, exports, server }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })
)

const spansOf = (exports: ReadonlyArray<OtlpExport>): Array<OtlpSpan> =>
  exports.flatMap((e) => e.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))

const attribute = (attributes: ReadonlyArray<OtlpAttribute> | undefined, key: string): string | number | boolean | undefined => {
  const value = attributes?.find((a) => a.key === key)?.value
  if (value === undefined) return undefined
  if (value.intValue !== undefined) return Number(value.intValue)
  return value.stringValue ?? value.boolValue ?? value.doubleValue
}

// One OpenAI image request and two Gemini requests (the key in `x-goog-api-key`, then in `?key=`) through a demo gateway
// running inside `Tracing.layerFromEnv`; the tracing scope is closed (spans flushed) when this returns.
const traffic = (env: Map<string, string>) =>
  Effect.gen(function*() {
    const { gateway } = yield* Demo.make({ port: 0, latencyScale: 0.001 })
    const image = yield* Effect.promise(() =>
      fetch(`${gateway.url}/v1/images/generations`, {
        method: "POST",
        headers: { authorization: `Bearer ${Demo.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: Demo.model, prompt: "x" })
      }).then(async (response) => ({ status: response.status, body: await response.text() }))
    )
    const gemini = yield* Effect.promise(() =>
      fetch(`${gateway.url}/v1beta/models/${Demo.model}:generateContent`, {
        method: "POST",
        headers: { "x-goog-api-key": Demo.key, "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "x" }] }] })
      }).then((response) => response.status)
    )
    const geminiQueryKey = yield* Effect.promise(() =>
      fetch(`${gateway.url}/v1beta/models/${Demo.model}:generateContent?key=${Demo.key}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "x" }] }] })
      }).then((response) => response.status)
    )
    return { image, gemini, geminiQueryKey }
  }).pipe(
    Effect.scoped,
    Effect.provide(Tracing.layerFromEnv),
    Effect.withConfigProvider(ConfigProvider.fromMap(env))
  )

describe("Tracing", () => {
  it.live("exports a request span with its attempts as children over OTLP/HTTP, flushed when the scope closes", () =>
    Effect.gen(function*() {
      const { exports, url } = yield* collector
      const { gemini, geminiQueryKey, image } = yield* traffic(new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", `${url}/`]]))
      expect(image.status, image.body).toBe(200)
      expect(gemini).toBe(200)
      expect(geminiQueryKey).toBe(200)

      const spans = spansOf(exports)
      const requests = spans.filter((span) => span.name === "ballast.request")
      expect(requests.length).toBe(3)
      for (const request of requests) {
        expect(attribute(request.attributes, "ballast.model")).toBe(Demo.model)
        expect(attribute(request.attributes, "ballast.route")).toEqual(expect.any(String))
        expect(attribute(request.attributes, "ballast.outcome")).toEqual(expect.any(String))
        const attempts = spans.filter((span) => span.name === "ballast.attempt" && span.parentSpanId === request.spanId)
        expect(attempts.length).toBeGreaterThan(0)
        expect(attempts.length).toBe(attribute(request.attributes, "ballast.attempts"))
        for (const attempt of attempts) {
          expect(attempt.traceId).toBe(request.traceId)
          expect(attribute(attempt.attributes, "ballast.route")).toEqual(expect.any(String))
          expect(attribute(attempt.attributes, "ballast.attempt")).toEqual(expect.any(Number))
          expect(attribute(attempt.attributes, "ballast.outcome")).toEqual(expect.any(String))
        }
      }
      // Every attempt belongs to one of the requests.
      expect(spans.filter((span) => span.name === "ballast.attempt").every((attempt) =>
        requests.some((request) => request.spanId === attempt.parentSpanId)
      )).toBe(true)

      // @effect/platform's server span per HTTP request, the root of the request's trace.
      const server = spans.find((span) =>
        attribute(span.attributes, "http.route") === "/v1/images/generations"
      )
      expect(server).toBeDefined()
      expect(server!.parentSpanId ?? "").toBe("")
      expect(attribute(server!.attributes, "http.request.method")).toBe("POST")
      expect(attribute(server!.attributes, "http.response.status_code")).toBe(200)
      expect(requests.some((request) => request.traceId === server!.traceId)).toBe(true)

      const resource = exports[0]!.resourceSpans[0]!.resource
      expect(attribute(resource?.attributes, "service.name")).toBe(Tracing.defaultServiceName)
      // Virtual keys (bearer, x-goog-api-key or ?key=) never reach a span: a request with the key in its
      // query has no HTTP server span (its URL would carry the key), its ballast.* spans remain.
      expect(spans.filter((span) => span.name.startsWith("http.server")).length).toBe(2)
      expect(JSON.stringify(exports)).not.toContain(Demo.key)
    }).pipe(Effect.scoped))

  it.live("installs nothing without OTEL_EXPORTER_OTLP_ENDPOINT", () =>
    Effect.gen(function*() {
      const { exports } = yield* collector
      const { image } = yield* traffic(new Map())
      expect(image.status, image.body).toBe(200)
      expect(exports).toEqual([])
      // Not even a tracer: effects inside the layer keep Effect's default one.
      const inside = yield* Effect.tracer.pipe(
        Effect.provide(Tracing.layerFromEnv),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
      expect(inside).toBe(yield* Effect.tracer)
    }).pipe(Effect.scoped))

  it.effect("reads the traces URL and service name from the standard variables", () =>
    Effect.gen(function*() {
      const read = (env: Array<[string, string]>) =>
        Tracing.optionsFromEnv.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(env))))
      expect(yield* read([["OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"]])).toMatchObject({
        value: { url: "http://c:4318/v1/traces", serviceName: "ballast-gateway" }
      })
      expect(
        yield* read([
          ["OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"],
          ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"],
          ["OTEL_SERVICE_NAME", "edge"]
        ])
      ).toMatchObject({ value: { url: "http://t:4318/custom", serviceName: "edge" } })
      expect((yield* read([["OTEL_EXPORTER_OTLP_ENDPOINT", ""]]))._tag).toBe("None")
    }))
})
