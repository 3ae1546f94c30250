/**
 * The typed errors every provider failure is translated into, once, at the
 * provider boundary. The pipeline decides what to retry, what opens a breaker
 * and what moves on to a fallback by looking at nothing but these tags.
 *
 * @since 0.1.0
 */
import { Option, Predicate, Schema } from "effect"

const fields = {
  /** The provider that answered (or failed to answer), e.g. `"google"`. */
  provider: Schema.String,
  /** The model that was asked, e.g. `"gemini-3-pro-image-preview"`. */
  model: Schema.String,
  /** A human message. Never contains a credential. */
  message: Schema.String
}

/**
 * The model is overloaded (HTTP 503 / `UNAVAILABLE` / Anthropic 529). Global
 * capacity, not a per-key limit: retried, and counted by the breaker.
 *
 * @since 0.1.0
 */
export class Overloaded extends Schema.TaggedError<Overloaded>("@ballast/core/Overloaded")("Overloaded", fields) {}

/**
 * A rate limit was hit (HTTP 429 / `RESOURCE_EXHAUSTED`). `retryAfter` is the
 * delay the provider asked for (`Retry-After`, `retry-after-ms` or
 * `google.rpc.RetryInfo.retryDelay`); the retry policy waits at least that long.
 * `exhausted` marks a 429 that will not heal by waiting (`insufficient_quota`,
 * `credit_balance_exhausted`): it is not retried, and the plan moves on at once.
 *
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("@ballast/core/RateLimited")("RateLimited", {
  ...fields,
  retryAfter: Schema.optionalWith(Schema.DurationFromMillis, { as: "Option", exact: true }),
  exhausted: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true })
}) {}

/**
 * Whether a `BadRequest` would fail on every provider (`"request"`: the prompt
 * or a parameter is invalid) or only on this route (`"route"`: the model cannot
 * do what was asked, e.g. a text-only model asked for an image).
 *
 * @since 0.1.0
 */
export const BadRequestScope = Schema.Literal("request", "route")

/**
 * @since 0.1.0
 */
export type BadRequestScope = typeof BadRequestScope.Type

/**
 * The request was rejected as invalid (HTTP 400 / `INVALID_ARGUMENT` / 422).
 * Never retried and never counted by a breaker. A `scope: "request"` error stops
 * a fallback chain (it would fail everywhere); `scope: "route"`, the default,
 * moves on: when in doubt, trying the other routes costs a few fast 400s,
 * while stopping wrongly costs the answer.
 *
 * @since 0.1.0
 */
export class BadRequest extends Schema.TaggedError<BadRequest>("@ballast/core/BadRequest")("BadRequest", {
  ...fields,
  scope: Schema.optionalWith(BadRequestScope, { default: () => "route" as const, exact: true })
}) {}

/**
 * The credentials were refused (HTTP 401 / 403). Not retried; the route is
 * unusable until its configuration changes, so the breaker counts it.
 *
 * @since 0.1.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@ballast/core/Unauthorized")("Unauthorized", fields) {}

/**
 * A safety system blocked the prompt or the output (`moderation_blocked`,
 * `IMAGE_SAFETY`, a 200 without an image). Not retried on the same route.
 *
 * @since 0.1.0
 */
export class ContentRejected extends Schema.TaggedError<ContentRejected>("@ballast/core/ContentRejected")(
  "ContentRejected",
  fields
) {}

/**
 * A call, or the request's deadline, ran out of time.
 *
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>("@ballast/core/Timeout")("Timeout", fields) {}

/**
 * The provider could not be reached or answered with something unusable: other
 * 5xx, connection errors, HTML bodies, malformed JSON. Retried.
 *
 * @since 0.1.0
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>("@ballast/core/ProviderUnavailable")(
  "ProviderUnavailable",
  fields
) {}

/**
 * A route's circuit breaker is open (or half-open with its one probe in flight),
 * so the call was not made. `retryAt` is the earliest time the breaker may let a
 * probe through; it is absent while the route is isolated by hand, and while a
 * half-open probe is in flight (when the route reopens depends on its outcome).
 *
 * @since 0.1.0
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>("@ballast/core/CircuitOpen")("CircuitOpen", {
  ...fields,
  route: Schema.String,
  retryAt: Schema.optionalWith(Schema.DateTimeUtcFromNumber, { as: "Option", exact: true })
}) {}

/**
 * Every error but `AllRoutesFailed`: what a single attempt can fail with.
 *
 * @since 0.1.0
 */
