/**
 * The dashboard's routes on a real server (127.0.0.1, port 0) over a timeline
 * of a fake pipeline: the page is one self-contained document, and the data
 * endpoint answers the timeline's samples as JSON.
 */
import { describe, expect, it } from "@effect/vitest"
import { GeneratedImage, ImageGenerator, ImageRequest, Pipeline, PipelineConfig } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { ConfigProvider, Effect, Logger, LogLevel, TestClock } from "effect"
import * as Dashboard from "../../src/Dashboard.js"
import * as Gateway from "../../src/Gateway.js"
import * as GatewayConfig from "../../src/GatewayConfig.js"
import * as Timeline from "../../src/Timeline.js"
import * as VirtualKeys from "../../src/VirtualKeys.js"

const png = GeneratedImage.make({ data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mimeType: "image/png" })

const capabilities = { modalities: ["image"], resolutions: ["1K", "2K"], aspectRatios: ["1:1"] }

// A timeline (one sample a second, TestClock) of a one-route pipeline that answers at once, and a server for it.
const serve = Effect.gen(function*() {
  const config = yield* PipelineConfig.decode({
    routes: { pro: { provider: "google", model: "dashboard-model", capabilities } },
    plan: [{ route: "pro" }],
    retry: { attempts: 1 },
    health: { enabled: false },
    routing: { canary: 0 }
  })
  const pro = ImageGenerator.make({
    provider: "google",
    model: "dashboard-model",
    route: "pro",
    generate: () => Effect.succeed({ images: [png] })
  })
  const pipeline = yield* Pipeline.make(config, { image: { pro } })
  const timeline = yield* Timeline.make({ models: new Map([["images", pipeline]]), inFlight: Effect.succeed(0) }, {
    interval: "1 second",
    retention: "1 minute"
  })
  const { port, url } = yield* Dashboard.serve(timeline)
  yield* TestClock.adjust("0 millis") // the first sample, at 0
  return { pipeline, port, timeline, url }
})

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      cache: response.headers.get("cache-control"),
      text: await response.text()
    }
  })

describe("Dashboard", () => {
  it.scoped("serves the page: one document with its script and styles inline, nothing fetched elsewhere", () =>
    Effect.gen(function*() {
      const { port, url } = yield* serve
      expect(port).toBeGreaterThan(0)
      expect(url).toBe(`http://127.0.0.1:${port}`)
      const page = yield* get(`${url}/dashboard`)
      expect(page.status).toBe(200)
      expect(page.type).toContain("text/html")
      expect(page.cache).toBe("no-store")
      expect(page.text).toBe(Dashboard.page)
      expect(page.text).toContain("<h1>Ballast dashboard</h1>")
      expect(page.text).toContain("<script>")
      expect(page.text).toContain("<style>")
      expect(page.text).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//)
      // The page's script parses.
      const script = page.text.slice(page.text.indexOf("<script>") + 8, page.text.indexOf("</script>"))
      expect(() => new Function(script)).not.toThrow()
    }))

  it.scoped("serves the samples as JSON, all of them or those after `since`", () =>
    Effect.gen(function*() {
      const { pipeline, timeline, url } = yield* serve
      yield* pipeline.generate(ImageRequest.make({ prompt: "a lighthouse at dusk" }))
      yield* TestClock.adjust("3 seconds")
      const response = yield* get(`${url}/dashboard/data`)
      expect(response.status).toBe(200)
      expect(response.type).toContain("application/json")
      expect(response.cache).toBe("no-store")
      const body = JSON.parse(response.text) as Dashboard.Data
      expect(body).toMatchObject({
        intervalMs: 1000,
        capacity: 60,
        models: [{ model: "images", routes: [{ route: "pro", provider: "google", model: "dashboard-model", kind: "image" }] }]
      })
      expect(body.samples.map((s) => s.at)).toEqual([0, 1000, 2000, 3000])
      expect(body.samples[1]).toEqual({
        at: 1000,
        inFlight: 0,
        models: [{
          model: "images",
          requests: 1,
          degraded: 0,
          failed: 0,
          degradedShare: 0,
          routes: [{
            route: "pro",
            successRate: 1,
            outcomes: 1,
            // the fake answers in no time under TestClock: one success of 0 ms (an average of 0 is no average yet)
            latencyEwmaMs: null,
            latencyP50Ms: 0,
            latencyP95Ms: 0,
            breaker: "Closed",
            health: null,
            answered: 1,
            degraded: 0,
            degradedShare: 0,
            inFlight: 0,
            demoted: false
          }]
        }]
      })
      expect(body).toEqual(yield* Dashboard.data(timeline))
      const since = JSON.parse((yield* get(`${url}/dashboard/data?since=1000`)).text) as Dashboard.Data
      expect(since.samples.map((s) => s.at)).toEqual([2000, 3000])
    }))

  it.scoped("answers 400 for a `since` that is not a number, and 404 off its two paths", () =>
    Effect.gen(function*() {
      const { url } = yield* serve
      const bad = yield* get(`${url}/dashboard/data?since=yesterday`)
      expect(bad.status).toBe(400)
      // The admin API's decode error, naming the parameter.
      expect(JSON.parse(bad.text)).toMatchObject({
        _tag: "HttpApiDecodeError",
        issues: expect.arrayContaining([
          expect.objectContaining({ path: ["since"], message: "Unable to decode \"yesterday\" into a number" })
        ])
      })
      expect((yield* get(`${url}/v1/routes`)).status).toBe(404)
    }))

  it.live("the gateway serves the dashboard of its own models at /dashboard, without a key", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const config = yield* GatewayConfig.decode({
        server: { port: 0 },
        keys: [{ name: "test", sha256: VirtualKeys.hash("sk-ballast-test-key") }],
        providers: { google: { kind: "google", baseUrl: server.url, apiKeyEnv: "TEST_GOOGLE_KEY" } },
        models: {
          "gemini-3-pro-image-preview": {
            pipeline: {
              routes: { "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview" } },
              plan: [{ route: "gemini-pro" }],
              health: { enabled: false }
            }
          }
        }
      })
      const gateway = yield* Gateway.make(config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TEST_GOOGLE_KEY", "g-key"]])))
      )

      const page = yield* get(`${gateway.url}/dashboard`)
      expect(page.status).toBe(200)
      expect(page.text).toBe(Dashboard.page)
      const data = yield* get(`${gateway.url}/dashboard/data`)
      expect(data.status).toBe(200)
      expect(JSON.parse(data.text)).toMatchObject({
        intervalMs: 2000,
        models: [{ model: "gemini-3-pro-image-preview", routes: [{ route: "gemini-pro", kind: "image" }] }]
      })
      expect((yield* get(`${gateway.url}/health`)).status).toBe(200)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)))
})
