import { CircuitOpen, ImageGenerator, ImageRequest } from "@ballast/core"
import { Answer, FakeProvider } from "@ballast/testing"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Deferred, Effect, Exit, Fiber, Layer, Option, Queue, Ref, TestClock } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as BatchQueue from "../src/BatchQueue.js"
import { type JobId, StoredImage, Submission } from "../src/Job.js"
import { JobStore, JobStoreError } from "../src/JobStore.js"
import * as Results from "../src/Results.js"
import * as Window from "../src/Window.js"
import * as Worker from "../src/Worker.js"
import { sqliteStore, tempDirectory } from "./support/stores.js"

const at = (iso: string): number => Date.parse(iso)
const pngSignature = [0x89, 0x50, 0x4e, 0x47]

// 2026-11-03 is PST (UTC−8): the window is 10:00Z–15:00Z.
const evening = at("2026-11-03T20:00:00-08:00")
const windowOpens = at("2026-11-04T02:00:00-08:00")

/**
 * A worker's world on TestClock: a SQLite store in a temp file, image files in a temp directory, the
 * queue, and a fake provider answering by prompt.
 */
const world = (
  answer: (prompt: string, call: number) => Answer,
  options: {
    readonly results?: Results.Results.Service
    /** Awaited by every provider call before it starts: attempts held at it resume together when it opens. */
    readonly gate?: Effect.Effect<void>
    /** Faults put between the worker and the store. */
    readonly faults?: (store: JobStore.Service) => JobStore.Service
  } = {}
) =>
  Effect.gen(function*() {
    const sqlite = yield* sqliteStore()
    // Every transaction that records attempts: the ids it was given, and what it answered for each.
    const commits = yield* Ref.make<ReadonlyArray<ReadonlyArray<readonly [JobId, boolean]>>>([])
    const logCommit = (commit: ReadonlyArray<readonly [JobId, boolean]>) => Ref.update(commits, (all) => [...all, commit])
    const store: JobStore.Service = {
      ...sqlite,
      finish: (lease, finish) =>
        Effect.tap(sqlite.finish(lease, finish), (recorded) => logCommit([[lease.jobId, recorded]])),
      finishAll: (finishes) =>
        Effect.tap(sqlite.finishAll(finishes), (answers) => logCommit(finishes.map((f, i) => [f.lease.jobId, answers[i]!])))
    }
    const directory = yield* tempDirectory("ballast-results-")
    const results = options.results ?? (yield* Results.make({ directory }).pipe(Effect.provide(NodeContext.layer)))
    const calls = yield* Ref.make(new Map<string, number>())
    const fake = yield* FakeProvider.fromClock({
      provider: "google",
      model: "gemini-3-pro-image-preview",
      route: "gemini-pro",
      answer: ({ request }) =>
        Effect.map(
          Ref.modify(calls, (byPrompt) => {
            const n = byPrompt.get(request.prompt) ?? 0
            return [n, new Map(byPrompt).set(request.prompt, n + 1)]
          }),
          (n) => answer(request.prompt, n)
        )
    })
    const context = Layer.mergeAll(
      Layer.succeed(JobStore, options.faults?.(store) ?? store),
      Layer.succeed(Results.Results, results),
      Layer.succeed(
        ImageGenerator,
        options.gate === undefined
          ? fake.service
          : ImageGenerator.of({ ...fake.service, generate: (request) => Effect.zipRight(options.gate!, fake.service.generate(request)) })
      )
    )
    const queue = yield* BatchQueue.make().pipe(Effect.provide(context))
    const submit = (prompt: string, options: { readonly priority?: number; readonly deadline?: number } = {}) =>
      Effect.map(
        queue.submit(Submission.make({
          request: ImageRequest.make({ prompt, resolution: "4K", aspectRatio: "16:9" }),
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
          ...(options.deadline !== undefined ? { deadline: DateTime.unsafeMake(options.deadline) } : {})
        })),
        (receipt) => receipt.id
      )
    const job = (id: JobId) => Effect.map(store.get(id), Option.getOrThrow)
    // Every attempt's end, so that a test waits for an attempt (and its file writes) instead of for time.
    const ended = yield* Queue.unbounded<Worker.AttemptEvent>()
    const work = (options: Worker.Options = {}) =>
      Worker.run({ pollInterval: "5 minutes", workerId: "w1", onAttempt: (event) => ended.offer(event), ...options })
        .pipe(Effect.provide(context))
    /** Waits for the next `n` attempts to end and returns how each left its job. */
    const attemptsEnded = (n = 1) =>
      Effect.map(Effect.replicateEffect(ended.take, n), (events) => events.map((e) => `${e.job.request.prompt}: ${e.next}`))
    return { store, directory, fake, submit, job, work, attemptsEnded, commits: Ref.get(commits) }
  })

