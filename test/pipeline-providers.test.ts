/**
 * The full pipeline on the real providers (Gemini Pro, Gemini Flash, OpenAI
 * gpt-image-2 on their official SDKs) against the fault-injection server, on
 * the real clock with tiny retry delays.
 *
 * Plan: gemini-pro at 4K then 2K → gemini-flash → openai; 2 attempts per step.
 * Each case builds a fresh pipeline (fresh breakers and budgets) on the shared
 * server, after `server.reset`.
 */
import { describe, expect, layer } from "@effect/vitest"
import { type AllRoutesFailed, ImageGenerator, ImageRequest, Pipeline, PipelineConfig } from "@ballast/core"
import { GeminiClient, GeminiImageGenerator } from "@ballast/google"
import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
import { FaultServer } from "@ballast/testing"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"

const geminiKey = "test-key-AIzaSyD-secret"
const openAIKey = "sk-test-secret-1234"

const pro = "gemini-3-pro-image-preview"
const flash = "gemini-3.1-flash-image-preview"
const gpt = "gpt-image-2"

const config = PipelineConfig.decode({
  routes: {
    "gemini-pro": { provider: "google", model: pro },
    "gemini-flash": { provider: "google", model: flash },
    openai: { provider: "openai", model: gpt }
  },
  plan: [{ route: "gemini-pro", resolutions: ["4K", "2K"] }, { route: "gemini-flash" }, { route: "openai" }],
  retry: { attempts: 2, initialDelay: "1 millis", maxDelay: "2 millis" },
  // These tests follow one request down the chain: no background probes, no canary reordering.
  health: { enabled: false },
  routing: { canary: 0 }
})

const pipelineLayer = (url: string) =>
  Layer.unwrapEffect(Effect.map(config, (config) =>
    Pipeline.layer(config, {
      image: {
        "gemini-pro": GeminiImageGenerator.layer({ model: pro }),
        "gemini-flash": GeminiImageGenerator.layer({ model: flash }),
        openai: OpenAIImageGenerator.layer({ model: gpt })
      }
    }))).pipe(
      Layer.provide(Layer.mergeAll(
        GeminiClient.layer({ apiKey: Redacted.make(geminiKey), baseUrl: url, timeout: "2 seconds" }),
        OpenAIClient.layer({ apiKey: Redacted.make(openAIKey), baseUrl: `${url}/v1`, timeout: "2 seconds" })
      )),
      Layer.orDie
    )

const request = ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "4K", aspectRatio: "16:9" })

/** Resets the server, scripts it, and runs one request on a fresh pipeline. */
const generate = (scripts: ReadonlyArray<readonly [string, ReadonlyArray<FaultServer.Fault | FaultServer.FaultName>]>) =>
  Effect.gen(function*() {
    const server = yield* FaultServer.FaultServerTag
    yield* server.reset
    for (const [model, faults] of scripts) yield* server.script(model, faults)
    const exit = yield* Effect.flatMap(ImageGenerator, (images) => images.generate(request)).pipe(
      Effect.provide(pipelineLayer(server.url)),
      Effect.exit
    )
    const requests = yield* server.requests
    return { exit, requests, server }
  })

const imageSizeOf = (body: unknown): unknown =>
  (body as { generationConfig?: { imageConfig?: { imageSize?: unknown } } }).generationConfig?.imageConfig?.imageSize

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

