/**
 * The batch queue's figures: enqueue rate (one job per submit, and 1,000 per
 * submitAll), end-to-end job rate through a worker with a zero-latency
 * fake provider (claim, generate, write the image file, record the attempt),
 * on SQLite and on PostgreSQL, single submits behind 100,000 queued jobs, and a
 * worker's heap with 100,000 jobs queued against 1,000. Prints wall rates and
 * this process's CPU time per job (the machine may be shared: compare CPU per
 * job between runs of one sitting). Prints figures; asserts nothing.
 *
 *   pnpm --filter @ballast/bench run bench:batch     (PostgreSQL: BALLAST_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_BATCH=e2e BENCH_BATCH_STORES=sqlite BENCH_BATCH_JOBS=10000 pnpm --filter @ballast/bench run bench:batch
 */
import { BatchQueue, JobStore, Results, SqlStore, Submission, Worker } from "@ballast/batch"
import { ImageGenerator, ImageRequest } from "@ballast/core"
import { FakeProvider } from "@ballast/testing"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { NodeContext } from "@effect/platform-node"
import { Context, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import * as inspector from "node:inspector"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"

const pgUrl = process.env["BALLAST_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const submission = (i: number) => Submission.make({ request: ImageRequest.make({ prompt: `catalogue item ${i}` }) })
const rate = (n: number, millis: number) => `${Math.round((n * 1000) / millis).toLocaleString("en-US")}/s`
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

interface Store {
  readonly name: string
  readonly layer: Layer.Layer<JobStore.JobStore>
  readonly cleanup: Effect.Effect<void>
}

const sqlite = (): Store => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-bench-"))
  return {
    name: "SQLite",
    layer: Layer.orDie(SqlStore.layerSqlite({ filename: join(dir, "batch.db") })),
    cleanup: Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  }
}

const pgClient = PgClient.layer({ url: Redacted.make(pgUrl), maxConnections: 10 })
let pgRuns = 0
const postgres = (): Store => {
  const prefix = `bench${process.pid}_${pgRuns++}_`
  return {
    name: "PostgreSQL",
    layer: Layer.orDie(SqlStore.layer({ tablePrefix: prefix }).pipe(Layer.provide(pgClient))),
    cleanup: Effect.scoped(Effect.gen(function*() {
      const sql = Context.get(yield* Layer.build(pgClient), SqlClient.SqlClient)
      yield* sql`DROP TABLE IF EXISTS ${sql(`${prefix}jobs`)}, ${sql(`${prefix}attempts`)}`
    })).pipe(Effect.orDie)
  }
}

// Wall time and this process's CPU time (user + system, every thread: the SQLite client runs on the main one).
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const cpuBefore = process.cpuUsage()
    return Effect.map(Effect.timed(effect), ([duration, value]) => {
      const cpu = process.cpuUsage(cpuBefore)
      return [Duration.toMillis(duration), value, (cpu.user + cpu.system) / 1000] as const
    })
  })
const cpuPer = (n: number, cpuMillis: number) => `${Math.round((cpuMillis * 1000) / n).toLocaleString("en-US")} µs CPU/job`

const enqueue = (store: Store, single: number, batched: number) =>
  Effect.gen(function*() {
    const queue = yield* BatchQueue.BatchQueue
    // Warm-up, untimed: the figures are of a process that has been submitting for a while.
    yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => queue.submit(submission(i)), { discard: true })
    const [singleMillis, , singleCpu] = yield* profiled(
      `${store.name}-enqueue`,
      timed(Effect.forEach(Array.from({ length: single }, (_, i) => i), (i) => queue.submit(submission(i)), { discard: true }))
    )
    const [batchMillis, , batchCpu] = yield* timed(Effect.forEach(
      Array.from({ length: batched / 1000 }, (_, chunk) => chunk),
      (chunk) => queue.submitAll(Array.from({ length: 1000 }, (_, i) => submission(chunk * 1000 + i))),
      { discard: true }
    ))
    console.log(`${store.name.padEnd(10)} enqueue, one job per submit:   ${rate(single, singleMillis).padStart(9)} (${single} jobs; ${cpuPer(single, singleCpu)})`)
    console.log(`${store.name.padEnd(10)} enqueue, 1,000 per submitAll:  ${rate(batched, batchMillis).padStart(9)} (${batched} jobs; ${cpuPer(batched, batchCpu)})`)
  }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provide(store.layer))))

const worker = (directory: string) =>
  Layer.mergeAll(
    Results.layer({ directory }).pipe(Layer.provide(NodeContext.layer), Layer.orDie),
    Layer.effect(ImageGenerator, Effect.map(FakeProvider.scripted({ model: "gemini-3-pro-image-preview", answers: [] }), (fake) => fake.service))
  )

