import { ImageRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as BatchQueue from "../src/BatchQueue.js"
import { Submission } from "../src/Job.js"
import { JobStore } from "../src/JobStore.js"
import * as SqlStore from "../src/SqlStore.js"
import { tempDirectory } from "./support/stores.js"

const here = dirname(fileURLToPath(import.meta.url))
const repositoryRoot = resolve(here, "../../..")
const workerScript = join(here, "support", "crashWorker.ts")
const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const jobs = 300
const kills = 4

interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly output: () => string
}

// A worker process we started, killed (by its own pid) if the test ends while it runs.
const startWorker = (db: string, images: string, url: string) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = spawn(process.execPath, ["--import", "tsx", workerScript, db, images, url], {
        cwd: repositoryRoot,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout!.on("data", (chunk) => (output += String(chunk)))
      child.stderr!.on("data", (chunk) => (output += String(chunk)))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, exited, output: () => output }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

describe("crash safety", () => {
  // The one real multi-process test: worker processes killed with SIGKILL mid-batch, then restarted.
  it.live(`a worker killed with SIGKILL ${kills} times while it works through ${jobs} jobs finishes every job, each with exactly one result`, () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDirectory("ballast-crash-")
      const db = join(dir, "batch.db")
      const images = join(dir, "images")
      const server = yield* FaultServer.make()
      // small real latencies, and every 7th call a 503
      let calls = 0
      yield* server.decide("gpt-image-2", () => (++calls % 7 === 0 ? "overloaded" : { fault: "ok", latency: 5 + (calls % 4) * 5 }))

      const store = yield* Layer.build(SqlStore.layerSqlite({ filename: db })).pipe(
        Effect.map((context) => context.unsafeMap.get(JobStore.key) as JobStore.Service)
      )
      const queue = yield* BatchQueue.make().pipe(Effect.provideService(JobStore, store))
      const receipts = yield* queue.submitAll(
        Array.from({ length: jobs }, (_, i) =>
          Submission.make({ request: ImageRequest.make({ prompt: `catalogue item ${i}` }), idempotencyKey: `sku-${i}` }))
      )
      const succeeded = Effect.map(store.counts, (counts) => counts.succeeded)

      for (let kill = 1; kill <= kills; kill++) {
        const worker = yield* startWorker(db, images, server.url)
        const target = Math.round((kill * jobs) / (kills + 2))
        while ((yield* succeeded) < target) {
          expect(worker.child.exitCode, worker.output()).toBeNull()
          yield* Effect.sleep("20 millis")
        }
        expect(worker.child.kill("SIGKILL")).toBe(true)
        const exit = yield* Effect.promise(() => worker.exited)
        expect(exit.signal).toBe("SIGKILL")
      }
      const last = yield* startWorker(db, images, server.url)
      const exit = yield* Effect.promise(() => last.exited)
      expect(exit, last.output()).toEqual({ code: 0, signal: null })

      // every job succeeded, exactly once
      expect(yield* store.counts).toEqual({ queued: 0, scheduled: 0, running: 0, succeeded: jobs, failed: 0, dead: 0 })
      const done = Chunk.toReadonlyArray(yield* Stream.runCollect(store.list("succeeded")))
      expect(done.map((job) => job.id).sort()).toEqual(receipts.map((r) => r.id).sort())
      let lost = 0
      for (const job of done) {
        const attempts = yield* store.attempts(job.id)
        expect(attempts.filter((a) => a.outcome === "succeeded")).toHaveLength(1)
        // attempt numbers are each recorded once, in order, the success last
        expect(attempts.map((a) => a.number)).toEqual(attempts.map((_, i) => i + 1))
        expect(attempts[attempts.length - 1]!.outcome).toBe("succeeded")
        lost += attempts.filter((a) => a.outcome === "lost").length
        // its one result is a whole PNG on disk
        const [image] = job.result!.images
        const bytes = readFileSync(join(images, image!.file))
        expect(bytes.length).toBe(image!.bytes)
        expect([...bytes.subarray(0, 8)]).toEqual(pngSignature)
      }
      // the kills landed mid-batch: leases were taken back from killed workers
      expect(lost).toBeGreaterThan(0)
      // no temporary file was ever counted: every recorded file is a final one
      const recorded = new Set(done.map((job) => job.result!.images[0]!.file))
      expect([...recorded].every((file) => file.endsWith(".png"))).toBe(true)
      const stray = readdirSync(images).filter((file) => !recorded.has(file))
      expect(stray.every((file) => /\.\d+\.1\.png(\.tmp)?$/.test(file))).toBe(true)
    })), 120_000)
})
