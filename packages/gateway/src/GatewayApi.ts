/**
 * The gateway's own endpoints — what operators, load balancers, scrapers and
 * the dashboard call, and the batch queue — as an `HttpApi`: every answer
 * described by a Schema, and the whole API as an OpenAPI document at
 * `GET /openapi.json`. The status and dashboard endpoints need no key: they
 * show route names, states and figures, never a prompt, an image or a
 * secret. The batch endpoints take a virtual key (`Authorization: Bearer`).
 *
 * - `GET /health`: the process is alive (`{"status":"ok"}`).
 * - `GET /ready`: every model has a usable route (a breaker that admits calls
 *   and health probes that do not say down) — `{"status":"ready"}`, or a 503
 *   `{"status":"not ready","reasons":[…]}` naming what is wrong.
 * - `GET /v1/routes`: per public model, each route's breaker state, health,
 *   router figures, whether it is usable; adaptive degradation; hedging.
 * - `GET /metrics`: the Prometheus text (`Metrics.prometheus`).
 * - `GET /dashboard`, `GET /dashboard/data`: the live dashboard (`Dashboard`).
 * - `POST /v1/batches/jobs`: queue jobs (each a `jobs.jsonl` line's fields);
 *   `GET /v1/batches`: counts per state and the off-peak window;
 *   `GET /v1/batches/jobs/{id}`: a job, its state, reason, result and every
 *   attempt; `GET /v1/batches/jobs/{id}/images/{n}`: its n-th image. A
 *   gateway without a `batch` section answers them 404.
 *
 * The generation endpoints (OpenAI and Gemini wire formats) are not part of
 * it: they must answer in each provider's own error shapes and read Gemini's
 * `{model}:generateContent` path segment, which `HttpApi`'s own error and path
 * grammar cannot express (see `Gateway`).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Job } from "@ballast/batch"
import { CircuitBreaker, Degradation, Health, Hedge, Router } from "@ballast/core"
import { Context, Schema } from "effect"
import * as Dashboard from "./Dashboard.js"

/**
 * The body of `GET /health`.
 *
 * @since 0.1.0
 */
export const Alive = Schema.Struct({ status: Schema.Literal("ok") })

/**
 * The body of `GET /ready` when every model has a usable route.
 *
 * @since 0.1.0
 */
export const Ready = Schema.Struct({ status: Schema.Literal("ready") })

/**
 * The body of `GET /ready`'s 503: one reason per model without a usable route.
 *
 * @since 0.1.0
 */
export const NotReady = Schema.Struct({
  status: Schema.Literal("not ready"),
  reasons: Schema.Array(Schema.String)
}).annotations(HttpApiSchema.annotations({ status: 503, description: "a model has no usable route" }))

/**
 * @since 0.1.0
 */
export type NotReady = typeof NotReady.Type

/**
 * One route of a model in `GET /v1/routes`: `kind` is the model's kind, or
 * `describe` for an image plan's text-description rung; `usable` means its
 * breaker admits calls and health probes do not say it is down; `breaker`,
 * `health` and `stats` are `null` for what the route does not have (no probe
 * watches it, no call reached it).
 *
 * @since 0.1.0
 */
export const RouteState = Schema.Struct({
  route: Schema.String,
  provider: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  kind: Schema.Literal("image", "text", "describe"),
  usable: Schema.Boolean,
  breaker: Schema.NullOr(CircuitBreaker.State),
  health: Schema.NullOr(Health.RouteHealth),
  stats: Schema.NullOr(Router.RouteStats)
})

/**
 * @since 0.1.0
 */
export type RouteState = typeof RouteState.Type

/**
 * One public model in `GET /v1/routes`.
 *
 * @since 0.1.0
 */
export const ModelState = Schema.Struct({
  model: Schema.String,
  kind: Schema.Literal("image", "text"),
  aliases: Schema.Array(Schema.String),
  routes: Schema.Array(RouteState),
  degradation: Schema.Array(Degradation.Status),
  hedges: Hedge.Stats
})

/**
 * @since 0.1.0
 */
export type ModelState = typeof ModelState.Type

/**
 * The body of `GET /v1/routes`.
 *
 * @since 0.1.0
 */
export const Routes = Schema.Struct({ models: Schema.Array(ModelState) })

/**
 * @since 0.1.0
 */
export type Routes = typeof Routes.Type

/**
 * Health, readiness, route states and metrics.
 *
 * @since 0.1.0
 */
export class StatusGroup extends HttpApiGroup.make("status")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Alive).annotate(OpenApi.Summary, "The process is alive"))
  .add(
    HttpApiEndpoint.get("ready", "/ready").addSuccess(Ready).addError(NotReady).annotate(
      OpenApi.Summary,
      "Every model has a usable route"
    )
  )
  .add(
    HttpApiEndpoint.get("routes", "/v1/routes").addSuccess(Routes).annotate(
      OpenApi.Summary,
      "Breaker state, health and figures of every route of every model"
    )
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .annotate(OpenApi.Summary, "Prometheus metrics")
  )
{}

// ---------------------------------------------------------------------------
// The batch queue

/**
 * No virtual key, or not one of this gateway's.
 *
 * @since 0.1.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { message: Schema.String }, HttpApiSchema.annotations({ status: 401 })) {}

/**
 * The virtual key's request limit is spent; `retry-after` says when to come back.
 *
 * @since 0.1.0
 */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { message: Schema.String, retryAfterSeconds: Schema.Number },
  HttpApiSchema.annotations({ status: 429 })
) {}

/**
 * The gateway serves no batch queue (its configuration has no `batch` section).
 *
 * @since 0.1.0
 */
