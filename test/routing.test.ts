/**
 * The pipeline's routing features on the real SDKs against the fault-injection
 * server, on the real clock: a hedged image request whose losing HTTP request
 * is aborted, and health probes (the SDKs' model GETs) that take a dead route
 * out of the rotation before any request pays for it, and bring it back.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ImageGenerator, ImageRequest, Pipeline, PipelineConfig } from "@ballast/core"
import { GeminiClient, GeminiImageGenerator } from "@ballast/google"
import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
import { FaultServer } from "@ballast/testing"
import { Context, Effect, Layer, Option, Redacted, Stream } from "effect"

const pro = "gemini-3-pro-image-preview"
const flash = "gemini-3.1-flash-image-preview"
const slowGpt = "gpt-image-2"
const fastGpt = "gpt-image-1.5"

const request = ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "1K" })

/** Builds a pipeline in the current scope from a config and provider Layers on the fault server. */
const pipelineOn = (server: FaultServer.FaultServer, input: Record<string, unknown>, image: Record<string, "gemini" | "openai">) =>
  Effect.gen(function*() {
    const config = yield* PipelineConfig.decode(input)
    const clients = Layer.mergeAll(
      GeminiClient.layer({ apiKey: Redacted.make("gemini-test-key"), baseUrl: server.url, timeout: "5 seconds" }),
      OpenAIClient.layer({ apiKey: Redacted.make("sk-test-key"), baseUrl: `${server.url}/v1`, timeout: "5 seconds" })
    )
    const providers = Object.fromEntries(
      Object.entries(image).map(([route, kind]) => {
        const model = config.routes[route]!.model
        const provider: Layer.Layer<ImageGenerator, unknown> = kind === "gemini"
          ? GeminiImageGenerator.layer({ model }).pipe(Layer.provide(clients))
          : OpenAIImageGenerator.layer({ model }).pipe(Layer.provide(clients))
        return [route, Layer.orDie(provider)]
      })
    )
    const context = yield* Layer.build(Pipeline.layer(config, { image: providers }))
    return Context.get(context, Pipeline.Pipeline)
  })

describe("routing on the real SDKs against the fault server", () => {
  it.live("a hedged request: the fast route wins and the slow route's HTTP request is aborted", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(slowGpt, [{ fault: "ok", latency: 3_000 }])
      yield* server.script(fastGpt, [{ fault: "ok", latency: 0 }])
      const pipeline = yield* pipelineOn(server, {
        routes: {
          slow: { provider: "openai", model: slowGpt },
          fast: { provider: "openai", model: fastGpt }
        },
        plan: [{ route: "slow" }, { route: "fast" }],
        hedge: { enabled: true, delay: "100 millis" },
        health: { enabled: false },
        routing: { canary: 0 }
      }, { slow: "openai", fast: "openai" })

      const result = yield* pipeline.generate(request)

      expect(result).toMatchObject({ route: "fast", model: fastGpt, degraded: false })
      expect(yield* pipeline.hedges).toStrictEqual({ calls: 1, hedged: 1, hedgeWins: 1 })
      const requests = yield* FaultServer.waitFor(server, (rs) => rs.some((r) => r.model === slowGpt && r.aborted))
      const aborted = (model: string) => requests.filter((r) => r.model === model).map((r) => r.aborted)
      expect(aborted(slowGpt)).toStrictEqual([true])
      expect(aborted(fastGpt)).toStrictEqual([false])
    }).pipe(Effect.scoped))

  it.live("health probes take a dead route out of the rotation, then bring it back", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      // Every request to Pro fails, probes (GET model) included, until it is rescripted.
      yield* server.script(pro, ["overloaded"])
      const pipeline = yield* pipelineOn(server, {
        routes: {
          "gemini-pro": { provider: "google", model: pro },
          "gemini-flash": { provider: "google", model: flash }
        },
        plan: [{ route: "gemini-pro" }, { route: "gemini-flash" }],
        health: { interval: "20 millis", maxInterval: "40 millis", timeout: "2 seconds" },
        routing: { canary: 0 }
      }, { "gemini-pro": "gemini", "gemini-flash": "gemini" })
      const health = Option.getOrThrow(pipeline.health)
      const statusOf = (route: string) =>
        Stream.runHead(Stream.filter(health.changes, (h) => h.route === "gemini-pro" && h.status === route))

      // Down after two failed probes (failuresToDown), before any request was made.
      if ((yield* health.status("gemini-pro")) !== "down") yield* statusOf("down")
      const before = (yield* server.requests).length
      const whileDown = yield* pipeline.generate(request)
      const sent = (yield* server.requests).slice(before).filter((r) => r.method === "POST")
      expect(whileDown).toMatchObject({ route: "gemini-flash", attempts: 1 })
      expect(sent.map((r) => r.model)).toStrictEqual([flash])

      // Pro recovers: probes see it, and requests go back to it.
      yield* server.script(pro, ["ok"])
      if ((yield* health.status("gemini-pro")) !== "healthy") yield* statusOf("healthy")
      const recovered = yield* pipeline.generate(request)
      expect(recovered).toMatchObject({ route: "gemini-pro", attempts: 1 })
      const snapshot = yield* health.snapshot
      expect(snapshot.map((h) => [h.route, h.status])).toStrictEqual([["gemini-flash", "healthy"], ["gemini-pro", "healthy"]])
    }).pipe(Effect.scoped))
})
