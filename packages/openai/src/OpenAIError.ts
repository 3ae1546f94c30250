/**
 * Translates what the `openai` SDK throws into Ballast's typed errors, once,
 * at the provider boundary. Keyed on the SDK's classes and fields
 * (`APIError.status`, `.code`, `.type`, `.param`, `.headers`, `.error`), never
 * on the text of a message.
 *
 * @since 0.1.0
 */
import {
  BadRequest,
  ContentRejected,
  Errors,
  type GenerationError,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  Timeout,
  Unauthorized
} from "@ballast/core"
import { Duration, Option, Predicate, Redacted } from "effect"
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai"

/**
 * Who was asked, for the error's `provider` and `model`; the key, to scrub it
 * from messages; and the current time in epoch milliseconds, to turn a
 * `retry-after` HTTP-date into a delay (defaults to `Date.now()`).
 *
 * @since 0.1.0
 */
export interface Context {
  readonly provider: string
  readonly model: string
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Other values that must never appear in a message, e.g. the client's extra header values. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  readonly now?: number | undefined
}

// Error codes of a 429 that waiting will not heal: move on to another route at once.
const exhaustedCodes: ReadonlySet<string> = new Set(["insufficient_quota", "credit_balance_exhausted"])

// Codes and parameters that say "this model cannot do that" rather than "this
// request is wrong everywhere": another route may well accept the request.
const routeCodes: ReadonlySet<string> = new Set([
  "model_not_found",
  "unknown_parameter",
  "unsupported_parameter",
  "unsupported_value",
  "invalid_value",
  "invalid_size"
])
const routeParams: ReadonlySet<string> = new Set([
  "model",
  "size",
  "quality",
  "response_format",
  "style",
  "background",
  "output_format",
  "output_compression",
  "moderation",
  "n"
])

const safetyCodes: ReadonlySet<string> = new Set(["moderation_blocked", "content_policy_violation"])

const maxDetail = 300

/**
 * Removes anything that looks like a credential from a text: the key itself,
 * OpenAI-style keys (`sk-…`, which 401 bodies echo in part), bearer tokens and
 * the key echoed after "API key provided:".
 *
 * @since 0.1.0
 */
export const scrub = (
  text: string,
  apiKey?: Redacted.Redacted<string>,
  secrets: ReadonlyArray<Redacted.Redacted<string>> = []
): string => {
  let withoutKey = text
  for (const secret of apiKey === undefined ? secrets : [apiKey, ...secrets]) {
    const value = Redacted.value(secret)
    // Short values (a header like `x-env: prod`) would mangle ordinary words; keys are long.
    if (value.length >= 8) withoutKey = withoutKey.split(value).join("[redacted]")
  }
  return withoutKey
    .replace(/(API key provided:\s*)\S*?(?=[.,;:]?(?:\s|$))/gi, "$1[redacted]")
    .replace(/\b(Bearer|Basic)\s+\S+/gi, "$1 [redacted]")
    .replace(/\b(sk|gsk)[-_][\w\-.*…]*[\w*…]/gi, "[redacted]")
}

// The provider's own message, when the body was OpenAI-shaped JSON (or a
// gateway nested it as a string): never a raw HTML page.
const detailOf = (error: APIError): string | undefined => {
  const body: unknown = error.error
  const message = typeof body === "string"
    ? body
    : Predicate.hasProperty(body, "message") && typeof body.message === "string"
    ? body.message
    : undefined
  if (message === undefined || message.trim().length === 0 || /^\s*</.test(message)) return undefined
  return message.replace(/\s+/g, " ").trim()
}

// Scrubbed before it is cut: a key split at the cut would no longer match.
const shortened = (text: string): string => text.length > maxDetail ? `${text.slice(0, maxDetail)}…` : text

/**
 * The delay a 429 asked for: `retry-after-ms` (float milliseconds) first, then
 * `retry-after` in seconds or as an HTTP-date relative to `now`.
 *
 * @since 0.1.0
 */
export const retryAfterOf = (
  headers: { readonly get: (name: string) => string | null } | undefined,
  now: number
): Option.Option<Duration.Duration> => {
  const millis = headers?.get("retry-after-ms")
  if (millis != null && millis.trim() !== "") {
    const value = Number(millis)
    if (Number.isFinite(value) && value >= 0) return Option.some(Duration.millis(value))
  }
  const after = headers?.get("retry-after")
  if (after == null || after.trim() === "") return Option.none()
  const seconds = Number(after)
  if (Number.isFinite(seconds)) return seconds >= 0 ? Option.some(Duration.seconds(seconds)) : Option.none()
  const date = Date.parse(after)
  return Number.isNaN(date) ? Option.none() : Option.some(Duration.millis(Math.max(0, date - now)))
}

// Validation messages of the JSON-schema kind end with the parameter they are
// about (`"'256×256' is not one of [...] - 'size'"`) while `param` stays null.
const schemaParam = (error: APIError): string | undefined => {
  const message = detailOf(error)
  return message === undefined ? undefined : /- '(\w+)'$/.exec(message)?.[1]
}

// A route code counts only when the error names no parameter or names one of the model's: an
// `invalid_value` for `messages` or `prompt` is the request's fault everywhere.
const isRouteScoped = (error: APIError): boolean => {
  const param = error.param ?? schemaParam(error)
  if (param !== undefined) return routeParams.has(param)
  return error.code != null && routeCodes.has(error.code)
}

