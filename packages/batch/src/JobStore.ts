/**
 * Where jobs live: one interface over SQLite (the embedded default) and
 * PostgreSQL (many workers in separate processes), implemented once in
 * `SqlStore`. Every instant is given by the caller, read from `Clock`, so the
 * store never reads a clock of its own and `TestClock` drives it.
 *
 * Crash safety rests on three rules the store enforces:
 * - a claim leases a job to one worker until `leaseExpires`, and stamps it
 *   with the attempt number, which is the lease's fencing token;
 * - a worker renews its leases by heartbeat; a lease not renewed in time is
 *   taken back by `recover` (the attempt is recorded as `lost`) and the job
 *   runs again;
 * - `finish` writes a job's outcome only while the caller still holds the
 *   lease with that token, so a worker that lost its lease can never write a
 *   second result; a job's outcome counts once its transaction has committed
 *   (`finishAll` commits several at once).
 *
 * @since 0.1.0
 */
import { Context, type Effect, type Option, Schema, type Stream } from "effect"
import type { Attempt, AttemptOutcome, Counts, Job, JobId, JobResult, JobState, Submission } from "./Job.js"

/**
 * A store operation failed (the database could not be reached, a statement
 * failed, a stored row did not decode).
 *
 * @since 0.1.0
 */
