/**
 * The batch queue's figures: enqueue rate (one job per transaction, and 1,000
 * per transaction), end-to-end job rate through a worker with a zero-latency
 * fake provider (claim, generate, write the image file, record the attempt),
 * on SQLite and on PostgreSQL, and a worker's heap with 100,000 jobs queued
 * against 1,000. Prints figures; asserts nothing.
 *
 *   pnpm --filter @ballast/bench run bench:batch     (PostgreSQL: BALLAST_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
 */
import { BatchQueue, JobStore, Results, SqlStore, Submission, Worker } from "@ballast/batch"
import { ImageGenerator, ImageRequest } from "@ballast/core"
import { FakeProvider } from "@ballast/testing"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { NodeContext } from "@effect/platform-node"
import { Context, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
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

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([duration, value]) => [Duration.toMillis(duration), value] as const)

const enqueue = (store: Store, single: number, batched: number) =>
  Effect.gen(function*() {
    const queue = yield* BatchQueue.BatchQueue
    const [singleMillis] = yield* timed(Effect.forEach(Array.from({ length: single }, (_, i) => i), (i) => queue.submit(submission(i)), { discard: true }))
    const [batchMillis] = yield* timed(Effect.forEach(
      Array.from({ length: batched / 1000 }, (_, chunk) => chunk),
      (chunk) => queue.submitAll(Array.from({ length: 1000 }, (_, i) => submission(chunk * 1000 + i))),
      { discard: true }
    ))
    console.log(`${store.name.padEnd(10)} enqueue, one per transaction:  ${rate(single, singleMillis).padStart(9)} (${single} jobs)`)
    console.log(`${store.name.padEnd(10)} enqueue, 1,000 per transaction: ${rate(batched, batchMillis).padStart(9)} (${batched} jobs)`)
  }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provide(store.layer))))

const worker = (directory: string) =>
  Layer.mergeAll(
    Results.layer({ directory }).pipe(Layer.provide(NodeContext.layer), Layer.orDie),
    Layer.effect(ImageGenerator, Effect.map(FakeProvider.scripted({ model: "gemini-3-pro-image-preview", answers: [] }), (fake) => fake.service))
  )

const endToEnd = (store: Store, jobs: number, concurrency: number) =>
  Effect.gen(function*() {
    const queue = yield* BatchQueue.BatchQueue
    for (let i = 0; i < jobs; i += 1000) yield* queue.submitAll(Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => submission(i + j)))
    const directory = mkdtempSync(join(tmpdir(), "ballast-bench-images-"))
    const [millis, summary] = yield* timed(Worker.run({ ignoreWindow: true, untilIdle: true, concurrency, pollInterval: "50 millis" }).pipe(Effect.provide(worker(directory))))
    rmSync(directory, { recursive: true, force: true })
    console.log(`${store.name.padEnd(10)} jobs end to end (concurrency ${concurrency}): ${rate(summary.succeeded, millis).padStart(9)} (${summary.succeeded} jobs in ${(millis / 1000).toFixed(1)} s)`)
  }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provideMerge(store.layer))))

// A worker's heap after it has finished `work` jobs of a queue of `queued`.
const heapWith = (queued: number, work: number) =>
  Effect.gen(function*() {
    const store = sqlite()
    const result = yield* Effect.gen(function*() {
      const queue = yield* BatchQueue.BatchQueue
      for (let i = 0; i < queued; i += 1000) yield* queue.submitAll(Array.from({ length: Math.min(1000, queued - i) }, (_, j) => submission(i + j)))
      const jobStore = yield* JobStore.JobStore
      const directory = mkdtempSync(join(tmpdir(), "ballast-bench-images-"))
      const fiber = yield* Effect.fork(Worker.run({ ignoreWindow: true, concurrency: 16, pollInterval: "50 millis" }).pipe(Effect.provide(worker(directory))))
      while ((yield* jobStore.counts).succeeded < work) yield* Effect.sleep("20 millis")
      global.gc?.()
      const heap = process.memoryUsage().heapUsed
      yield* Fiber.interrupt(fiber)
      rmSync(directory, { recursive: true, force: true })
      return heap
    }).pipe(Effect.provide(BatchQueue.layer().pipe(Layer.provideMerge(store.layer))))
    yield* store.cleanup
    return result
  })

const program = Effect.gen(function*() {
  console.log(`node ${process.version}, ${new Date().toISOString()}\n`)
  for (const make of [sqlite, postgres]) {
    const store = make()
    yield* enqueue(store, 2_000, 20_000)
    yield* store.cleanup
  }
  for (const make of [sqlite, postgres]) {
    const store = make()
    yield* endToEnd(store, 5_000, 16)
    yield* store.cleanup
  }
  if (global.gc === undefined) console.log("(run with --expose-gc for the memory figures)")
  const small = yield* heapWith(1_000 + 2_000, 2_000)
  const large = yield* heapWith(100_000 + 2_000, 2_000)
  console.log(`\nworker heap after 2,000 jobs, 1,000 more queued:   ${mb(small)}`)
  console.log(`worker heap after 2,000 jobs, 100,000 more queued: ${mb(large)}`)
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
