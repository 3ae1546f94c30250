/**
 * What the batch queue stores: a job (an `ImageRequest` with its priority,
 * deadline and idempotency key), the state it is in, every attempt made at
 * it, and where its images were written.
 *
 * A job moves `queued` (submitted) → `scheduled` (given a time to run: now
 * inside the off-peak window, else the window's next opening) → `running`
 * (leased by one worker) → `succeeded`, or back to `scheduled` after a
 * transient failure or a degraded answer, or `failed` (a `BadRequest` or a
 * safety block: it would fail every time) or `dead` (too many attempts, or
 * its deadline passed).
 *
 * @since 0.1.0
 */
import { DeliveredResolution, ImageRequest } from "@ballast/core"
import { Either, ParseResult, Schema } from "effect"

/**
 * The states of a job, in the order a job moves through them.
 *
 * @since 0.1.0
 */
export const JobState = Schema.Literal("queued", "scheduled", "running", "succeeded", "failed", "dead")

/**
 * @since 0.1.0
 */
export type JobState = typeof JobState.Type

/**
 * Every state, in order (for counts and status lines).
 *
 * @since 0.1.0
 */
export const states: ReadonlyArray<JobState> = JobState.literals

/**
 * The states a job ends in.
 *
 * @since 0.1.0
 */
export const isFinal = (state: JobState): boolean => state === "succeeded" || state === "failed" || state === "dead"

/**
 * A job's id: `job_` followed by a time-ordered, random suffix.
 *
 * @since 0.1.0
 */
export const JobId = Schema.String.pipe(Schema.pattern(/^job_[0-9a-z]+$/), Schema.brand("@ballast/batch/JobId"))

/**
 * @since 0.1.0
 */
export type JobId = typeof JobId.Type

/**
 * How an attempt ended: `succeeded` (a full-quality result, recorded as the
 * job's one result), `degraded` (an answer below what was asked; the job
 * runs again), `transient` (a retryable error; the job runs again), `failed`
 * (an error that no retry heals), `lost` (the worker stopped renewing its
 * lease — killed, or cut off from the database — and the job was taken back)
 * or `interrupted` (the worker was shut down and gave the job back).
 *
 * @since 0.1.0
 */
export const AttemptOutcome = Schema.Literal("succeeded", "degraded", "transient", "failed", "lost", "interrupted")

/**
 * @since 0.1.0
 */
export type AttemptOutcome = typeof AttemptOutcome.Type

/**
 * One attempt at a job: its number (1 for the first), the worker that made
 * it, when it started and ended, how it ended, the route that answered or
 * failed last (when known), and the error's tag and message.
 *
 * @since 0.1.0
 */
export class Attempt extends Schema.Class<Attempt>("@ballast/batch/Attempt")({
  number: Schema.Int,
  worker: Schema.String,
  startedAt: Schema.DateTimeUtcFromNumber,
  finishedAt: Schema.DateTimeUtcFromNumber,
  outcome: AttemptOutcome,
  route: Schema.optionalWith(Schema.String, { exact: true }),
  errorTag: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
}) {}

/**
 * One image of a result, as written by `Results`: its file name (relative to
 * the results directory), MIME type and size.
 *
 * @since 0.1.0
 */
export class StoredImage extends Schema.Class<StoredImage>("@ballast/batch/StoredImage")({
  file: Schema.String,
  mimeType: Schema.String,
  bytes: Schema.Int
}) {}

/**
 * A job's result: its images on disk and where they came from.
 *
 * @since 0.1.0
 */
export class JobResult extends Schema.Class<JobResult>("@ballast/batch/JobResult")({
  images: Schema.Array(StoredImage),
  route: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  resolution: DeliveredResolution,
  /** Provider calls the pipeline made for this answer. */
  calls: Schema.Int,
  latencyMs: Schema.Number
}) {}

/**
 * A job as stored. `attempts` counts attempts started (the current one
 * included while `running`); `runAt` is when a `scheduled` job may run;
 * `reason` says why a job failed, died or was last rescheduled.
 *
 * @since 0.1.0
 */