// With BENCH_BATCH_PROFILE=<dir>, CPU profiles of the single submits and of the end-to-end runs (not the submits
// before them) are written there.
const profileDirectory = process.env["BENCH_BATCH_PROFILE"]
const profiled = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) => {
  if (profileDirectory === undefined) return effect
  const session = new inspector.Session()
  const post = (method: string) =>
    Effect.async<unknown>((resume) => session.post(method, (error, result) => resume(error ? Effect.die(error) : Effect.succeed(result))))
  return Effect.acquireUseRelease(
    Effect.sync(() => session.connect()).pipe(Effect.zipRight(post("Profiler.enable")), Effect.zipRight(post("Profiler.start"))),
    () => effect,
    () =>
      post("Profiler.stop").pipe(
        Effect.map((result) => {
          mkdirSync(profileDirectory, { recursive: true })
          const file = join(profileDirectory, `${name}.cpuprofile`)
          writeFileSync(file, JSON.stringify((result as { profile: unknown }).profile))
          session.disconnect()
          console.log(`(CPU profile: ${file})`)
        })
      )
  )
}

const endToEnd = (store: Store, jobs: number, concurrency: number) =>
  Effect.gen(function*() {
    const queue = yield* BatchQueue.BatchQueue
    for (let i = 0; i < jobs; i += 1000) yield* queue.submitAll(Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => submission(i + j)))
    const directory = mkdtempSync(join(tmpdir(), "ballast-bench-images-"))
    const [millis, summary, cpu] = yield* profiled(
      `${store.name}-e2e`,
      timed(Worker.run({ ignoreWindow: true, untilIdle: true, concurrency, pollInterval: "50 millis" }).pipe(Effect.provide(worker(directory))))
    )
    rmSync(directory, { recursive: true, force: true })
    console.log(`${store.name.padEnd(10)} jobs end to end (concurrency ${concurrency}): ${rate(summary.succeeded, millis).padStart(9)} (${summary.succeeded} jobs in ${(millis / 1000).toFixed(1)} s; ${cpuPer(summary.succeeded, cpu)})`)
  }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provideMerge(store.layer))))

// A worker's heap after it has finished `work` jobs of a queue of `queued`; the last 1,000 jobs are submitted
// one per transaction, to time single submits behind a long queue.
const heapWith = (queued: number, work: number) =>
  Effect.gen(function*() {
    const store = sqlite()
    const result = yield* Effect.gen(function*() {
      const queue = yield* BatchQueue.BatchQueue
      const single = 1_000
      for (let i = 0; i < queued - single; i += 1000) {
        yield* queue.submitAll(Array.from({ length: Math.min(1000, queued - single - i) }, (_, j) => submission(i + j)))
      }
      const [singleMillis, , singleCpu] = yield* timed(
        Effect.forEach(Array.from({ length: single }, (_, i) => i), (i) => queue.submit(submission(i)), { discard: true })
      )
      const jobStore = yield* JobStore.JobStore
      const directory = mkdtempSync(join(tmpdir(), "ballast-bench-images-"))
      const fiber = yield* Effect.fork(Worker.run({ ignoreWindow: true, concurrency: 16, pollInterval: "50 millis" }).pipe(Effect.provide(worker(directory))))
      while ((yield* jobStore.counts).succeeded < work) yield* Effect.sleep("20 millis")
      global.gc?.()
      const heap = process.memoryUsage().heapUsed
      yield* Fiber.interrupt(fiber)
      rmSync(directory, { recursive: true, force: true })
      return { heap, singleMillis, singleCpu, single }
    }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provideMerge(store.layer))))
    yield* store.cleanup
    return result
  })

// BENCH_BATCH=enqueue,e2e,heap picks the parts (default all); BENCH_BATCH_STORES=sqlite,postgres the stores;
// BENCH_BATCH_JOBS the jobs end to end (default 5,000); BENCH_BATCH_PROFILE=<dir> profiles single
// submits and end-to-end runs.
const parts = (process.env["BENCH_BATCH"] ?? "enqueue,e2e,heap").split(",")
const stores = (process.env["BENCH_BATCH_STORES"] ?? "sqlite,postgres").split(",").map((name) =>
  name === "postgres" ? postgres : sqlite
)
const endToEndJobs = Number(process.env["BENCH_BATCH_JOBS"] ?? 5_000)

const program = Effect.gen(function*() {
  const load = () => loadavg().map((n) => n.toFixed(2)).join(" ")
  console.log(`node ${process.version}, ${cpus().length} cores, load average ${load()}, ${new Date().toISOString()}\n`)
  if (parts.includes("enqueue")) {
    for (const make of stores) {
      const store = make()
      yield* enqueue(store, 2_000, 20_000)
      yield* store.cleanup
    }
  }
  if (parts.includes("e2e")) {
    for (const make of stores) {
      const store = make()
      yield* endToEnd(store, endToEndJobs, 16)
      yield* store.cleanup
    }
  }
  if (parts.includes("heap")) {
    if (global.gc === undefined) console.log("(run with --expose-gc for the memory figures)")
    const small = yield* heapWith(1_000 + 2_000, 2_000)
    const large = yield* heapWith(100_000 + 2_000, 2_000)
    console.log(`\nSQLite     enqueue, one job per submit, ~100,000 queued: ${rate(large.single, large.singleMillis).padStart(9)} (${large.single} jobs; ${cpuPer(large.single, large.singleCpu)})`)
    console.log(`worker heap after 2,000 jobs, 1,000 more queued:   ${mb(small.heap)}`)
    console.log(`worker heap after 2,000 jobs, 100,000 more queued: ${mb(large.heap)}`)
  }
  console.log(`\nload average at the end: ${load()}`)
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
