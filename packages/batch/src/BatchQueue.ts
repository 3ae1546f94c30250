/**
 * Submitting batch jobs: each submission becomes a `queued` job — or, when
 * its idempotency key is known, returns the job that key first made — with
 * an estimated completion time worked out from the job's place in the queue,
 * the off-peak window and the pace the workers keep. The place is
 * `JobStore.ahead`'s, read in a few index lookups however long the queue:
 * first when no unfinished job has the priority or a higher one, else behind
 * every job submitted since the oldest unfinished one (exact while jobs run in
 * order at one priority; later than the truth when retries or lower
 * priorities wait among them).
 *
 * @since 0.1.0
 */
import { Clock, Context, DateTime, Effect, Layer, Random } from "effect"
import type * as Option from "effect/Option"
import type { Attempt, Counts, Job, JobId, Submission } from "./Job.js"
import { JobStore, type JobStoreError, type NewJob } from "./JobStore.js"
import * as Window from "./Window.js"

/**
 * What `submit` answers: the job's id, whether the submission was a
 * duplicate of an earlier one (same idempotency key), and when the job
 * should be done.
 *
 * @since 0.1.0
 */
export interface Receipt {
  readonly id: JobId
  readonly duplicate: boolean
  readonly estimatedCompletion: DateTime.Utc
}

/**
 * The batch queue.
 *
 * @since 0.1.0
 */
export class BatchQueue extends Context.Tag("@ballast/batch/BatchQueue")<BatchQueue, BatchQueue.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace BatchQueue {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** Submits one job. */
    readonly submit: (submission: Submission) => Effect.Effect<Receipt, JobStoreError>
    /** Submits many jobs at once, all or none, answering in the same order. */
    readonly submitAll: (submissions: ReadonlyArray<Submission>) => Effect.Effect<ReadonlyArray<Receipt>, JobStoreError>
    /** A job, with its state, reason and result. */
    readonly get: (id: JobId) => Effect.Effect<Option.Option<Job>, JobStoreError>
    /** A job's attempts, oldest first. */
    readonly attempts: (id: JobId) => Effect.Effect<ReadonlyArray<Attempt>, JobStoreError>
    /** The number of jobs in each state. */
    readonly counts: Effect.Effect<Counts, JobStoreError>
  }

  /**
   * @since 0.1.0
   */
  export interface Options {
    /** The window the workers run in (default 02:00–07:00 America/Los_Angeles). */
    readonly policy?: Window.Policy | undefined
    /**
     * The jobs the workers finish per minute of open window, for estimates
     * (default 50: OpenAI's tier-3 image limit per minute).
     */
    readonly jobsPerMinute?: number | undefined
  }
}

/**
 * The default pace of estimates, in jobs per minute.
 *
 * @since 0.1.0
 */
export const defaultJobsPerMinute = 50

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

/**
 * A new job id: `job_`, the time in base 36 (so ids sort by submission
 * time), and 12 random base-36 characters.
 *
 * @since 0.1.0
 */
export const makeId: Effect.Effect<JobId> = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  let suffix = ""
  for (let i = 0; i < 12; i++) suffix += idAlphabet[yield* Random.nextIntBetween(0, 36)]
  return `job_${now.toString(36).padStart(9, "0")}${suffix}` as JobId
})

/**
 * Builds the queue on the `JobStore` of the context.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { ImageRequest } from "@ballast/core"
 * import { BatchQueue, Submission } from "@ballast/batch"
 *
 * const program = Effect.gen(function*() {
 *   const queue = yield* BatchQueue.BatchQueue
 *   const receipt = yield* queue.submit(Submission.make({
 *     request: ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "4K" }),
 *     idempotencyKey: "sku-1042"
 *   }))
 *   // receipt.id, receipt.estimatedCompletion
 * })
 */
export const make = (options: BatchQueue.Options = {}): Effect.Effect<BatchQueue.Service, never, JobStore> =>
  Effect.gen(function*() {
    const store = yield* JobStore
    const policy = options.policy ?? Window.defaultPolicy
    const jobsPerMinute = Math.max(options.jobsPerMinute ?? defaultJobsPerMinute, Number.MIN_VALUE)

    // The window's periods are worked out once and kept, not once per receipt.
    const calendar = Window.calendar(policy)
    const estimate = (now: number, position: number): DateTime.Utc =>
      DateTime.unsafeMake(calendar.completionTime(now, (position * 60_000) / jobsPerMinute))

    const submitAll: BatchQueue.Service["submitAll"] = (submissions) =>
      Effect.gen(function*() {
        if (submissions.length === 0) return []
        const now = yield* Clock.currentTimeMillis
        // Jobs already waiting ahead of each priority in the batch, read before the batch is inserted.
        const priorities = [...new Set(submissions.map((s) => s.priority))]
        const waiting = new Map<number, number>()
        for (const priority of priorities) waiting.set(priority, yield* store.ahead(priority))
        const newJobs: Array<NewJob> = []
        for (const submission of submissions) newJobs.push({ id: yield* makeId, submission, createdAt: now })
        const inserted = yield* store.insert(newJobs)
        // Earlier submissions of the batch, counted by priority, run before a later one of a lower or equal priority.
        const earlier = new Map<number, number>()
        return inserted.map((result, i): Receipt => {
          const priority = submissions[i]!.priority
          let position = waiting.get(priority)! + 1
          for (const [other, n] of earlier) if (other >= priority) position += n
          earlier.set(priority, (earlier.get(priority) ?? 0) + 1)
          return { id: result.id, duplicate: result.duplicate, estimatedCompletion: estimate(now, position) }
        })
      })

    return {
      submit: (submission) => Effect.map(submitAll([submission]), (receipts) => receipts[0]!),
      submitAll,
      get: store.get,
      attempts: store.attempts,
      counts: store.counts
    }
  })

/**
 * The queue as a Layer on the `JobStore` of the context.
 *
 * @since 0.1.0
 */
export const layer = (options: BatchQueue.Options = {}): Layer.Layer<BatchQueue, never, JobStore> =>
  Layer.effect(BatchQueue, make(options))
