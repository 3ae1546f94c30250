import { ImageRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, DateTime, Effect, type Layer, Option, Stream } from "effect"
import { type JobId, JobResult, StoredImage, Submission } from "../src/Job.js"
import type { AttemptRecord, JobStore, Lease, NewJob } from "../src/JobStore.js"
import { FreshStore, postgresFresh, sqliteFresh } from "./support/stores.js"

const T0 = Date.parse("2026-11-03T10:00:00Z")
let ids = 0
const newJob = (
  prompt: string,
  options: { priority?: number; key?: string; deadline?: number; createdAt?: number } = {}
): NewJob => ({
  id: `job_${(ids++).toString(36).padStart(6, "0")}test` as JobId,
  createdAt: options.createdAt ?? T0,
  submission: Submission.make({
    request: ImageRequest.make({ prompt, resolution: "4K", aspectRatio: "16:9" }),
    priority: options.priority ?? 0,
    ...(options.key !== undefined ? { idempotencyKey: options.key } : {}),
    ...(options.deadline !== undefined ? { deadline: DateTime.unsafeMake(options.deadline) } : {})
  })
})

const record = (finishedAt: number, outcome: AttemptRecord["outcome"], message: string): AttemptRecord => ({
  finishedAt,
  outcome,
  message
})

const result = JobResult.make({
  images: [StoredImage.make({ file: "x.1.1.png", mimeType: "image/png", bytes: 68 })],
  route: "gemini-pro",
  provider: "google",
  model: "gemini-3-pro-image-preview",
  resolution: "4K",
  calls: 1,
  latencyMs: 1200
})

const claimAll = (store: JobStore.Service, worker: string, now: number, limit = 100) =>
  store.claim({ worker, now, leaseExpires: now + 60_000, limit, dueBy: now, urgentBefore: now })

const withStore = <A, E>(f: (store: JobStore.Service) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(FreshStore, (fresh) => Effect.flatMap(fresh.make, f)))