export class Job extends Schema.Class<Job>("@ballast/batch/Job")({
  id: JobId,
  request: ImageRequest,
  priority: Schema.Int,
  deadline: Schema.optionalWith(Schema.DateTimeUtcFromNumber, { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String, { exact: true }),
  state: JobState,
  reason: Schema.optionalWith(Schema.String, { exact: true }),
  attempts: Schema.Int,
  runAt: Schema.optionalWith(Schema.DateTimeUtcFromNumber, { exact: true }),
  createdAt: Schema.DateTimeUtcFromNumber,
  updatedAt: Schema.DateTimeUtcFromNumber,
  result: Schema.optionalWith(JobResult, { exact: true })
}) {}

/**
 * What a caller submits: the request, a priority (higher runs first; default
 * 0), an optional deadline (a job not done by then is `dead`) and an optional
 * idempotency key (submitting the same key again returns the first job; the
 * request's own `idempotencyKey` is used when this one is absent).
 *
 * @since 0.1.0
 */
export class Submission extends Schema.Class<Submission>("@ballast/batch/Submission")({
  request: ImageRequest,
  priority: Schema.optionalWith(Schema.Int, { default: () => 0, exact: true }),
  deadline: Schema.optionalWith(Schema.DateTimeUtc, { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { exact: true })
}) {}

const { deadline: _requestBudget, idempotencyKey: _requestKey, ...requestFields } = ImageRequest.fields

/**
 * One line of a `jobs.jsonl` file: the request's fields (`prompt`,
 * `resolution`, `aspectRatio`, `n`, `referenceImages`) beside the job's
 * `priority`, `deadline` (an ISO date-time) and `idempotencyKey`. Unknown
 * fields are errors.
 *
 * @example
 * ```json
 * {"prompt": "a lighthouse at dusk", "resolution": "4K", "aspectRatio": "16:9", "priority": 5, "idempotencyKey": "sku-1042"}
 * ```
 *
 * @since 0.1.0
 */
export const SubmissionLine = Schema.Struct({
  ...requestFields,
  priority: Schema.optionalWith(Schema.Int, { default: () => 0, exact: true }),
  deadline: Schema.optionalWith(Schema.DateTimeUtc, { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { exact: true })
}).annotations({ parseOptions: { onExcessProperty: "error" } })

/**
 * @since 0.1.0
 */
export type SubmissionLine = typeof SubmissionLine.Type

/**
 * The submission a decoded line stands for.
 *
 * @since 0.1.0
 */
export const fromLine = ({ deadline, idempotencyKey, priority, ...request }: SubmissionLine): Submission =>
  Submission.make({
    request: ImageRequest.make(request),
    priority,
    ...(deadline !== undefined ? { deadline } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {})
  })

const decodeLineJson = Schema.decodeEither(Schema.parseJson(SubmissionLine), { errors: "all" })

/**
 * Decodes one line of a `jobs.jsonl` file, or says what is wrong with it:
 * malformed JSON, or each bad field with its path
 * (`resolution: Expected "1K" | "2K" | "4K", actual "8K"`).
 *
 * @since 0.1.0
 */
export const decodeLine = (line: string): Either.Either<Submission, string> =>
  Either.mapBoth(decodeLineJson(line), { onLeft: describeIssues, onRight: fromLine })

const expectedActual = /^Expected (.+), actual (.+)$/s

// Every issue as `path: message`; a literal union's one issue per member becomes one `Expected "a" | "b", actual "c"`.
const describeIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error).reduce<Array<{ path: string; message: string }>>(
    (issues, issue) => {
      const path = issue.path.join(".")
      const previous = issues[issues.length - 1]
      const before = previous?.path === path ? expectedActual.exec(previous.message) : null
      const now = expectedActual.exec(issue.message)
      if (before !== null && now !== null && before[2] === now[2]) {
        issues[issues.length - 1] = { path, message: `Expected ${before[1]} | ${now[1]}, actual ${now[2]}` }
      } else {
        issues.push({ path, message: issue.message })
      }
      return issues
    },
    []
  ).map(({ message, path }) => path === "" ? message : `${path}: ${message}`).join("; ")

/**
 * The number of jobs in each state.
 *
 * @since 0.1.0
 */
export type Counts = { readonly [State in JobState]: number }

/**
 * Counts of zero in every state.
 *
 * @since 0.1.0
 */
export const emptyCounts: Counts = { queued: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 0 }
