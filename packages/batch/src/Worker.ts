/**
 * A batch worker: a scheduler loop that, while the off-peak window is open
 * (or the routes are healthy, or the window is ignored), leases jobs from the
 * `JobStore`, runs each through an `ImageGenerator` — the resilient pipeline,
 * whose per-route `limits.requestsPerMinute` pace the calls — and records the
 * attempt and the job's next state.
 *
 * - A full-quality answer (the requested resolution, not `degraded`) is
 *   written to files (`Results`) and then recorded, fenced by the lease: a
 *   worker that lost its lease removes its files and records nothing.
 * - A degraded answer or a transient error (`Overloaded`, `RateLimited`,
 *   `Timeout`, `ProviderUnavailable`, `CircuitOpen`, `AllRoutesFailed`, …)
 *   schedules the job again after a backoff, to run at full quality the next
 *   time the window is open; after `maxAttempts` the job is `dead`.
 * - A `BadRequest` or a safety block (`ContentRejected`) fails the job at once
 *   with its reason: no retry would heal it.
 * - One heartbeat per worker renews all its leases; a job whose lease could
 *   not be renewed (taken back after the worker stalled) is interrupted.
 *
 * @since 0.1.0
 */
import { type CircuitOpen, type GenerationError, ImageGenerator, type ImageResult, PeakWindows } from "@ballast/core"
import {
  Cause,
  Clock,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Option,
  Queue,
  Random,
  Ref,
  Schedule,
  type Scope
} from "effect"
import { type Job, type JobId, JobResult, type StoredImage } from "./Job.js"
import { type Claimed, type Finish, type Finishing, JobStore, type JobStoreError, type Lease, stateAfter } from "./JobStore.js"
import { Results } from "./Results.js"
import * as Window from "./Window.js"

/**
 * Options of a worker.
 *
 * @since 0.1.0
 */
export interface Options {
  /** This worker's name in leases and attempt records (default: `worker-` and random characters). */
  readonly workerId?: string | undefined
  /** Jobs run at once (default 4). */
  readonly concurrency?: number | undefined
  /** How long a lease lasts without a heartbeat (default 60 seconds). */
  readonly lease?: Duration.DurationInput | undefined
  /** How often leases are renewed (default: a third of `lease`). */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** How often the scheduler looks for work when there was none (default 1 second). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Attempts before a job is `dead` (default 10). */
  readonly maxAttempts?: number | undefined
  /** The first backoff before a job runs again (default 1 minute), doubling per attempt … */
  readonly retryDelay?: Duration.DurationInput | undefined
  /** … up to this (default 1 hour). */
  readonly maxRetryDelay?: Duration.DurationInput | undefined
  /** When jobs may run (default 02:00–07:00 America/Los_Angeles). */
  readonly policy?: Window.Policy | undefined
  /** Run jobs whatever the window says (`work --now`). */
  readonly ignoreWindow?: boolean | undefined
  /** Whether every route is healthy, for `policy.outsideWhenHealthy` (default: never). */
  readonly healthy?: Effect.Effect<boolean> | undefined
  /**
   * Return once nothing can run now: no job of this worker in flight, none
   * due, none queued and none running elsewhere (default: run until interrupted).
   */
  readonly untilIdle?: boolean | undefined
  /** Told of every attempt when it ends, e.g. to print progress. */
  readonly onAttempt?: ((event: AttemptEvent) => Effect.Effect<void>) | undefined
}

/**
 * The end of one attempt, as told to `onAttempt`.
 *
 * @since 0.1.0
 */
export interface AttemptEvent {
  readonly job: Job
  readonly attempt: number
  /** The job's next state, or `lost` when the lease was lost and nothing was recorded. */
  readonly next: "succeeded" | "scheduled" | "failed" | "dead" | "lost"
  readonly message: string
}

/**
 * What a worker did before it returned.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly succeeded: number
  readonly rescheduled: number
  readonly failed: number
  readonly dead: number
  readonly lost: number
}

/**
 * The defaults of `Options`.
 *
 * @since 0.1.0
 */
export const defaults = {
  concurrency: 4,
  lease: Duration.seconds(60),
  pollInterval: Duration.seconds(1),
  maxAttempts: 10,
  retryDelay: Duration.minutes(1),
  maxRetryDelay: Duration.hours(1)
} as const

/**
 * What an attempt's outcome means for the job.
 *
 * @since 0.1.0
 */