const conformance = (name: string, layer: Layer.Layer<FreshStore>) =>
  describe(`JobStore conformance: ${name}`, () => {
    it.layer(layer, { timeout: 30_000 })((it) => {
      it.effect("inserts queued jobs and reads them back, request and all", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const job = newJob("a lighthouse at dusk", { priority: 3, deadline: T0 + 86_400_000 })
            const [inserted] = yield* store.insert([job])
            expect(inserted).toEqual({ id: job.id, duplicate: false })
            const read = Option.getOrThrow(yield* store.get(job.id))
            expect(read.state).toBe("queued")
            expect(read.request).toEqual(job.submission.request)
            expect(read.priority).toBe(3)
            expect(read.deadline?.epochMillis).toBe(T0 + 86_400_000)
            expect(read.attempts).toBe(0)
            expect(read.createdAt.epochMillis).toBe(T0)
            expect(yield* store.get("job_missing" as JobId)).toEqual(Option.none())
            expect(yield* store.counts).toEqual({ queued: 1, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 0 })
          })
        ))

      it.effect("an idempotency key submitted twice is one job, across calls and within one call", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const first = newJob("sku 1", { key: "sku-1" })
            const [a] = yield* store.insert([first])
            const [b, c, d] = yield* store.insert([
              newJob("sku 1 again", { key: "sku-1" }),
              newJob("sku 2", { key: "sku-2" }),
              newJob("sku 2 again", { key: "sku-2" })
            ])
            expect(a).toEqual({ id: first.id, duplicate: false })
            expect(b).toEqual({ id: first.id, duplicate: true })
            expect(c!.duplicate).toBe(false)
            expect(d).toEqual({ id: c!.id, duplicate: true })
            expect((yield* store.counts).queued).toBe(2)
            expect(Option.getOrThrow(yield* store.get(first.id)).request.prompt).toBe("sku 1")
          })
        ))

      it.effect("the request's own idempotencyKey counts when the submission has none", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const withKey = (prompt: string): NewJob => ({
              ...newJob(prompt),
              submission: Submission.make({ request: ImageRequest.make({ prompt, idempotencyKey: "req-7" }) })
            })
            const [a, b] = yield* store.insert([withKey("one"), withKey("two")])
            expect(b).toEqual({ id: a!.id, duplicate: true })
          })
        ))

      it.effect("schedule moves queued jobs; claims take due jobs by priority, then runAt, then age, up to the limit", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const low = newJob("low")
            const high = newJob("high", { priority: 5 })
            const low2 = newJob("low 2")
            yield* store.insert([low, high, low2])
            expect(yield* store.claim({ worker: "w", now: T0, leaseExpires: T0 + 1, limit: 10, dueBy: T0, urgentBefore: T0 }))
              .toEqual([])
            expect(yield* store.nextRunAt).toEqual(Option.none())
            expect(yield* store.schedule({ now: T0, runAt: T0 + 1000 })).toBe(3)
            expect(yield* store.nextRunAt).toEqual(Option.some(T0 + 1000))
            expect((yield* store.counts).scheduled).toBe(3)
            expect(Option.getOrThrow(yield* store.get(low.id)).runAt?.epochMillis).toBe(T0 + 1000)
            // not yet due
            expect(yield* claimAll(store, "w", T0)).toEqual([])
            const claimed = yield* claimAll(store, "w", T0 + 1000, 2)
            expect(claimed.map((c) => c.job.id)).toEqual([high.id, low.id])
            expect(claimed.map((c) => c.lease)).toEqual([
              { jobId: high.id, worker: "w", attempt: 1 },
              { jobId: low.id, worker: "w", attempt: 1 }
            ])
            expect(claimed[0]!.job.state).toBe("running")
            expect(claimed[0]!.startedAt).toBe(T0 + 1000)
            expect((yield* store.counts)).toMatchObject({ scheduled: 1, running: 2 })
            const rest = yield* claimAll(store, "v", T0 + 2000)
            expect(rest.map((c) => c.job.id)).toEqual([low2.id])
          })
        ))

      it.effect("while the window is closed only jobs whose deadline comes before it opens are claimed", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const urgent = newJob("urgent", { deadline: T0 + 3_600_000 })
            const later = newJob("later", { deadline: T0 + 86_400_000 })
            const none = newJob("no deadline")
            yield* store.insert([urgent, later, none])
            yield* store.schedule({ now: T0, runAt: T0 })
            const opensAt = T0 + 7_200_000
            const claimed = yield* store.claim({
              worker: "w",
              now: T0,
              leaseExpires: T0 + 60_000,
              limit: 10,
              dueBy: -1,
              urgentBefore: opensAt
            })
            expect(claimed.map((c) => c.job.id)).toEqual([urgent.id])
          })
        ))

      it.effect("finish is fenced by the lease: only the holder of the current attempt writes, once", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const job = newJob("fenced")
            yield* store.insert([job])
            yield* store.schedule({ now: T0, runAt: T0 })
            const [claimed] = yield* claimAll(store, "w1", T0)
            const lease = claimed!.lease
            const stale: ReadonlyArray<Lease> = [
              { ...lease, worker: "w2" },
              { ...lease, attempt: lease.attempt + 1 }
            ]
            for (const other of stale) {
              expect(yield* store.finish(other, { _tag: "Succeeded", result, attempt: record(T0 + 5, "succeeded", "x") }))
                .toBe(false)
            }
            expect(yield* store.finish(lease, { _tag: "Succeeded", result, attempt: record(T0 + 10, "succeeded", "ok") }))
              .toBe(true)
            // a second finish with the same lease finds the job no longer running
            expect(
              yield* store.finish(lease, {
                _tag: "Failed",
                reason: "late",
                attempt: record(T0 + 20, "failed", "late")
              })
            ).toBe(false)
            const done = Option.getOrThrow(yield* store.get(job.id))
            expect(done.state).toBe("succeeded")
            expect(done.result).toEqual(result)
            const attempts = yield* store.attempts(job.id)
            expect(attempts).toHaveLength(1)
            expect(attempts[0]).toMatchObject({ number: 1, worker: "w1", outcome: "succeeded", message: "ok" })
            expect(attempts[0]!.startedAt.epochMillis).toBe(T0)
            expect(attempts[0]!.finishedAt.epochMillis).toBe(T0 + 10)
          })
        ))

      it.effect("finishAll records several attempts in one call; a lost lease answers false and writes nothing for its job only", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const [a, b, c, d] = [newJob("a"), newJob("b"), newJob("c"), newJob("d")]
            yield* store.insert([a, b, c, d])
            yield* store.schedule({ now: T0, runAt: T0 })
            const claimed = yield* store.claim({ worker: "w1", now: T0, leaseExpires: T0 + 1000, limit: 4, dueBy: T0, urgentBefore: T0 })
            const leaseOf = (id: JobId) => claimed.find((x) => x.job.id === id)!.lease
            // w1's leases run out; another worker takes one job, w1 claims the other three again
            const later = T0 + 1000
            expect((yield* store.recover({ now: later, maxAttempts: 5 })).requeued).toBe(4)
            const [again] = yield* store.claim({ worker: "w2", now: later, leaseExpires: later + 60_000, limit: 1, dueBy: later, urgentBefore: later })
            const taken = again!.job.id
            const rest = [a, b, c, d].map((job) => job.id).filter((id) => id !== taken)
            const reclaimed = yield* store.claim({ worker: "w1", now: later, leaseExpires: later + 60_000, limit: 3, dueBy: later, urgentBefore: later })
            expect(reclaimed.map((x) => x.job.id).sort()).toEqual([...rest].sort())
            const lease = (id: JobId) => id === taken ? leaseOf(id) : reclaimed.find((x) => x.job.id === id)!.lease
            const [first, second, third] = rest
            const answers = yield* store.finishAll([
              { lease: lease(first!), finish: { _tag: "Succeeded", result, attempt: record(later + 5, "succeeded", "ok 1") } },
              { lease: lease(taken), finish: { _tag: "Succeeded", result, attempt: record(later + 5, "succeeded", "stale") } },
              {
                lease: lease(second!),
                finish: { _tag: "Rescheduled", runAt: later + 60_000, reason: "again", attempt: record(later + 5, "transient", "x") }
              },
              { lease: lease(third!), finish: { _tag: "Failed", reason: "bad", attempt: record(later + 5, "failed", "bad") } },
              // the same lease twice in one call: the second finds the job no longer running
              { lease: lease(first!), finish: { _tag: "Failed", reason: "late", attempt: record(later + 6, "failed", "late") } }
            ])
            expect(answers).toEqual([true, false, true, true, false])
            expect(Option.getOrThrow(yield* store.get(first!)).state).toBe("succeeded")
            expect(Option.getOrThrow(yield* store.get(second!)).state).toBe("scheduled")
            expect(Option.getOrThrow(yield* store.get(second!)).runAt?.epochMillis).toBe(later + 60_000)
            expect(Option.getOrThrow(yield* store.get(third!)).reason).toBe("bad")
            expect((yield* store.attempts(first!)).map((x) => [x.number, x.outcome, x.message])).toEqual([
              [1, "lost", expect.any(String)],
              [2, "succeeded", "ok 1"]
            ])
            // the job another worker holds: still its, and only the lost attempt recorded
            const stolen = Option.getOrThrow(yield* store.get(taken))
            expect(stolen.state).toBe("running")
            expect(stolen.result).toBeUndefined()
            expect((yield* store.attempts(taken)).map((x) => [x.number, x.outcome])).toEqual([[1, "lost"]])
            expect(yield* store.finishAll([])).toEqual([])
            expect(yield* store.finish(again!.lease, { _tag: "Succeeded", result, attempt: record(later + 7, "succeeded", "w2") }))
              .toBe(true)
          })
        ))

      it.effect("a finish retried after its answer was lost finds its own record and answers true; another finish of that lease does not", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const job = newJob("retried")
            yield* store.insert([job])
            yield* store.schedule({ now: T0, runAt: T0 })
            const [claimed] = yield* store.claim({ worker: "w1", now: T0, leaseExpires: T0 + 1000, limit: 1, dueBy: T0, urgentBefore: T0 })
            const done = { _tag: "Succeeded", result, attempt: record(T0 + 5, "succeeded", "ok") } as const
            expect(yield* store.finish(claimed!.lease, done)).toBe(true)
            // the same finish again, as a worker retries when the commit's answer never reached it
            expect(yield* store.finish(claimed!.lease, done)).toBe(true)
            expect(yield* store.finishAll([{ lease: claimed!.lease, finish: done }])).toEqual([true])
            // a different end of the same attempt was never recorded
            expect(
              yield* store.finish(claimed!.lease, { _tag: "Failed", reason: "late", attempt: record(T0 + 6, "failed", "late") })
            ).toBe(false)
            expect((yield* store.attempts(job.id)).map((x) => [x.number, x.outcome])).toEqual([[1, "succeeded"]])
          })
        ))

      it.effect("rescheduled, failed and dead jobs keep their reason; a rescheduled job runs again at runAt", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const again = newJob("again")
            const bad = newJob("bad")
            const doomed = newJob("doomed")
            yield* store.insert([again, bad, doomed])
            yield* store.schedule({ now: T0, runAt: T0 })
            const claimed = yield* claimAll(store, "w", T0)
            const leaseOf = (id: JobId) => claimed.find((c) => c.job.id === id)!.lease
            yield* store.finish(leaseOf(again.id), {
              _tag: "Rescheduled",
              runAt: T0 + 60_000,
              reason: "Overloaded: the model is overloaded",
              attempt: { ...record(T0 + 1, "transient", "the model is overloaded"), errorTag: "Overloaded", route: "pro" }
            })
            yield* store.finish(leaseOf(bad.id), {
              _tag: "Failed",
              reason: "BadRequest: prompt too long",
              attempt: { ...record(T0 + 1, "failed", "prompt too long"), errorTag: "BadRequest" }
            })
            yield* store.finish(leaseOf(doomed.id), {
              _tag: "Dead",
              reason: "gave up",
              attempt: record(T0 + 1, "transient", "x")
            })
            expect(yield* store.counts).toMatchObject({ scheduled: 1, failed: 1, dead: 1, running: 0 })
            const rescheduled = Option.getOrThrow(yield* store.get(again.id))
            expect(rescheduled.reason).toBe("Overloaded: the model is overloaded")
            expect(rescheduled.runAt?.epochMillis).toBe(T0 + 60_000)
            expect(Option.getOrThrow(yield* store.get(bad.id)).reason).toBe("BadRequest: prompt too long")
            expect((yield* store.attempts(again.id))[0]).toMatchObject({ errorTag: "Overloaded", route: "pro" })
            expect(yield* claimAll(store, "w", T0 + 59_999)).toEqual([])
            const [second] = yield* claimAll(store, "w", T0 + 60_000)
            expect(second!.lease.attempt).toBe(2)
          })
        ))

      it.effect("heartbeats renew a worker's leases; recover takes back expired ones as lost attempts", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const alive = newJob("alive")
            const orphan = newJob("orphan")
            yield* store.insert([alive, orphan])
            yield* store.schedule({ now: T0, runAt: T0 })
            const [a] = yield* store.claim({ worker: "w1", now: T0, leaseExpires: T0 + 1000, limit: 1, dueBy: T0, urgentBefore: T0 })
            const [o] = yield* store.claim({ worker: "w2", now: T0, leaseExpires: T0 + 1000, limit: 1, dueBy: T0, urgentBefore: T0 })
            expect(yield* store.heartbeat({ worker: "w1", now: T0 + 500, leaseExpires: T0 + 1500 })).toEqual(
              new Set([a!.job.id])
            )
            expect(yield* store.recover({ now: T0 + 1000, maxAttempts: 5 })).toEqual({ requeued: 1, dead: 0, expired: 0 })
            expect(Option.getOrThrow(yield* store.get(a!.job.id)).state).toBe("running")
            const requeued = Option.getOrThrow(yield* store.get(o!.job.id))
            expect(requeued.state).toBe("scheduled")
            expect(requeued.reason).toBe("its worker stopped renewing its lease")
            expect(yield* store.attempts(o!.job.id)).toMatchObject([{ number: 1, worker: "w2", outcome: "lost" }])
            // the old holder can neither renew nor finish
            expect(yield* store.heartbeat({ worker: "w2", now: T0 + 1001, leaseExpires: T0 + 2000 })).toEqual(new Set())
            expect(yield* store.finish(o!.lease, { _tag: "Succeeded", result, attempt: record(T0 + 1001, "succeeded", "late") }))
              .toBe(false)
            const [again] = yield* claimAll(store, "w3", T0 + 1001)
            expect(again!.lease).toEqual({ jobId: o!.job.id, worker: "w3", attempt: 2 })
            expect(yield* store.finish(again!.lease, { _tag: "Succeeded", result, attempt: record(T0 + 1002, "succeeded", "ok") }))
              .toBe(true)
            expect((yield* store.attempts(o!.job.id)).map((x) => [x.number, x.outcome])).toEqual([[1, "lost"], [2, "succeeded"]])
          })
        ))

      it.effect("a job out of attempts when its lease expires is dead; a waiting job past its deadline is dead", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const tired = newJob("tired")
            const late = newJob("late", { deadline: T0 + 10 })
            yield* store.insert([tired, late])
            yield* store.schedule({ now: T0, runAt: T0 + 100 })
            yield* store.claim({ worker: "w", now: T0, leaseExpires: T0 + 5, limit: 1, dueBy: -1, urgentBefore: T0 + 100 })
              .pipe(Effect.flatMap((claimed) => Effect.sync(() => expect(claimed.map((c) => c.job.id)).toEqual([late.id]))))
            // give `late` back to the queue, then let time pass its deadline
            expect(yield* store.recover({ now: T0 + 5, maxAttempts: 3 })).toEqual({ requeued: 1, dead: 0, expired: 0 })
            expect(yield* store.recover({ now: T0 + 10, maxAttempts: 3 })).toEqual({ requeued: 0, dead: 0, expired: 1 })
            const [t] = yield* claimAll(store, "w", T0 + 100)
            expect(t!.job.id).toBe(tired.id)
            expect(yield* store.recover({ now: T0 + 60_100, maxAttempts: 1 })).toEqual({ requeued: 0, dead: 1, expired: 0 })
            const dead = Option.getOrThrow(yield* store.get(tired.id))
            expect(dead.state).toBe("dead")
            expect(dead.reason).toContain("gave up after 1 attempts")
            const deadline = Option.getOrThrow(yield* store.get(late.id))
            expect(deadline.state).toBe("dead")
            expect(deadline.reason).toBe("its deadline passed before it could run")
          })
        ))

      it.effect("concurrent claims never lease one job twice", () =>
        withStore((store) =>
          Effect.gen(function*() {
            yield* store.insert(Array.from({ length: 60 }, (_, i) => newJob(`job ${i}`)))
            yield* store.schedule({ now: T0, runAt: T0 })
            const batches = yield* Effect.all(
              Array.from({ length: 6 }, (_, w) => claimAll(store, `w${w}`, T0, 15)),
              { concurrency: "unbounded" }
            )
            const claimedIds = batches.flat().map((c) => c.job.id)
            expect(claimedIds).toHaveLength(60)
            expect(new Set(claimedIds).size).toBe(60)
          })
        ))

      it.effect("lists a state in submission order across pages", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const jobs = Array.from({ length: 7 }, (_, i) => newJob(`p${i}`, { priority: i % 2 }))
            yield* store.insert(jobs)
            const listed = yield* Stream.runCollect(store.list("queued", { pageSize: 3 }))
            expect(Chunk.toReadonlyArray(listed).map((job) => job.id)).toEqual(jobs.map((job) => job.id))
            expect(Chunk.size(yield* Stream.runCollect(store.list("succeeded")))).toBe(0)
          })
        ))

      it.effect("ahead: none when no unfinished job has the priority or a higher one, else every job since the oldest unfinished one", () =>
        withStore((store) =>
          Effect.gen(function*() {
            expect(yield* store.ahead(0)).toBe(0)
            yield* store.insert(Array.from({ length: 5 }, (_, i) => newJob(`low ${i}`)))
            expect(yield* store.ahead(0)).toBe(5)
            expect(yield* store.ahead(1)).toBe(0)
            yield* store.insert([newJob("high 0", { priority: 3 }), newJob("high 1", { priority: 3 })])
            expect(yield* store.ahead(4)).toBe(0)
            // more than the truth (2): the five waiting jobs of priority 0 are counted too
            expect(yield* store.ahead(3)).toBe(7)
            expect(yield* store.ahead(0)).toBe(7)
            yield* store.schedule({ now: T0, runAt: T0 })
            const claimed = yield* claimAll(store, "w", T0, 3)
            expect(claimed.map((c) => c.job.request.prompt)).toEqual(["high 0", "high 1", "low 0"])
            // running jobs are unfinished
            expect(yield* store.ahead(0)).toBe(7)
            yield* store.finishAll(claimed.map((c) => ({
              lease: c.lease,
              finish: { _tag: "Succeeded", result, attempt: record(T0 + 1, "succeeded", "ok") } as const
            })))
            expect(yield* store.ahead(3)).toBe(0)
            // low 1 is the oldest unfinished job; the two newer ones that finished before it still count
            expect(yield* store.ahead(0)).toBe(6)
          })
        ))

      it.effect("inserts more jobs than one statement binds, all or none", () =>
        withStore((store) =>
          Effect.gen(function*() {
            const many = Array.from({ length: 1_234 }, (_, i) => newJob(`bulk ${i}`, { key: `bulk-${i}` }))
            const inserted = yield* store.insert(many)
            expect(inserted.filter((i) => !i.duplicate)).toHaveLength(1_234)
            expect((yield* store.counts).queued).toBe(1_234)
            // a batch whose last job is invalid for the database (a duplicate id) leaves nothing behind
            const failing = [...Array.from({ length: 600 }, (_, i) => newJob(`more ${i}`)), { ...newJob("dup"), id: many[0]!.id }]
            const error = yield* Effect.flip(store.insert(failing))
            expect(error._tag).toBe("JobStoreError")
            expect((yield* store.counts).queued).toBe(1_234)
          })
        ))
    })
  })

conformance("SQLite", sqliteFresh)
conformance("PostgreSQL", postgresFresh)