/** Image files kept in memory: writing them takes no I/O, so attempts that end together reach the database together. */
const memoryResults = Effect.gen(function*() {
  const files = yield* Ref.make(new Map<string, Uint8Array>())
  const service: Results.Results.Service = {
    directory: "memory",
    write: (jobId, attempt, images) =>
      Effect.forEach(images, (image, i) => {
        const file = `${jobId}.${attempt}.${i + 1}.${Results.extensionOf(image.mimeType)}`
        return Effect.as(
          Ref.update(files, (all) => new Map(all).set(file, image.data)),
          StoredImage.make({ file, mimeType: image.mimeType, bytes: image.data.length })
        )
      }),
    remove: (images) =>
      Ref.update(files, (all) => {
        const left = new Map(all)
        for (const image of images) left.delete(image.file)
        return left
      }),
    read: (image) => Effect.map(Ref.get(files), (all) => all.get(image.file)!),
    exportTo: () => Effect.succeed([])
  }
  return { service, files: Effect.map(Ref.get(files), (all) => [...all.keys()].sort()) }
})

const ok = () => Answer.ok()

describe("Worker", () => {
  it.scoped("runs nothing while the window is closed, then every job once it opens at 02:00 PT", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(evening)
      const w = yield* world(() => ok())
      const ids = [yield* w.submit("a"), yield* w.submit("b"), yield* w.submit("c")]
      const worker = yield* Effect.fork(w.work())
      yield* TestClock.adjust("5 hours")
      expect(yield* w.fake.callCount).toBe(0)
      expect((yield* w.job(ids[0]!)).state).toBe("scheduled")
      yield* TestClock.setTime(windowOpens)
      yield* TestClock.adjust("1 second")
      expect((yield* w.attemptsEnded(3)).sort()).toEqual(["a: succeeded", "b: succeeded", "c: succeeded"])
      expect(yield* w.fake.callCount).toBe(3)
      for (const id of ids) {
        const job = yield* w.job(id)
        expect(job.state).toBe("succeeded")
        expect(job.result?.route).toBe("gemini-pro")
        expect(job.result?.resolution).toBe("4K")
        const [image] = job.result!.images
        expect(image!.file).toBe(`${id}.1.1.png`)
        expect([...readFileSync(join(w.directory, image!.file)).subarray(0, 4)]).toEqual(pngSignature)
        const calls = yield* w.fake.calls
        expect(calls.every((call) => call.at >= windowOpens)).toBe(true)
      }
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("a transient failure late in the window reschedules the job for the next window, where it runs at full quality", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-11-04T06:59:30-08:00"))
      const w = yield* world((_, call) => call === 0 ? failOverloaded : ok())
      const id = yield* w.submit("flaky")
      const worker = yield* Effect.fork(w.work())
      yield* TestClock.adjust("1 second")
      expect(yield* w.attemptsEnded()).toEqual(["flaky: scheduled"])
      const rescheduled = yield* w.job(id)
      expect(rescheduled.state).toBe("scheduled")
      expect(rescheduled.reason).toBe(
        "Overloaded: The model is overloaded. Please try again later.; runs again at 2026-11-05T10:00:00.000Z (the next window)"
      )
      // nothing more happens until the next window opens
      yield* TestClock.adjust("18 hours")
      expect(yield* w.fake.callCount).toBe(1)
      yield* TestClock.adjust("2 hours")
      expect(yield* w.attemptsEnded()).toEqual(["flaky: succeeded"])
      const done = yield* w.job(id)
      expect(done.state).toBe("succeeded")
      const attempts = yield* w.store.attempts(id)
      expect(attempts.map((a) => [a.number, a.outcome, a.errorTag])).toEqual([
        [1, "transient", "Overloaded"],
        [2, "succeeded", undefined]
      ])
      expect(attempts[1]!.startedAt.epochMillis).toBeGreaterThanOrEqual(at("2026-11-05T02:00:00-08:00"))
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("inside the window a transient failure runs again after the backoff", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-11-04T03:00:00-08:00"))
      const w = yield* world((_, call) => call < 2 ? failOverloaded : ok())
      const id = yield* w.submit("flaky")
      const worker = yield* Effect.fork(w.work({ pollInterval: "10 seconds" }))
      yield* TestClock.adjust("1 second")
      expect(yield* w.attemptsEnded()).toEqual(["flaky: scheduled"])
      yield* TestClock.adjust("1 minute")
      expect(yield* w.attemptsEnded()).toEqual(["flaky: scheduled"])
      yield* TestClock.adjust("2 minutes")
      expect(yield* w.attemptsEnded()).toEqual(["flaky: succeeded"])
      const attempts = yield* w.store.attempts(id)
      // backoff 1 minute, then 2
      expect(attempts.map((a) => [a.outcome, (a.startedAt.epochMillis - at("2026-11-04T03:00:00-08:00")) / 1000]))
        .toEqual([["transient", 0], ["transient", 60], ["succeeded", 180]])
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("a degraded answer is not a result: the job runs again until it gets the requested resolution", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world((_, call) => call === 0 ? Answer.ok({ resolution: "2K" }) : ok())
      const id = yield* w.submit("a cathedral")
      const worker = yield* Effect.fork(w.work({ pollInterval: "10 seconds" }))
      yield* TestClock.adjust("1 second")
      expect(yield* w.attemptsEnded()).toEqual(["a cathedral: scheduled"])
      yield* TestClock.adjust("1 minute")
      expect(yield* w.attemptsEnded()).toEqual(["a cathedral: succeeded"])
      const job = yield* w.job(id)
      expect(job.state).toBe("succeeded")
      expect(job.result?.resolution).toBe("4K")
      expect((yield* w.store.attempts(id)).map((a) => [a.outcome, a.message.split(",")[0]])).toEqual([
        ["degraded", "gemini-pro answered at 2K 16:9"],
        ["succeeded", "gemini-3-pro-image-preview at 4K 16:9 in 1 call(s)"]
      ])
      // only the accepted attempt left a file
      expect(readdirSync(w.directory)).toEqual([`${id}.2.1.png`])
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("a BadRequest fails the job at once, with its reason", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world(() => failBadRequest)
      const id = yield* w.submit("a malformed request")
      const summary = yield* w.work({ untilIdle: true })
      expect(summary).toEqual({ succeeded: 0, rescheduled: 0, failed: 1, dead: 0, lost: 0 })
      const job = yield* w.job(id)
      expect(job.state).toBe("failed")
      expect(job.reason).toBe("BadRequest: Request contains an invalid argument.")
      expect(yield* w.fake.callCount).toBe(1)
    }))

  it.scoped("a job that keeps failing is dead after maxAttempts", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world(() => failOverloaded)
      const id = yield* w.submit("never")
      const worker = yield* Effect.fork(w.work({ maxAttempts: 3, retryDelay: "10 seconds", pollInterval: "10 seconds" }))
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("20 seconds")
      expect(yield* w.attemptsEnded(3)).toEqual(["never: scheduled", "never: scheduled", "never: dead"])
      const job = yield* w.job(id)
      expect(job.state).toBe("dead")
      expect(job.reason).toBe(
        "gave up after 3 attempts; the last: Overloaded: The model is overloaded. Please try again later."
      )
      expect(yield* w.fake.callCount).toBe(3)
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("runs higher priorities first, up to the concurrency", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world(() => Answer.ok({ latency: "1 minute" }))
      yield* w.submit("low")
      yield* w.submit("high", { priority: 9 })
      yield* w.submit("mid", { priority: 5 })
      const worker = yield* Effect.fork(w.work({ concurrency: 2, pollInterval: "10 seconds" }))
      yield* TestClock.adjust("1 minute")
      expect((yield* w.attemptsEnded(2)).sort()).toEqual(["high: succeeded", "mid: succeeded"])
      yield* TestClock.adjust("1 minute")
      expect(yield* w.attemptsEnded()).toEqual(["low: succeeded"])
      const calls = yield* w.fake.calls
      expect(calls.map((c) => c.request.prompt)).toEqual(["high", "mid", "low"])
      // at most two at once: the third started when one of the first two had ended
      expect(calls[2]!.at - calls[0]!.at).toBeGreaterThanOrEqual(60_000)
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("a job that would miss its deadline waiting for the window runs outside it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(evening)
      const w = yield* world(() => ok())
      const urgent = yield* w.submit("urgent", { deadline: evening + 3 * 3_600_000 })
      const patient = yield* w.submit("patient", { deadline: windowOpens + 3_600_000 })
      const worker = yield* Effect.fork(w.work())
      yield* TestClock.adjust("1 second")
      expect(yield* w.attemptsEnded()).toEqual(["urgent: succeeded"])
      expect((yield* w.job(urgent)).state).toBe("succeeded")
      expect((yield* w.job(patient)).state).toBe("scheduled")
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("outsideWhenHealthy runs outside the window while the routes are healthy, and not otherwise", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(evening)
      const w = yield* world(() => ok())
      const healthy = yield* Ref.make(false)
      const id = yield* w.submit("eager")
      const worker = yield* Effect.fork(w.work({
        policy: Window.Policy.make({ schedule: Window.defaultPolicy.schedule, outsideWhenHealthy: true }),
        healthy: Ref.get(healthy)
      }))
      yield* TestClock.adjust("10 minutes")
      expect(yield* w.fake.callCount).toBe(0)
      yield* Ref.set(healthy, true)
      yield* TestClock.adjust("5 minutes")
      expect(yield* w.attemptsEnded()).toEqual(["eager: succeeded"])
      expect((yield* w.job(id)).state).toBe("succeeded")
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("follows daylight saving time: on the spring-forward night the window opens at 03:00 PDT", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-03-07T20:00:00-08:00"))
      const w = yield* world(() => ok())
      const id = yield* w.submit("spring")
      const worker = yield* Effect.fork(w.work({ pollInterval: "10 minutes" }))
      // 2026-03-08 01:50 PST is 09:50Z; clocks jump from 02:00 PST to 03:00 PDT (10:00Z)
      yield* TestClock.setTime(at("2026-03-08T09:50:00Z"))
      yield* TestClock.adjust("5 minutes")
      expect(yield* w.fake.callCount).toBe(0)
      yield* TestClock.adjust("10 minutes")
      expect(yield* w.attemptsEnded()).toEqual(["spring: succeeded"])
      const [call] = yield* w.fake.calls
      expect(call!.at).toBeGreaterThanOrEqual(at("2026-03-08T10:00:00Z"))
      expect(call!.at).toBeLessThan(at("2026-03-08T10:10:00Z"))
      expect((yield* w.job(id)).state).toBe("succeeded")
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("a worker that lost its lease records nothing and leaves no file; the job's one result is the new holder's", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world(() => Answer.ok({ latency: "2 minutes" }))
      const id = yield* w.submit("contested")
      const slow = yield* Effect.fork(w.work({ lease: "1 minute", heartbeat: "20 seconds", pollInterval: "10 seconds" }))
      yield* TestClock.adjust("1 second")
      expect((yield* w.job(id)).state).toBe("running")
      // Another worker, whose clock runs ahead, finds the lease expired and finishes the job itself.
      const later = windowOpens + 5 * 60_000
      yield* w.store.recover({ now: later, maxAttempts: 10 })
      const [claimed] = yield* w.store.claim({
        worker: "w2",
        now: later,
        leaseExpires: later + 60_000,
        limit: 1,
        dueBy: later,
        urgentBefore: later
      })
      expect(claimed!.lease.attempt).toBe(2)
      // w1's next heartbeat finds its lease gone and interrupts its attempt
      yield* TestClock.adjust("30 seconds")
      expect(yield* w.attemptsEnded()).toEqual(["contested: lost"])
      const attempts = yield* w.store.attempts(id)
      expect(attempts.map((a) => [a.number, a.worker, a.outcome])).toEqual([[1, "w1", "lost"]])
      expect(readdirSync(w.directory)).toEqual([])
      expect((yield* w.job(id)).state).toBe("running")
      yield* Fiber.interrupt(slow)
    }))

  it.scoped("attempts that end together are recorded in one transaction; a lost lease among them loses only its own job", () =>
    Effect.gen(function*() {
      const t0 = windowOpens
      yield* TestClock.setTime(t0)
      const memory = yield* memoryResults
      const gate = yield* Deferred.make<void>()
      const w = yield* world(() => ok(), { results: memory.service, gate: Deferred.await(gate) })
      const stolen = yield* w.submit("stolen")
      const worker = yield* Effect.fork(w.work({ lease: "1 minute", heartbeat: "10 minutes", pollInterval: "10 seconds" }))
      // "stolen" is claimed at t0, "kept" at t0 + 10 s; both wait at the gate
      yield* TestClock.adjust("5 seconds")
      const kept = yield* w.submit("kept")
      yield* TestClock.adjust("15 seconds")
      expect((yield* w.job(kept)).state).toBe("running")
      // Another worker, whose clock runs ahead, finds stolen's lease expired (kept's runs 10 s longer) and takes it.
      const later = t0 + 65_000
      expect(yield* w.store.recover({ now: later, maxAttempts: 10 })).toEqual({ requeued: 1, dead: 0, expired: 0 })
      const [taken] = yield* w.store.claim({
        worker: "w2",
        now: later,
        leaseExpires: later + 60_000,
        limit: 1,
        dueBy: later,
        urgentBefore: later
      })
      expect(taken!.job.id).toBe(stolen)
      yield* Deferred.succeed(gate, undefined)
      expect((yield* w.attemptsEnded(2)).sort()).toEqual(["kept: succeeded", "stolen: lost"])
      // one transaction recorded both ends: kept's, and nothing for stolen
      const commits = yield* w.commits
      expect(commits.map((commit) => [...commit].sort())).toEqual([[[kept, true], [stolen, false]].sort()])
      expect((yield* w.job(kept)).state).toBe("succeeded")
      expect((yield* w.store.attempts(kept)).map((a) => [a.number, a.outcome])).toEqual([[1, "succeeded"]])
      const other = yield* w.job(stolen)
      expect(other.state).toBe("running")
      expect(other.result).toBeUndefined()
      expect((yield* w.store.attempts(stolen)).map((a) => [a.number, a.worker, a.outcome])).toEqual([[1, "w1", "lost"]])
      // the lost attempt's image is removed; the recorded one stays
      expect(yield* memory.files).toEqual([`${kept}.1.1.png`])
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("attempts a failing transaction could not record together are recorded one at a time: a bad record fails only itself", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const memory = yield* memoryResults
      const gate = yield* Deferred.make<void>()
      const bad = yield* Ref.make<JobId | undefined>(undefined)
      const w = yield* world(() => ok(), {
        results: memory.service,
        gate: Deferred.await(gate),
        faults: (store) => ({
          ...store,
          finishAll: () => Effect.fail(new JobStoreError({ message: "database is locked" })),
          finish: (lease, finish) =>
            Effect.flatMap(Ref.get(bad), (id) =>
              lease.jobId === id ? Effect.fail(new JobStoreError({ message: "a bad record" })) : store.finish(lease, finish))
        })
      })
      const good = yield* w.submit("good")
      yield* Ref.set(bad, yield* w.submit("bad"))
      const worker = yield* Effect.fork(w.work())
      yield* Deferred.succeed(gate, undefined)
      // the transaction of both is retried (100, 200, 400, 800 ms), then each is recorded alone
      yield* TestClock.adjust("2 seconds")
      expect((yield* w.attemptsEnded(2)).sort()).toEqual(["bad: lost", "good: succeeded"])
      expect(yield* w.commits).toEqual([[[good, true]]])
      expect((yield* w.job(good)).state).toBe("succeeded")
      // not recorded: its lease runs out and it runs again
      expect((yield* w.job(Option.getOrThrow(Option.fromNullable(yield* Ref.get(bad))))).state).toBe("running")
      expect(yield* memory.files).toEqual([`${good}.1.1.png`])
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("while the breakers are open the worker claims nothing until they may close, instead of failing every job fast", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const reopens = windowOpens + 30_000
      const w = yield* world((_, call) =>
        call === 0 && _ === "first"
          ? Answer.fail(({ model, provider }) =>
            new CircuitOpen({ provider, model, route: "gemini-pro", message: "open", retryAt: Option.some(DateTime.unsafeMake(reopens)) })
          )
          : ok()
      )
      const first = yield* w.submit("first", { priority: 1 })
      yield* w.submit("second")
      const worker = yield* Effect.fork(w.work({ concurrency: 1, pollInterval: "1 second" }))
      yield* TestClock.adjust("1 second")
      expect(yield* w.attemptsEnded()).toEqual(["first: scheduled"])
      // the job itself waits for its backoff (a minute), at least until the breaker may close
      expect((yield* w.job(first)).runAt?.epochMillis).toBe(windowOpens + 60_000)
      yield* TestClock.adjust("20 seconds")
      expect(yield* w.fake.callCount).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* w.attemptsEnded()).toEqual(["second: succeeded"])
      yield* TestClock.adjust("30 seconds")
      expect(yield* w.attemptsEnded()).toEqual(["first: succeeded"])
      expect((yield* w.fake.calls).map((c) => [c.request.prompt, c.at >= reopens])).toEqual([
        ["first", false],
        ["second", true],
        ["first", true]
      ])
      yield* Fiber.interrupt(worker)
    }))

  it.scoped("stopping a worker gives its jobs back as interrupted attempts", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(windowOpens)
      const w = yield* world(() => Answer.ok({ latency: "2 minutes" }))
      const id = yield* w.submit("long")
      const worker = yield* Effect.fork(w.work())
      yield* TestClock.adjust("1 second")
      expect(Exit.isInterrupted(yield* Fiber.interrupt(worker))).toBe(true)
      const job = yield* w.job(id)
      expect(job.state).toBe("scheduled")
      expect((yield* w.store.attempts(id)).map((a) => a.outcome)).toEqual(["interrupted"])
      expect(existsSync(w.directory)).toBe(true)
    }))
})

const failOverloaded = Answer.overloaded()
const failBadRequest = Answer.badRequest("request")
