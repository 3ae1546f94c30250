/**
 * Translates whatever `@google/genai` throws into Ballast's typed errors,
 * once, at the provider boundary.
 *
 * Decisions:
 * - `503` / `UNAVAILABLE` with a Google JSON body is `Overloaded`; a 5xx whose
 *   body is not Google's JSON (an HTML page from a proxy) is `ProviderUnavailable`.
 * - `504` / `DEADLINE_EXCEEDED` is `Timeout`: the call ran out of time on
 *   Google's side, which the pipeline treats like a client-side timeout.
 * - `429` / `RESOURCE_EXHAUSTED` is `RateLimited`, `retryAfter` from
 *   `google.rpc.RetryInfo.retryDelay` (else "Please retry in Ns." in the
 *   message). It is `exhausted` when a violated quota's limit is 0 ("limit: 0"):
 *   the key's tier has no quota for the model at all, so waiting never helps.
 *   Per-day quotas stay retryable: Google says when they heal.
 * - `400` / `INVALID_ARGUMENT` is `BadRequest`, `scope: "route"` when it is
 *   about what the model can do (text-only model, image config, unknown field,
 *   unsupported parameter), `scope: "request"` otherwise. `API_KEY_INVALID` is
 *   `Unauthorized`. `404` is `BadRequest` `scope: "route"` (model not found).
 * - Connection errors, malformed JSON, cut streams and anything unknown are
 *   `ProviderUnavailable`; an `AbortError` / `TimeoutError` is `Timeout`.
 *
 * Messages are human, at most a few hundred characters, and scrubbed of API
 * keys (the configured ones and anything shaped like a Google key).
 *
 * @since 0.1.0
 */
import { ApiError } from "@google/genai"
import {
  BadRequest,
  type GenerationError,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  Timeout,
  Unauthorized
} from "@ballast/core"
import { Duration, Option, Predicate, Redacted } from "effect"

/**
 * Who failed, and which secrets must never appear in the message.
 *
 * @since 0.1.0
 */
export interface TranslationContext {
  readonly provider: string
  readonly model: string
  /** Secrets scrubbed from every message (the client passes its API key). */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>>
}

/**
 * Google's `google.rpc.Status` error body, as far as Ballast reads it.
 *
 * @since 0.1.0
 */
export interface GoogleStatus {
  readonly code?: number
  readonly message?: string
  readonly status?: string
  readonly details?: ReadonlyArray<unknown>
}

const maxMessageLength = 400
// Google API keys: "AIza" followed by 35 URL-safe characters.
const googleKeyPattern = /AIza[0-9A-Za-z_-]{35}/g

/**
 * Removes the given secrets and anything shaped like a Google API key from a
 * text, and shortens it.
 *
 * @since 0.1.0
 */
export const scrub = (text: string, secrets: ReadonlyArray<Redacted.Redacted<string>> = []): string => {
  let clean = text
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    if (value.length > 0) clean = clean.split(value).join("[redacted]")
  }
  clean = clean.replace(googleKeyPattern, "[redacted]").replace(/\s+/g, " ").trim()
  return clean.length > maxMessageLength ? `${clean.slice(0, maxMessageLength - 1)}…` : clean
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const errorField = (u: unknown): GoogleStatus | undefined =>
  Predicate.hasProperty(u, "error") && Predicate.isRecord(u.error) ? (u.error as GoogleStatus) : undefined

/**
 * Parses an `ApiError` message into Google's status: the JSON after an optional
 * `got status: …. ` prefix, and, when its `message` is itself Google's JSON
 * (the form the SDK produces for non-JSON content types), the inner one.
 * `None` when the body was not Google's JSON (an HTML page, plain text).
 *
 * @since 0.1.0
 */
export const parseStatus = (message: string): Option.Option<GoogleStatus> => {
  const start = message.indexOf("{")
  if (start < 0) return Option.none()
  const outer = errorField(parseJson(message.slice(start)))
  if (outer === undefined) return Option.none()
  if (typeof outer.message === "string") {
    const text = outer.message.trim()
    if (text.startsWith("{")) {
      const inner = errorField(parseJson(text))
      return inner === undefined ? Option.none() : Option.some(inner)
    }
    // The SDK wrapped a non-JSON body: `status` is the HTTP status text, not Google's.
    if (outer.status !== undefined && !/^[A-Z_]+$/.test(outer.status)) return Option.none()
  }
  return Option.some(outer)
}

const typeEndsWith = (detail: unknown, suffix: string): detail is Record<string, unknown> =>
  Predicate.hasProperty(detail, "@type") && typeof detail["@type"] === "string" && detail["@type"].endsWith(suffix)

/**
 * The delay `google.rpc.RetryInfo.retryDelay` asks for ("30s",
 * "3.299376739s"), else the "Please retry in 56.58s." of the message.
 *
 * @since 0.1.0
 */
export const retryDelay = (status: GoogleStatus): Option.Option<Duration.Duration> => {
  const info = status.details?.find((d) => typeEndsWith(d, "google.rpc.RetryInfo"))
  const fromInfo = Predicate.hasProperty(info, "retryDelay") && typeof info.retryDelay === "string"
    ? /^(\d+(?:\.\d+)?)s$/.exec(info.retryDelay.trim())
    : null
  const match = fromInfo ?? /retry in (\d+(?:\.\d+)?)\s*s/i.exec(status.message ?? "")
  return match?.[1] === undefined ? Option.none() : Option.some(Duration.millis(Math.ceil(Number(match[1]) * 1000)))
}