export type Verdict =
  | { readonly _tag: "Accept"; readonly result: ImageResult }
  | {
    readonly _tag: "Retry" | "Fail"
    readonly outcome: "degraded" | "transient" | "failed"
    readonly message: string
    readonly route?: string | undefined
    readonly errorTag?: string | undefined
  }

// Errors no retry heals: the request itself is refused, or a safety system blocks it.
const permanentTags: ReadonlySet<string> = new Set(["BadRequest", "ContentRejected"])

const isPermanent = (error: GenerationError): boolean =>
  permanentTags.has(error._tag) ||
  (error._tag === "AllRoutesFailed" && error.attempts.length > 0 &&
    error.attempts.every((attempt) => permanentTags.has(attempt.error._tag)))

const routeOf = (error: GenerationError): string | undefined =>
  error._tag === "CircuitOpen"
    ? error.route
    : error._tag === "AllRoutesFailed"
    ? error.attempts[error.attempts.length - 1]?.route
    : undefined

/**
 * Whether a result is what the job asked for: images at the requested
 * resolution and aspect ratio, not a text description.
 *
 * @since 0.1.0
 */
export const isFullQuality = (result: ImageResult): boolean =>
  !result.degraded && result.images.length > 0 && result.description === undefined &&
  result.resolution === result.requestedResolution

/**
 * Classifies the end of a generation: accept a full-quality result, retry a
 * degraded one or a transient failure, fail a `BadRequest` or a safety block
 * (also when every route of an `AllRoutesFailed` answered one of those).
 *
 * @since 0.1.0
 */
export const classify = (exit: Exit.Exit<ImageResult, GenerationError>): Verdict => {
  if (Exit.isSuccess(exit)) {
    const result = exit.value
    return isFullQuality(result)
      ? { _tag: "Accept", result }
      : {
        _tag: "Retry",
        outcome: "degraded",
        route: result.route,
        message: result.images.length === 0
          ? `only a text description from ${result.route}`
          : `${result.route} answered at ${result.resolution} ${result.aspectRatio}, ` +
            `not the requested ${result.requestedResolution}`
      }
  }
  return Option.match(Cause.failureOption(exit.cause), {
    onNone: () => ({
      _tag: "Retry",
      outcome: "transient",
      message: Cause.isInterruptedOnly(exit.cause) ? "interrupted" : `defect: ${Cause.pretty(exit.cause).split("\n")[0]}`
    }),
    onSome: (error): Verdict => ({
      _tag: isPermanent(error) ? "Fail" : "Retry",
      outcome: isPermanent(error) ? "failed" : "transient",
      route: routeOf(error),
      errorTag: error._tag,
      message: error._tag === "AllRoutesFailed" && error.attempts.length > 0
        ? `${error.message}: ${error.attempts.map((a) => `${a.route}@${a.resolution} ${a.error._tag}`).join(", ")}`
        : error.message
    })
  })
}

/**
 * When the routes may take calls again, if a generation failed without any
 * provider call because every breaker it met was open: the earliest `retryAt`
 * of its `CircuitOpen`s, or `fallback` when none says.
 *
 * @since 0.1.0
 */
export const breakersReopenAt = (
  exit: Exit.Exit<ImageResult, GenerationError>,
  fallback: number
): number | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
  const opens = error === undefined
    ? []
    : error._tag === "CircuitOpen"
    ? [error]
    : error._tag === "AllRoutesFailed" && error.attempts.length > 0 &&
        error.attempts.every((attempt) => attempt.error._tag === "CircuitOpen")
    ? error.attempts.map((attempt) => attempt.error as CircuitOpen)
    : []
  if (opens.length === 0) return undefined
  const times = opens.map((open) => Option.match(open.retryAt, { onNone: () => fallback, onSome: (at) => at.epochMillis }))
  return Math.min(...times)
}

// The most attempts recorded in one transaction.
const maxBatch = 256

