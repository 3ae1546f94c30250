/**
 * `/v1/batches` on a real gateway (127.0.0.1:0) with a SQLite queue in a
 * temporary directory and its own worker, in front of the fault server:
 * jobs submitted over HTTP are run and their images fetched back.
 */
import { describe, expect, it } from "@effect/vitest"
import { FaultServer } from "@ballast/testing"
import { ConfigProvider, Effect, Logger, LogLevel, Schedule } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Gateway, GatewayConfig, VirtualKeys } from "../src/index.js"

const key = "sk-ballast-batch-key"
const model = "gpt-image-2"

const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "ballast-gateway-batch-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const start = (batch: boolean, requestsPerMinute?: number, bodyLimit?: number) =>
  Effect.gen(function*() {
    const server = yield* FaultServer.make()
    const dir = yield* temporaryDirectory
    const config = yield* GatewayConfig.decode({
      server: { port: 0, ...(bodyLimit !== undefined ? { bodyLimit } : {}) },
      keys: [{ name: "batch-test", sha256: VirtualKeys.hash(key), ...(requestsPerMinute !== undefined ? { requestsPerMinute } : {}) }],
      providers: { openai: { kind: "openai", baseUrl: `${server.url}/v1`, apiKeyEnv: "TEST_OPENAI_KEY" } },
      models: {
        [model]: {
          pipeline: {
            routes: { openai: { provider: "openai", model } },
            plan: [{ route: "openai" }],
            retry: { attempts: 1 },
            health: { enabled: false }
          }
        }
      },
      ...(batch ? { batch: { db: join(dir, "batch.db"), worker: { ignoreWindow: true, concurrency: 2 } } } : {})
    })
    const gateway = yield* Gateway.make(config).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TEST_OPENAI_KEY", "sk-upstream"]])))
    )
    return { gateway, server }
  }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const call = (url: string, init: { readonly method?: string; readonly body?: unknown; readonly key?: string | null } = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: init.method ?? "GET",
      headers: {
        "content-type": "application/json",
        ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? key}` })
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {})
    })
    const bytes = new Uint8Array(await response.arrayBuffer())
    const text = new TextDecoder().decode(bytes)
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      retryAfter: response.headers.get("retry-after"),
      bytes,
      json
    }
  })

describe("/v1/batches", () => {
  it.live("queues jobs over HTTP; the gateway's worker runs them; the images come back", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start(true)
      const jobs = `${gateway.url}/v1/batches/jobs`

      // A key is required, and one bad job refuses the submission, naming its field.
      expect((yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "x" }] }, key: null })).status).toBe(401)
      expect((yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "x" }] }, key: "sk-wrong" })).json).toMatchObject({
        _tag: "Unauthorized"
      })
      const bad = yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "a", resolution: "8K" }] } })
      expect(bad.status).toBe(400)
      expect(bad.json.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: ["jobs", 0, "resolution"] })]))

      const submitted = yield* call(jobs, {
        method: "POST",
        body: {
          jobs: [
            { prompt: "a lighthouse at dusk", idempotencyKey: "sku-1" },
            { prompt: "a lighthouse at dawn", resolution: "2K", priority: 5 }
          ]
        }
      })
      expect(submitted.status).toBe(200)
      const [first, second] = submitted.json.jobs
      expect(first).toMatchObject({ duplicate: false, estimatedCompletion: expect.any(String) })
      // The same idempotency key is the same job.
      const again = yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "a lighthouse at dusk", idempotencyKey: "sku-1" }] } })
      expect(again.json.jobs[0]).toMatchObject({ id: first.id, duplicate: true })

      // The worker (window ignored) runs both.
      const status = yield* call(`${gateway.url}/v1/batches`).pipe(
        Effect.filterOrFail((s) => s.json?.counts?.succeeded === 2, () => "not yet"),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1_000 })
      )
      expect(status.json).toMatchObject({
        counts: { queued: 0, scheduled: 0, running: 0, succeeded: 2, failed: 0, dead: 0 },
        window: { timeZone: "America/Los_Angeles" },
        worker: true
      })

      const detail = yield* call(`${jobs}/${second.id}`)
      expect(detail.json.job).toMatchObject({ id: second.id, state: "succeeded", priority: 5, request: { resolution: "2K" } })
      expect(detail.json.job.result).toMatchObject({ route: "openai", model, resolution: "2K" })
      expect(detail.json.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(["succeeded"])

      const image = yield* call(`${jobs}/${second.id}/images/1`)
      expect(image.status).toBe(200)
      expect(image.type).toBe("image/png")
      expect(Buffer.from(image.bytes).equals(FaultServer.makePng())).toBe(true)
      expect((yield* call(`${jobs}/${second.id}/images/2`)).json).toMatchObject({ _tag: "NoImage", state: "succeeded" })
      expect((yield* call(`${jobs}/job_0000000000unknown`)).status).toBe(404)
      expect((yield* call(`${jobs}/not-a-job-id`)).status).toBe(400)
    }).pipe(Effect.scoped))

  it.live("a gateway without a batch section answers 404, saying so", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start(false)
      const status = yield* call(`${gateway.url}/v1/batches`)
      expect(status.status).toBe(404)
      expect(status.json).toMatchObject({ _tag: "BatchNotConfigured" })
    }).pipe(Effect.scoped))

  it.live("a virtual key's request limit applies: 429 with retry-after", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start(true, 1)
      expect((yield* call(`${gateway.url}/v1/batches`)).status).toBe(200)
      const limited = yield* call(`${gateway.url}/v1/batches`)
      expect(limited.status).toBe(429)
      expect(limited.json).toMatchObject({ _tag: "TooManyRequests", retryAfterSeconds: 60 })
      expect(limited.retryAfter).toBe("60")
    }).pipe(Effect.scoped))

  it.live("a submission over server.bodyLimit is a 413, before its body is read", () =>
    Effect.gen(function*() {
      const { gateway } = yield* start(true, undefined, 2_000)
      const jobs = `${gateway.url}/v1/batches/jobs`
      const small = yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "a fox" }] } })
      expect(small.status).toBe(200)
      const large = yield* call(jobs, { method: "POST", body: { jobs: [{ prompt: "a fox ".repeat(400) }] } })
      expect(large.status).toBe(413)
      expect(large.json).toMatchObject({ _tag: "PayloadTooLarge", message: expect.stringContaining("2000 bytes") })
      // A body of unknown length (chunked) could be any size: 411.
      const chunked = yield* Effect.promise(() =>
        new Promise<number>((resolve, reject) => {
          const request = http.request(jobs, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "transfer-encoding": "chunked" }
          }, (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          })
          request.on("error", reject)
          request.end(JSON.stringify({ jobs: [{ prompt: "a fox" }] }))
        })
      )
      expect(chunked).toBe(411)
    }).pipe(Effect.scoped))
})