const hasReason = (status: GoogleStatus, reason: string): boolean =>
  (status.details ?? []).some((d) => typeEndsWith(d, "google.rpc.ErrorInfo") && d.reason === reason)

// A 400 about what this model can do (another route may well succeed).
const routeScoped = [
  /only supports text/i,
  /aspect_?ratio/i,
  /image_?size/i,
  /image_?config/i,
  /response_?modalit/i,
  /unknown name/i,
  /cannot find field/i,
  /not supported/i,
  /is not found for api version/i
]

const describe = (http: number, status: GoogleStatus | undefined): string => {
  const label = [String(http), status?.status].filter(Predicate.isNotUndefined).join(" ")
  return status?.message !== undefined ? `Gemini answered ${label}: ${status.message}` : `Gemini answered ${label}`
}

// `instanceof` alone misses an `ApiError` from a second copy of the SDK (its CJS build).
const isApiError = (u: unknown): u is ApiError =>
  u instanceof ApiError ||
  (u instanceof Error && u.name === "ApiError" && Predicate.hasProperty(u, "status") && typeof u.status === "number")

const fromApiError = (error: ApiError, context: TranslationContext): GenerationError => {
  const fields = (message: string) => ({
    provider: context.provider,
    model: context.model,
    message: scrub(message, context.secrets)
  })
  const parsed = parseStatus(error.message)
  const http = error.status
  if (Option.isNone(parsed)) {
    const what = `Gemini answered ${http} with a body that is not Google's JSON`
    if (http === 401 || http === 403) return new Unauthorized(fields(what))
    if (http === 429) return new RateLimited({ ...fields(what), retryAfter: Option.none() })
    if (http === 404) return new BadRequest({ ...fields(what), scope: "route" })
    if (http === 408) return new Timeout(fields(what))
    return new ProviderUnavailable(fields(what))
  }
  const status = parsed.value
  const rpc = status.status ?? ""
  const message = describe(http, status)
  if (hasReason(status, "API_KEY_INVALID") || rpc === "UNAUTHENTICATED" || rpc === "PERMISSION_DENIED") {
    return new Unauthorized(fields(message))
  }
  if (http === 401 || http === 403) return new Unauthorized(fields(message))
  if (http === 429 || rpc === "RESOURCE_EXHAUSTED") {
    // A quota of 0 will not heal by waiting, whatever RetryInfo says: no retry time is promised.
    const exhausted = /limit:\s*0(?![\d.])/.test(status.message ?? "")
    return new RateLimited({
      ...fields(message),
      retryAfter: exhausted ? Option.none() : retryDelay(status),
      exhausted
    })
  }
  if (http === 503 || rpc === "UNAVAILABLE") return new Overloaded(fields(message))
  if (http === 504 || http === 408 || rpc === "DEADLINE_EXCEEDED") return new Timeout(fields(message))
  if (http === 404 || rpc === "NOT_FOUND") return new BadRequest({ ...fields(message), scope: "route" })
  if (http === 400 || rpc === "INVALID_ARGUMENT" || rpc === "FAILED_PRECONDITION") {
    const text = status.message ?? ""
    return new BadRequest({ ...fields(message), scope: routeScoped.some((re) => re.test(text)) ? "route" : "request" })
  }
  if (http >= 400 && http < 500) return new BadRequest({ ...fields(message), scope: "route" })
  return new ProviderUnavailable(fields(message))
}

const causeCode = (error: Error): string | undefined =>
  Predicate.hasProperty(error.cause, "code") && typeof error.cause.code === "string" ? error.cause.code : undefined

/**
 * Translates anything the SDK throws (or rejects with) into a
 * `GenerationError`. See the module documentation for the rules.
 *
 * @since 0.1.0
 * @example
 * import { ApiError } from "@google/genai"
 * import { GeminiError } from "@ballast/google"
 *
 * const error = GeminiError.fromUnknown(
 *   new ApiError({ status: 503, message: '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}' }),
 *   { provider: "google", model: "gemini-3-pro-image-preview" }
 * )
 * // error._tag === "Overloaded"
 */
export const fromUnknown = (error: unknown, context: TranslationContext): GenerationError => {
  const fields = (message: string) => ({
    provider: context.provider,
    model: context.model,
    message: scrub(message, context.secrets)
  })
  if (isApiError(error)) return fromApiError(error, context)
  const name = Predicate.hasProperty(error, "name") && typeof error.name === "string" ? error.name : ""
  if (name === "AbortError" || name === "TimeoutError") {
    return new Timeout(fields("the Gemini call timed out or was aborted"))
  }
  if (error instanceof SyntaxError) {
    return new ProviderUnavailable(fields(`Gemini answered malformed JSON: ${error.message}`))
  }
  if (error instanceof TypeError && /fetch failed|network|socket|ECONN/i.test(error.message)) {
    const code = causeCode(error)
    return new ProviderUnavailable(fields(`could not reach Gemini: ${error.message}${code ? ` (${code})` : ""}`))
  }
  if (error instanceof Error && /Incomplete JSON segment/i.test(error.message)) {
    return new ProviderUnavailable(fields("the Gemini stream ended in the middle of a response"))
  }
  const text = error instanceof Error ? error.message : String(error)
  return new ProviderUnavailable(fields(`Gemini call failed: ${text}`))
}