// A body we understood: OpenAI-shaped JSON. Without one (an empty or non-JSON
// 400 from some gateway) we cannot tell, and "route" is the safer guess: it
// costs a few fast 400s elsewhere instead of the answer.
const isStructured = (error: APIError): boolean =>
  Predicate.isObject(error.error) && (error.type !== undefined || error.code != null)

const fromAPIError = (error: APIError, context: Context): GenerationError => {
  const { model, provider } = context
  const status = error.status
  const detail = detailOf(error)
  const say = (what: string) =>
    scrub(
      `${provider} ${model}: ${what}${status !== undefined ? ` (HTTP ${status})` : ""}${
        detail !== undefined ? `: ${shortened(scrub(detail, context.apiKey, context.secrets))}` : ""
      }`,
      context.apiKey,
      context.secrets
    )
  const code = error.code ?? undefined
  // A 503 is the model's overload only when the provider said so in its own JSON; an HTML 503 from a
  // proxy or load balancer says nothing about the model (as in the Gemini provider).
  if (((status === 503 || status === 529) && isStructured(error)) || code === "server_is_overloaded") {
    return new Overloaded({ provider, model, message: say("the model is overloaded") })
  }
  if (status === 429) {
    const exhausted = (code !== undefined && exhaustedCodes.has(code)) || error.type === "insufficient_quota"
    const retryAfter = retryAfterOf(error.headers, context.now ?? Date.now())
    return new RateLimited({
      provider,
      model,
      message: say(exhausted ? "the quota is exhausted" : "rate limited"),
      retryAfter: exhausted ? Option.none() : retryAfter,
      exhausted
    })
  }
  if (code !== undefined && safetyCodes.has(code)) {
    return new ContentRejected({ provider, model, message: say("the safety system rejected the request") })
  }
  if (status === 401 || status === 403) {
    return new Unauthorized({ provider, model, message: say("the credentials were refused") })
  }
  if (status === 404) {
    return new BadRequest({ provider, model, message: say("the model or endpoint was not found"), scope: "route" })
  }
  if (status === 408 || status === 504) {
    return new Timeout({ provider, model, message: say("the provider timed out") })
  }
  if (status !== undefined && status >= 400 && status < 500) {
    const scope = isRouteScoped(error) || !isStructured(error) ? "route" : "request"
    return new BadRequest({
      provider,
      model,
      message: say(scope === "route" ? "this model cannot serve the request" : "the request is invalid"),
      scope
    })
  }
  // >= 500, or an error frame inside a stream (no status).
  return new ProviderUnavailable({ provider, model, message: say("the provider failed") })
}

/**
 * Translates anything the SDK threw into a `GenerationError`:
 *
 * - 503 or 529 with OpenAI's JSON body, or `server_is_overloaded` → `Overloaded`;
 * - 408, 504 → `Timeout`;
 * - 429 → `RateLimited` with `retryAfter` from `retry-after-ms` / `retry-after`,
 *   `exhausted` for `insufficient_quota` / `credit_balance_exhausted`;
 * - `moderation_blocked` → `ContentRejected`;
 * - 400 / 422 → `BadRequest`, scope `"route"` when it is about the model (its
 *   sizes, unknown parameters, `model_not_found`) or the body is not OpenAI's,
 *   `"request"` otherwise; 404 → `BadRequest` scope `"route"`;
 * - 401 / 403 → `Unauthorized`;
 * - other ≥ 500 (HTML pages too) → `ProviderUnavailable`;
 * - `APIConnectionTimeoutError` → `Timeout`; `APIConnectionError` → `ProviderUnavailable`;
 * - `APIUserAbortError` → `Timeout`: only our own AbortSignal aborts a request, which
 *   happens when the fiber is interrupted (deadline, hedge, caller), so nobody
 *   normally observes this value;
 * - `SyntaxError` (a 200 whose JSON does not parse) → `ProviderUnavailable`.
 *
 * Messages never contain the key, anything that looks like one, or a header value.
 *
 * @since 0.1.0
 * @example
 * import { OpenAIError } from "@ballast/openai"
 *
 * const error = OpenAIError.fromUnknown(new Error("boom"), { provider: "openai", model: "gpt-image-2" })
 * error._tag // "ProviderUnavailable"
 */
export const fromUnknown = (error: unknown, context: Context): GenerationError => {
  const { model, provider } = context
  if (Errors.isGenerationError(error)) return error
  if (error instanceof APIUserAbortError) {
    return new Timeout({ provider, model, message: `${provider} ${model}: the request was aborted` })
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new Timeout({ provider, model, message: `${provider} ${model}: the request timed out` })
  }
  if (error instanceof APIConnectionError) {
    return new ProviderUnavailable({ provider, model, message: `${provider} ${model}: could not connect` })
  }
  if (error instanceof APIError) return fromAPIError(error, context)
  if (error instanceof SyntaxError) {
    return new ProviderUnavailable({ provider, model, message: `${provider} ${model}: the response was not valid JSON` })
  }
  const name = error instanceof Error ? error.name : typeof error
  return new ProviderUnavailable({ provider, model, message: `${provider} ${model}: unexpected failure (${name})` })
}