describe("the pipeline on real providers against the fault server", () => {
  layer(FaultServer.layer(), { excludeTestServices: true })((it) => {
    it.effect("(a) an overloaded Gemini Pro falls back to Gemini Flash", () =>
      Effect.gen(function*() {
        const { exit, requests } = yield* generate([[pro, ["overloaded"]]])
        if (!Exit.isSuccess(exit)) return expect.fail(Cause.pretty(exit.cause))
        const result = exit.value
        expect(result).toMatchObject({
          route: "gemini-flash",
          provider: "google",
          model: flash,
          resolution: "4K",
          requestedResolution: "4K",
          aspectRatio: "16:9",
          degraded: false,
          // 2 attempts at 4K and 2 at 2K on Pro (4 consecutive failures: below the breaker's 5), then Flash.
          attempts: 5
        })
        expect(result.images[0]!.mimeType).toBe("image/png")
        expect(Array.from(result.images[0]!.data.subarray(0, 8))).toEqual(pngSignature)
        // The server saw exactly those calls, in that order, and nothing more (no SDK retries).
        expect(requests.map((r) => [r.model, r.fault, imageSizeOf(r.body)])).toEqual([
          [pro, "overloaded", "4K"],
          [pro, "overloaded", "4K"],
          [pro, "overloaded", "2K"],
          [pro, "overloaded", "2K"],
          [flash, "ok", "4K"]
        ])
      }))

    it.effect("(b) Pro and Flash overloaded: OpenAI answers, asked for 3840x2160", () =>
      Effect.gen(function*() {
        const { exit, requests } = yield* generate([[pro, ["overloaded"]], [flash, ["overloaded"]]])
        if (!Exit.isSuccess(exit)) return expect.fail(Cause.pretty(exit.cause))
        expect(exit.value).toMatchObject({
          route: "openai",
          provider: "openai",
          model: gpt,
          resolution: "4K",
          aspectRatio: "16:9",
          degraded: false,
          attempts: 7
        })
        expect(exit.value.images[0]!.mimeType).toBe("image/png")
        expect(Array.from(exit.value.images[0]!.data.subarray(0, 8))).toEqual(pngSignature)
        expect(requests.map((r) => [r.api, r.model, r.fault])).toEqual([
          ["gemini", pro, "overloaded"],
          ["gemini", pro, "overloaded"],
          ["gemini", pro, "overloaded"],
          ["gemini", pro, "overloaded"],
          ["gemini", flash, "overloaded"],
          ["gemini", flash, "overloaded"],
          ["openai-images", gpt, "ok"]
        ])
        expect(requests[6]!.path).toBe("/v1/images/generations")
        expect(requests[6]!.body).toMatchObject({ model: gpt, size: "3840x2160", n: 1 })
      }))

    it.effect("(c) everything down: AllRoutesFailed with every attempt's error, in order", () =>
      Effect.gen(function*() {
        const { exit, requests } = yield* generate([
          [pro, ["overloaded"]],
          [flash, ["server-error"]],
          // A quota that will not heal is not retried.
          [gpt, ["quota-exhausted"]]
        ])
        if (!Exit.isFailure(exit)) return expect.fail("expected AllRoutesFailed")
        const failure = Cause.failureOption(exit.cause)
        if (Option.isNone(failure) || failure.value._tag !== "AllRoutesFailed") {
          return expect.fail(Cause.pretty(exit.cause))
        }
        const error: AllRoutesFailed = failure.value
        expect(error.attempts.map((a) => [a.route, a.resolution, a.error._tag, a.error.model])).toEqual([
          ["gemini-pro", "4K", "Overloaded", pro],
          ["gemini-pro", "4K", "Overloaded", pro],
          ["gemini-pro", "2K", "Overloaded", pro],
          ["gemini-pro", "2K", "Overloaded", pro],
          ["gemini-flash", "4K", "ProviderUnavailable", flash],
          ["gemini-flash", "4K", "ProviderUnavailable", flash],
          ["openai", "4K", "RateLimited", gpt]
        ])
        const last = error.attempts[6]!.error
        expect(last._tag === "RateLimited" && last.exhausted).toBe(true)
        // One server request per recorded attempt.
        expect(requests.map((r) => [r.model, r.fault])).toEqual([
          [pro, "overloaded"],
          [pro, "overloaded"],
          [pro, "overloaded"],
          [pro, "overloaded"],
          [flash, "server-error"],
          [flash, "server-error"],
          [gpt, "quota-exhausted"]
        ])
        // No key in the aggregate error either.
        const text = `${JSON.stringify(error)} ${error.message} ${Cause.pretty(exit.cause)}`
        expect(text).not.toContain(geminiKey)
        expect(text).not.toContain(openAIKey)
      }))

    // (d) A request-scoped BadRequest from Pro cannot be produced: every Gemini 400 the fault server sends
    // (bad-request: aspect_ratio, text-only, not-found) is route-scoped and bad-key is Unauthorized. What the
    // server can produce — a route-scoped 400 on Pro — must not be retried and must not stop the chain.
    it.effect("(d') a route-scoped bad request on Pro is not retried and moves on to Flash", () =>
      Effect.gen(function*() {
        const { exit, requests } = yield* generate([[pro, ["bad-request"]]])
        if (!Exit.isSuccess(exit)) return expect.fail(Cause.pretty(exit.cause))
        expect(exit.value).toMatchObject({ route: "gemini-flash", resolution: "4K", attempts: 3 })
        expect(requests.map((r) => [r.model, r.fault, imageSizeOf(r.body)])).toEqual([
          [pro, "bad-request", "4K"],
          [pro, "bad-request", "2K"],
          [flash, "ok", "4K"]
        ])
      }))
  })
})