export class JobStoreError extends Schema.TaggedError<JobStoreError>("@ballast/batch/JobStoreError")("JobStoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * A job to insert: a submission with the id and time `submit` gave it.
 *
 * @since 0.1.0
 */
export interface NewJob {
  readonly id: JobId
  readonly submission: Submission
  readonly createdAt: number
}

/**
 * What `insert` did with one job: its id (the existing job's, when the
 * idempotency key was known) and whether it was a duplicate.
 *
 * @since 0.1.0
 */
export interface Inserted {
  readonly id: JobId
  readonly duplicate: boolean
}

/**
 * A lease on a running job: the worker holding it and the attempt number,
 * which fences every write the worker makes for the job.
 *
 * @since 0.1.0
 */
export interface Lease {
  readonly jobId: JobId
  readonly worker: string
  readonly attempt: number
}

/**
 * A job a worker has claimed, with its lease and when the attempt started.
 *
 * @since 0.1.0
 */
export interface Claimed {
  readonly job: Job
  readonly lease: Lease
  readonly startedAt: number
}

/**
 * Which jobs `claim` may take: `scheduled` jobs whose `runAt` is at or before
 * `dueBy`, and those whose deadline is at or before `urgentBefore` (a job that
 * would miss its deadline waiting for the window runs outside it).
 *
 * @since 0.1.0
 */
export interface ClaimOptions {
  readonly worker: string
  readonly now: number
  readonly leaseExpires: number
  readonly limit: number
  readonly dueBy: number
  readonly urgentBefore: number
}

/**
 * The end of an attempt: the job's next state (`scheduled` with a `runAt`
 * to run again; `succeeded` with its result; `failed` or `dead`), why, and
 * the attempt's record.
 *
 * @since 0.1.0
 */
export type Finish =
  | {
    readonly _tag: "Succeeded"
    readonly result: JobResult
    readonly attempt: AttemptRecord
  }
  | {
    readonly _tag: "Rescheduled"
    readonly runAt: number
    readonly reason: string
    readonly attempt: AttemptRecord
  }
  | {
    readonly _tag: "Failed" | "Dead"
    readonly reason: string
    readonly attempt: AttemptRecord
  }

/**
 * The state a job is in once an attempt's finish is recorded.
 *
 * @since 0.1.0
 */
export const stateAfter = (finish: Finish): Extract<JobState, "succeeded" | "scheduled" | "failed" | "dead"> =>
  finish._tag === "Succeeded"
    ? "succeeded"
    : finish._tag === "Rescheduled"
    ? "scheduled"
    : finish._tag === "Failed"
    ? "failed"
    : "dead"

/**
 * One attempt to finish: the lease it was made under and its end.
 *
 * @since 0.1.0
 */
export interface Finishing {
  readonly lease: Lease
  readonly finish: Finish
}

/**
 * The part of an attempt's record its worker knows when it finishes.
 *
 * @since 0.1.0
 */
export interface AttemptRecord {
  readonly finishedAt: number
  readonly outcome: AttemptOutcome
  readonly route?: string | undefined
  readonly errorTag?: string | undefined
  readonly message: string
}

/**
 * What `recover` did: jobs whose leases had expired, run again or (out of
 * attempts) dead, and jobs that passed their deadline waiting.
 *
 * @since 0.1.0
 */
export interface Recovered {
  readonly requeued: number
  readonly dead: number
  readonly expired: number
}

/**
 * The store of jobs.
 *
 * @since 0.1.0
 */
export class JobStore extends Context.Tag("@ballast/batch/JobStore")<JobStore, JobStore.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace JobStore {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /**
     * Inserts jobs as `queued`, all or none. A job whose idempotency key is
     * already stored (or appears earlier in the same call) is not inserted:
     * its result names the first job's id.
     */
    readonly insert: (jobs: ReadonlyArray<NewJob>) => Effect.Effect<ReadonlyArray<Inserted>, JobStoreError>
    /** A job by id. */
    readonly get: (id: JobId) => Effect.Effect<Option.Option<Job>, JobStoreError>
    /** A job's attempts, oldest first. */
    readonly attempts: (id: JobId) => Effect.Effect<ReadonlyArray<Attempt>, JobStoreError>
    /** The number of jobs in each state. */
    readonly counts: Effect.Effect<Counts, JobStoreError>
    /**
     * About how many unfinished jobs run before a new job of this priority,
     * for estimates, at a cost that does not grow with the queue: none when
     * no unfinished job has this priority or a higher one; otherwise every job
     * submitted since the oldest unfinished one. That is exact while jobs run
     * in submission order at one priority, and more than the truth when some
     * newer jobs have finished before an older one (a retry waiting out its
     * backoff) or when jobs of a lower priority wait among them.
     */
    readonly ahead: (priority: number) => Effect.Effect<number, JobStoreError>
    /** The earliest `runAt` of the `scheduled` jobs, if there are any. */
    readonly nextRunAt: Effect.Effect<Option.Option<number>, JobStoreError>
    /** Jobs in a state, in submission order, read a page at a time. */
    readonly list: (state: JobState, options?: { readonly pageSize?: number }) => Stream.Stream<Job, JobStoreError>
    /** Moves every `queued` job to `scheduled`, to run at `runAt`. Returns how many moved. */
    readonly schedule: (options: { readonly runAt: number; readonly now: number }) => Effect.Effect<number, JobStoreError>
    /**
     * Takes back expired leases (recording each as a `lost` attempt) — the job
     * is `scheduled` again at `now`, or `dead` once it has had `maxAttempts` —
     * and marks `dead` the waiting jobs whose deadline has passed.
     */
    readonly recover: (options: { readonly now: number; readonly maxAttempts: number }) => Effect.Effect<Recovered, JobStoreError>
    /** Leases up to `limit` jobs to a worker, highest priority first, then earliest `runAt`, then oldest. */
    readonly claim: (options: ClaimOptions) => Effect.Effect<ReadonlyArray<Claimed>, JobStoreError>
    /**
     * Extends every lease `worker` holds to `leaseExpires`; returns the ids of
     * the jobs it still holds (a job missing from the answer was taken back).
     */
    readonly heartbeat: (
      options: { readonly worker: string; readonly now: number; readonly leaseExpires: number }
    ) => Effect.Effect<ReadonlySet<JobId>, JobStoreError>
    /**
     * Records the end of an attempt and the job's next state, only if `lease`
     * still holds: `false` when the lease was lost (nothing is written). A
     * retry of a finish that committed but whose answer was lost (the
     * connection dropped) finds its own attempt row and answers `true`.
     */
    readonly finish: (lease: Lease, finish: Finish) => Effect.Effect<boolean, JobStoreError>
    /**
     * `finish` for several attempts in one transaction (a group commit): all
     * are written or, on an error, none. Answers in the same order; each
     * lease is checked alone, so a lost lease answers `false` and writes
     * nothing for its job only.
     */
    readonly finishAll: (finishes: ReadonlyArray<Finishing>) => Effect.Effect<ReadonlyArray<boolean>, JobStoreError>
  }
}
