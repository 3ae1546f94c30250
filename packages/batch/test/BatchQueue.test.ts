import { ImageRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Either, Layer, Option, TestClock } from "effect"
import * as BatchQueue from "../src/BatchQueue.js"
import * as Job from "../src/Job.js"
import { JobStore } from "../src/JobStore.js"
import { sqliteStore } from "./support/stores.js"

const at = (iso: string): number => Date.parse(iso)
const submission = (prompt: string, options: { priority?: number; key?: string } = {}) =>
  Job.Submission.make({
    request: ImageRequest.make({ prompt, resolution: "4K" }),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    ...(options.key !== undefined ? { idempotencyKey: options.key } : {})
  })

const queueOn = (options: BatchQueue.BatchQueue.Options = {}) =>
  Effect.flatMap(sqliteStore(), (store) => BatchQueue.make(options).pipe(Effect.provide(Layer.succeed(JobStore, store))))

describe("BatchQueue", () => {
  it.scoped("submit answers the job's id and an estimate from its place in the queue, the window and the pace", () =>
    Effect.gen(function*() {
      // 20:00 PST: the window opens at 02:00 (10:00Z); 60 jobs a minute
      yield* TestClock.setTime(at("2026-11-03T20:00:00-08:00"))
      const queue = yield* queueOn({ jobsPerMinute: 60 })
      const first = yield* queue.submit(submission("first"))
      expect(first.id).toMatch(/^job_[0-9a-z]+$/)
      expect(first.duplicate).toBe(false)
      expect(DateTime.formatIso(first.estimatedCompletion)).toBe("2026-11-04T10:00:01.000Z")
      const batch = yield* queue.submitAll(Array.from({ length: 120 }, (_, i) => submission(`job ${i}`)))
      expect(DateTime.formatIso(batch[119]!.estimatedCompletion)).toBe("2026-11-04T10:02:01.000Z")
      // a higher priority goes ahead of all of them
      const urgent = yield* queue.submit(submission("urgent", { priority: 1 }))
      expect(DateTime.formatIso(urgent.estimatedCompletion)).toBe("2026-11-04T10:00:01.000Z")
      expect((yield* queue.counts).queued).toBe(122)
      const stored = Option.getOrThrow(yield* queue.get(first.id))
      expect(stored.request.prompt).toBe("first")
      expect(yield* queue.attempts(first.id)).toEqual([])
    }))

  it.scoped("a queue longer than one window finishes in a later one", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-11-04T06:00:00-08:00"))
      const queue = yield* queueOn({ jobsPerMinute: 1 })
      const receipts = yield* queue.submitAll(Array.from({ length: 90 }, (_, i) => submission(`job ${i}`)))
      // 60 in the last hour of tonight's window, the other 30 in the first half hour of tomorrow's
      expect(DateTime.formatIso(receipts[89]!.estimatedCompletion)).toBe("2026-11-05T10:30:00.000Z")
    }))

  it.scoped("an idempotency key submitted twice is one job", () =>
    Effect.gen(function*() {
      const queue = yield* queueOn()
      const a = yield* queue.submit(submission("sku 1042", { key: "sku-1042" }))
      const b = yield* queue.submit(submission("sku 1042, again", { key: "sku-1042" }))
      expect(b.id).toBe(a.id)
      expect(b.duplicate).toBe(true)
      expect((yield* queue.counts).queued).toBe(1)
      // job ids are unique across submissions
      const ids = yield* queue.submitAll(Array.from({ length: 50 }, (_, i) => submission(`x ${i}`)))
      expect(new Set(ids.map((r) => r.id)).size).toBe(50)
    }))
})

describe("Job.decodeLine", () => {
  it("reads a jobs.jsonl line: the request's fields with the job's priority, deadline and idempotency key", () => {
    const line = Job.decodeLine(
      `{"prompt":"a lighthouse","resolution":"4K","aspectRatio":"16:9","priority":5,"deadline":"2026-11-05T07:00:00Z","idempotencyKey":"sku-1"}`
    )
    const submission = Either.getOrThrow(line)
    expect(submission.request.prompt).toBe("a lighthouse")
    expect(submission.request.resolution).toBe("4K")
    expect(submission.request.aspectRatio).toBe("16:9")
    expect(submission.priority).toBe(5)
    expect(submission.idempotencyKey).toBe("sku-1")
    expect(submission.deadline && DateTime.formatIso(submission.deadline)).toBe("2026-11-05T07:00:00.000Z")
    expect(Either.getOrThrow(Job.decodeLine(`{"prompt":"plain"}`)).priority).toBe(0)
  })

  it("names what is wrong with a bad line", () => {
    expect(Job.decodeLine(`{"prompt":"x","resolution":"8K"}`)).toEqual(
      Either.left(`resolution: Expected "1K" | "2K" | "4K", actual "8K"`)
    )
    expect(Either.getLeft(Job.decodeLine(`{"prompt":"   "}`))).toEqual(Option.some("prompt: must not be blank"))
    expect(Either.getLeft(Job.decodeLine(`{"prompt":"x","colour":"red"}`))).toEqual(
      Option.some(`colour: is unexpected, expected: "prompt" | "resolution" | "aspectRatio" | "n" | "referenceImages" | "priority" | "deadline" | "idempotencyKey"`)
    )
    expect(Either.isLeft(Job.decodeLine(`{"prompt":`))).toBe(true)
  })
})