// Resumes after the event loop's current turn: the I/O callbacks ready now (other attempts' file writes) run first.
const nextTurn: Effect.Effect<void> = Effect.async((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

const randomSuffix = Effect.gen(function*() {
  let suffix = ""
  for (let i = 0; i < 8; i++) suffix += "0123456789abcdefghijklmnopqrstuvwxyz"[yield* Random.nextIntBetween(0, 36)]
  return suffix
})

const iso = (millis: number) => DateTime.formatIso(DateTime.unsafeMake(millis))

/**
 * Runs a worker until it is interrupted (or, with `untilIdle`, until nothing
 * can run now) and returns what it did. Interrupting it gives the jobs in
 * flight back (each recorded as an `interrupted` attempt, to run again).
 *
 * @since 0.1.0
 * @example
 * import { Effect, Layer } from "effect"
 * import { NodeContext } from "@effect/platform-node"
 * import { Results, SqlStore, Worker } from "@ballast/batch"
 *
 * // with the resilient ImageGenerator (Pipeline.layer) in the context:
 * const work = Worker.run({ concurrency: 8, ignoreWindow: true, untilIdle: true }).pipe(
 *   Effect.provide(Layer.mergeAll(
 *     SqlStore.layerSqlite({ filename: "batch.db" }),
 *     Results.layer({ directory: "batch.db.images" }).pipe(Layer.provide(NodeContext.layer))
 *   ))
 * )
 */
export const run = (
  options: Options = {}
): Effect.Effect<Summary, JobStoreError, JobStore | ImageGenerator | Results> =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* JobStore
    const generator = yield* ImageGenerator
    const results = yield* Results
    const worker = options.workerId ?? `worker-${yield* randomSuffix}`
    const concurrency = Math.max(1, options.concurrency ?? defaults.concurrency)
    const leaseMillis = Duration.toMillis(options.lease ?? defaults.lease)
    const heartbeatEvery = options.heartbeat ?? Duration.millis(leaseMillis / 3)
    const pollInterval = options.pollInterval ?? defaults.pollInterval
    const maxAttempts = options.maxAttempts ?? defaults.maxAttempts
    const retryMillis = Duration.toMillis(options.retryDelay ?? defaults.retryDelay)
    const maxRetryMillis = Duration.toMillis(options.maxRetryDelay ?? defaults.maxRetryDelay)
    const policy = options.policy ?? Window.defaultPolicy
    // Decides on every turn of the scheduler by comparing numbers, reading the time zone's rules once per window.
    const calendar = Window.calendar(policy)
    const ignoreWindow = options.ignoreWindow ?? false

    // While every route's breaker is open, jobs would only fail fast one after another: the worker claims
    // nothing until the earliest breaker may let a call through again.
    let pausedUntil = Number.NEGATIVE_INFINITY
    const summary = yield* Ref.make<Summary>({ succeeded: 0, rescheduled: 0, failed: 0, dead: 0, lost: 0 })
    const count = (key: keyof Summary) => Ref.update(summary, (s) => ({ ...s, [key]: s[key] + 1 }))
    const inFlight = new Map<JobId, Fiber.RuntimeFiber<void>>()
    const slotFreed = yield* Queue.sliding<void>(1)

    // Group commit: attempts that end together are recorded in one transaction by one fiber, each waiting for its
    // own answer. A job counts as done only once that transaction has committed. A transaction that fails on the
    // database is retried; if it still fails, its attempts are tried once more one at a time, so that one bad record
    // fails only itself. An attempt not recorded is not done: its lease runs out and the job runs again.
    const retryPolicy = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4)))
    const notRecorded = (jobId: JobId) => (cause: Cause.Cause<JobStoreError>) =>
      Effect.as(Effect.logWarning(`job ${jobId}: cannot record the attempt`, cause), false)
    type Pending = Finishing & { readonly recorded: Deferred.Deferred<boolean> }
    const pending = yield* Queue.unbounded<Pending>()
    const commitBatch = (batch: ReadonlyArray<Pending>) =>
      Effect.suspend(() =>
        batch.length === 1
          ? Effect.map(store.finish(batch[0]!.lease, batch[0]!.finish), (recorded) => [recorded])
          : store.finishAll(batch)
      ).pipe(
        Effect.retry(retryPolicy),
        Effect.catchAllCause((cause) =>
          batch.length === 1
            ? Effect.map(notRecorded(batch[0]!.lease.jobId)(cause), (recorded) => [recorded])
            : Effect.zipRight(
              Effect.logWarning(`cannot record ${batch.length} attempts together; recording each alone`, cause),
              Effect.forEach(batch, ({ finish, lease }) =>
                Effect.suspend(() => store.finish(lease, finish)).pipe(Effect.catchAllCause(notRecorded(lease.jobId))))
            )
        ),
        Effect.flatMap((answers) => Effect.forEach(batch, (entry, i) => Deferred.succeed(entry.recorded, answers[i]!)))
      )
    // Once an attempt is waiting, the others that arrive while the event loop turns (their file writes completing)
    // join it, until a turn brings none. Started before any job, so that it is stopped after the jobs in flight have
    // recorded their interrupted attempts; an attempt taken from the queue is always answered.
    const gather = (batch: Array<Pending>): Effect.Effect<ReadonlyArray<Pending>> =>
      Effect.flatMap(Effect.zipRight(nextTurn, Queue.takeUpTo(pending, maxBatch - batch.length)), (more) => {
        batch.push(...more)
        return more.length === 0 || batch.length >= maxBatch ? Effect.succeed(batch) : gather(batch)
      })
    yield* Effect.uninterruptibleMask((restore) =>
      restore(Queue.take(pending)).pipe(
        Effect.flatMap((first) => gather([first])),
        Effect.flatMap(commitBatch)
      )
    ).pipe(Effect.forever, Effect.forkScoped)
    const record = (lease: Lease, finish: Finish) =>
      Effect.flatMap(Deferred.make<boolean>(), (recorded) =>
        Effect.zipRight(pending.offer({ lease, finish, recorded }), Deferred.await(recorded)))

    const reschedule = (
      job: Job,
      attempt: number,
      now: number,
      verdict: Verdict & { _tag: "Retry" | "Fail" },
      notBefore?: number
    ) => {
      const record = {
        finishedAt: now,
        outcome: verdict.outcome,
        route: verdict.route,
        errorTag: verdict.errorTag,
        message: verdict.message
      }
      const label = verdict.errorTag === undefined ? verdict.message : `${verdict.errorTag}: ${verdict.message}`
      if (verdict._tag === "Fail") return { _tag: "Failed", reason: label, attempt: record } as const
      if (attempt >= maxAttempts) {
        return { _tag: "Dead", reason: `gave up after ${attempt} attempts; the last: ${label}`, attempt: record } as const
      }
      const runAt = Math.max(now + Math.min(retryMillis * 2 ** (attempt - 1), maxRetryMillis), notBefore ?? now)
      const effective = ignoreWindow ? runAt : Window.nextOpen(policy, runAt)
      if (job.deadline !== undefined && effective > job.deadline.epochMillis) {
        return {
          _tag: "Dead",
          reason: `its deadline ${DateTime.formatIso(job.deadline)} passes before it could run again; the last: ${label}`,
          attempt: record
        } as const
      }
      return {
        _tag: "Rescheduled",
        runAt,
        reason: `${label}; runs again at ${iso(effective)}${effective > runAt ? " (the next window)" : ""}`,
        attempt: record
      } as const
    }

    const attemptJob = ({ job, lease }: Claimed) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(restore(generator.generate(job.request)))
          const now = yield* Clock.currentTimeMillis
          let finish: Finish
          let written: ReadonlyArray<StoredImage> = []
          if (Exit.isInterrupted(exit)) {
            finish = {
              _tag: "Rescheduled",
              runAt: now,
              reason: "its worker stopped before the attempt ended",
              attempt: { finishedAt: now, outcome: "interrupted", message: "the worker was stopped or lost its lease" }
            }
          } else {
            const verdict = classify(exit)
            if (verdict._tag === "Accept") {
              const { result } = verdict
              const stored = yield* Effect.either(results.write(job.id, lease.attempt, result.images))
              if (stored._tag === "Right") {
                written = stored.right
                finish = {
                  _tag: "Succeeded",
                  // Built from values already checked (the pipeline's result, the files written): not validated again.
                  result: JobResult.make({
                    images: stored.right,
                    route: result.route,
                    provider: result.provider,
                    model: result.model,
                    resolution: result.resolution,
                    calls: result.attempts,
                    latencyMs: Duration.toMillis(result.latency)
                  }, { disableValidation: true }),
                  attempt: {
                    finishedAt: now,
                    outcome: "succeeded",
                    route: result.route,
                    message: `${result.model} at ${result.resolution} ${result.aspectRatio} in ${result.attempts} call(s)`
                  }
                }
              } else {
                finish = reschedule(job, lease.attempt, now, {
                  _tag: "Retry",
                  outcome: "transient",
                  message: stored.left.message
                })
              }
            } else {
              const reopensAt = breakersReopenAt(exit, now + retryMillis)
              if (reopensAt !== undefined) pausedUntil = Math.max(pausedUntil, reopensAt)
              finish = reschedule(job, lease.attempt, now, verdict, reopensAt)
            }
          }
          const recorded = yield* record(lease, finish)
          if (!recorded) {
            yield* results.remove(written)
            yield* count("lost")
          } else {
            const state = stateAfter(finish)
            yield* count(state === "scheduled" ? "rescheduled" : state)
          }
          if (options.onAttempt !== undefined) {
            yield* options.onAttempt({
              job,
              attempt: lease.attempt,
              next: recorded ? stateAfter(finish) : "lost",
              message: finish._tag === "Succeeded" ? finish.attempt.message : finish.reason
            })
          }
        })
      )

    // One heartbeat renews every lease this worker holds; a job whose lease is gone is interrupted.
    // It runs while jobs are in flight (and so sleeps not at all while the worker is idle).
    const beat = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const held = yield* store.heartbeat({ worker, now, leaseExpires: now + leaseMillis })
      for (const [id, fiber] of inFlight) {
        if (!held.has(id)) yield* Fiber.interruptFork(fiber)
      }
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`heartbeat failed: ${error.message}`)))
    let beating = false
    const heartbeats = Effect.gen(function*() {
      for (;;) {
        yield* Effect.sleep(heartbeatEvery)
        // Checked and cleared in one step, so that a job started meanwhile starts a new heartbeat.
        const idle = yield* Effect.sync(() => {
          if (inFlight.size > 0) return false
          beating = false
          return true
        })
        if (idle) return
        yield* beat
      }
    })

    // Jobs in flight are given back when the worker stops: each fiber records an interrupted attempt.
    const jobs = yield* Effect.scope

    const start = (claimed: Claimed, scope: Scope.Scope) =>
      attemptJob(claimed).pipe(
        Effect.ensuring(Effect.suspend(() => {
          inFlight.delete(claimed.job.id)
          return slotFreed.offer(undefined)
        })),
        Effect.forkIn(scope),
        Effect.tap((fiber) =>
          Effect.suspend(() => {
            inFlight.set(claimed.job.id, fiber)
            if (beating) return Effect.void
            beating = true
            return Effect.asVoid(Effect.forkIn(heartbeats, scope))
          })
        )
      )
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...inFlight.values()], (fiber) => Fiber.interrupt(fiber), { discard: true })
    )

    // Taking back expired leases and scheduling new jobs is done once per poll interval, not per claim.
    const pollMillis = Duration.toMillis(pollInterval)
    let maintainedAt = Number.NEGATIVE_INFINITY
    const tick = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - maintainedAt >= pollMillis) {
        yield* store.recover({ now, maxAttempts })
        yield* store.schedule({ now, runAt: now })
        maintainedAt = now
      }
      const healthy = policy.outsideWhenHealthy && !ignoreWindow && options.healthy !== undefined
        ? yield* options.healthy
        : false
      const decision = calendar.decide(now, { healthy, ignoreWindow })
      const free = now < pausedUntil ? 0 : concurrency - inFlight.size
      const claimed = free <= 0 ? [] : yield* store.claim({
        worker,
        now,
        leaseExpires: now + leaseMillis,
        limit: free,
        // While the window is closed only jobs whose deadline falls before it opens again may run.
        dueBy: decision._tag === "Open" ? now : -1,
        urgentBefore: decision._tag === "Open" ? now : decision.opensAt
      })
      for (const job of claimed) yield* start(job, jobs)
      return { claimed: claimed.length, full: inFlight.size >= concurrency, decision, now }
    })

    // Nothing can run before the window closes: none queued, none running anywhere, and no scheduled job due
    // while it is open (with the window ignored, no scheduled job at all).
    const isIdle = (tick: { readonly decision: Window.Decision; readonly now: number }) =>
      Effect.gen(function*() {
        const counts = yield* store.counts
        if (counts.queued > 0 || counts.running > 0) return false
        const next = yield* store.nextRunAt
        if (Option.isNone(next)) return true
        const { decision, now } = tick
        const closesAt = decision._tag === "Closed" || decision.reason === "healthy"
          ? now
          : decision.reason === "ignored"
          ? Number.POSITIVE_INFINITY
          : PeakWindows.nextChange(policy.schedule, now)
        return next.value >= closesAt
      })

    for (;;) {
      const outcome = yield* Effect.either(tick)
      if (outcome._tag === "Left") {
        yield* Effect.logWarning(`scheduler: ${outcome.left.message}`)
        yield* Effect.sleep(pollInterval)
        continue
      }
      if (outcome.right.full) {
        yield* slotFreed.take
        yield* nextTurn
        continue
      }
      if (options.untilIdle === true && inFlight.size === 0 && outcome.right.claimed === 0) {
        const idle = yield* Effect.either(isIdle(outcome.right))
        if (idle._tag === "Right" && idle.right) break
      }
      yield* Effect.raceFirst(slotFreed.take, Effect.sleep(pollInterval))
    }
    return yield* Ref.get(summary)
  }))