export const AttemptError = Schema.Union(
  Overloaded,
  RateLimited,
  BadRequest,
  Unauthorized,
  ContentRejected,
  Timeout,
  ProviderUnavailable,
  CircuitOpen
)

/**
 * @since 0.1.0
 */
export type AttemptError = typeof AttemptError.Type

/**
 * One failed step of a fallback plan: which route, at which resolution, and why.
 *
 * @since 0.1.0
 */
export class FailedAttempt extends Schema.Class<FailedAttempt>("@ballast/core/FailedAttempt")({
  route: Schema.String,
  /** `"1K" | "2K" | "4K"`, or `"description"` for the text fallback step. */
  resolution: Schema.String,
  error: AttemptError
}) {}

/**
 * Every step of the plan failed. `attempts` keeps each step's last error, in the
 * order the steps were tried.
 *
 * @since 0.1.0
 */
export class AllRoutesFailed extends Schema.TaggedError<AllRoutesFailed>("@ballast/core/AllRoutesFailed")(
  "AllRoutesFailed",
  {
    ...fields,
    attempts: Schema.Array(FailedAttempt)
  }
) {}

/**
 * Every error a generation can fail with, as a Schema (to encode errors on the
 * wire or in a queue) and as a type.
 *
 * @since 0.1.0
 */
export const GenerationError = Schema.Union(
  Overloaded,
  RateLimited,
  BadRequest,
  Unauthorized,
  ContentRejected,
  Timeout,
  ProviderUnavailable,
  CircuitOpen,
  AllRoutesFailed
)

/**
 * @since 0.1.0
 */
export type GenerationError = typeof GenerationError.Type

/**
 * The tag of every `GenerationError`.
 *
 * @since 0.1.0
 */
export type GenerationErrorTag = GenerationError["_tag"]

/**
 * Every tag, in a stable order (for configuration and metrics).
 *
 * @since 0.1.0
 */
export const generationErrorTags: ReadonlyArray<GenerationErrorTag> = [
  "Overloaded",
  "RateLimited",
  "BadRequest",
  "Unauthorized",
  "ContentRejected",
  "Timeout",
  "ProviderUnavailable",
  "CircuitOpen",
  "AllRoutesFailed"
]

/**
 * The tags that are transient and worth retrying on the same route.
 *
 * @since 0.1.0
 */
export const retryableTags: ReadonlyArray<GenerationErrorTag> = [
  "Overloaded",
  "RateLimited",
  "Timeout",
  "ProviderUnavailable"
]

const retryableSet: ReadonlySet<string> = new Set(retryableTags)
const tagSet: ReadonlySet<string> = new Set(generationErrorTags)

/**
 * Whether a value is one of Ballast's errors.
 *
 * @since 0.1.0
 */
export const isGenerationError = (u: unknown): u is GenerationError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tagSet.has(u._tag) &&
  Predicate.hasProperty(u, "provider")

/**
 * Whether an error is transient: `Overloaded`, `RateLimited` (unless its quota
 * is `exhausted`), `Timeout` or `ProviderUnavailable`. A `BadRequest` never is,
 * whatever the configuration.
 *
 * @since 0.1.0
 */
export const isRetryable = (u: unknown): boolean =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && retryableSet.has(u._tag) &&
  !(u._tag === "RateLimited" && Predicate.hasProperty(u, "exhausted") && u.exhausted === true)

/**
 * Whether a `BadRequest` is about the request itself, so that every other route
 * would refuse it too and a fallback chain should stop.
 *
 * @since 0.1.0
 */
export const isFatalForRequest = (error: GenerationError): boolean =>
  error._tag === "BadRequest" && error.scope === "request"

/**
 * The delay a `RateLimited` error asked for, if any.
 *
 * @since 0.1.0
 */
export const retryAfterOf = (u: unknown) =>
  u instanceof RateLimited ? u.retryAfter : Option.none()