export class BatchNotConfigured extends Schema.TaggedError<BatchNotConfigured>()(
  "BatchNotConfigured",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * No job has this id.
 *
 * @since 0.1.0
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()(
  "JobNotFound",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * The job has no such image: it has not succeeded (yet), or has fewer images.
 *
 * @since 0.1.0
 */
export class NoImage extends Schema.TaggedError<NoImage>()(
  "NoImage",
  { id: Schema.String, state: Job.JobState, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * The job store failed (the database is unreachable, a file could not be read).
 *
 * @since 0.1.0
 */
export class BatchUnavailable extends Schema.TaggedError<BatchUnavailable>()(
  "BatchUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * The name of the virtual key a batch request was made with.
 *
 * @since 0.1.0
 */
export class CallerKey extends Context.Tag("@ballast/gateway/GatewayApi/CallerKey")<CallerKey, string>() {}

/**
 * Virtual-key authentication of the batch endpoints (`Authorization: Bearer <key>`),
 * with the key's request limit.
 *
 * @since 0.1.0
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("@ballast/gateway/GatewayApi/Authorization", {
  failure: Schema.Union(Unauthorized, TooManyRequests),
  provides: CallerKey,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The body of `POST /v1/batches/jobs`: up to 10,000 jobs, each the fields of
 * a `jobs.jsonl` line (`Job.SubmissionLine`). One bad job refuses the whole
 * submission (a 400 naming each bad field, e.g. `jobs.3.resolution`).
 *
 * @since 0.1.0
 */
export const Submit = Schema.Struct({
  jobs: Schema.Array(Job.SubmissionLine).pipe(
    Schema.minItems(1, { message: () => "must hold at least one job" }),
    Schema.maxItems(10_000, { message: () => "must hold at most 10000 jobs; submit more in several requests" })
  )
})

/**
 * What submitting a job answers: its id, whether it was already submitted
 * with the same idempotency key, and when it should be done.
 *
 * @since 0.1.0
 */
export const Receipt = Schema.Struct({
  id: Job.JobId,
  duplicate: Schema.Boolean,
  estimatedCompletion: Schema.DateTimeUtc
})

/**
 * The body of `POST /v1/batches/jobs`' answer: one receipt per job, in order.
 *
 * @since 0.1.0
 */
export const Submitted = Schema.Struct({ jobs: Schema.Array(Receipt) })

/**
 * The body of `GET /v1/batches`: the jobs in each state, the off-peak window
 * (open now, or when it opens), and whether this gateway runs a worker.
 *
 * @since 0.1.0
 */
export const BatchStatus = Schema.Struct({
  counts: Schema.Struct(Object.fromEntries(Job.states.map((state) => [state, Schema.Number])) as {
    readonly [S in Job.JobState]: typeof Schema.Number
  }),
  window: Schema.Struct({
    timeZone: Schema.String,
    open: Schema.Boolean,
    opensAt: Schema.NullOr(Schema.DateTimeUtc)
  }),
  worker: Schema.Boolean
})

/**
 * The body of `GET /v1/batches/jobs/{id}`: the job and every attempt at it.
 *
 * @since 0.1.0
 */
export const JobDetail = Schema.Struct({ job: Job.Job, attempts: Schema.Array(Job.Attempt) })

/**
 * The batch queue's endpoints.
 *
 * @since 0.1.0
 */
export class BatchGroup extends HttpApiGroup.make("batches")
  .add(
    HttpApiEndpoint.post("submit", "/v1/batches/jobs").setPayload(Submit).addSuccess(Submitted).annotate(
      OpenApi.Summary,
      "Queue jobs for the off-peak window"
    )
  )
  .add(HttpApiEndpoint.get("status", "/v1/batches").addSuccess(BatchStatus).annotate(OpenApi.Summary, "Jobs per state"))
  .add(
    HttpApiEndpoint.get("job", "/v1/batches/jobs/:id")
      .setPath(Schema.Struct({ id: Job.JobId }))
      .addSuccess(JobDetail)
      .addError(JobNotFound)
      .annotate(OpenApi.Summary, "A job, its result and every attempt")
  )
  .add(
    HttpApiEndpoint.get("image", "/v1/batches/jobs/:id/images/:n")
      .setPath(Schema.Struct({ id: Job.JobId, n: Schema.NumberFromString.pipe(Schema.int(), Schema.positive()) }))
      .addSuccess(HttpApiSchema.Uint8Array({ contentType: "image/png" }))
      .addError(JobNotFound)
      .addError(NoImage)
      .annotate(OpenApi.Summary, "A succeeded job's n-th image (1 for the first), in its own MIME type")
  )
  .addError(BatchNotConfigured)
  .addError(BatchUnavailable)
  .middleware(Authorization)
{}

/**
 * The gateway's own API: `StatusGroup`, the dashboard (`Dashboard.Group`)
 * and the batch queue (`BatchGroup`).
 *
 * @since 0.1.0
 */
export class GatewayApi extends HttpApi.make("ballast")
  .add(StatusGroup)
  .add(Dashboard.Group)
  .add(BatchGroup)
  .annotate(OpenApi.Title, "Ballast gateway")
  .annotate(
    OpenApi.Description,
    "The gateway's own endpoints and its batch queue. Generation goes through the OpenAI (POST /v1/images/generations, " +
      "POST /v1/chat/completions) and Gemini (POST /v1beta/models/{model}:generateContent) wire formats."
  )
{}

/**
 * Where the gateway serves the OpenAPI document of `GatewayApi`.
 *
 * @since 0.1.0
 */
export const openApiPath = "/openapi.json"
