/**
 * Failures as the two wire formats answer them: OpenAI's
 * `{"error":{message,type,param,code}}` and Gemini's
 * `{"error":{code,message,status}}`, with the matching HTTP status and a
 * `retry-after` header for 429s.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { GenerationError } from "@ballast/core"
import { Duration, Option } from "effect"

/** A failure, wire-neutral. */
export interface Problem {
  readonly status: number
  readonly message: string
  /** OpenAI `type` and `code`. */
  readonly type: string
  readonly code: string | null
  /** The request field at fault (OpenAI `param`). */
  readonly param: string | null
  /** Gemini `status`. */
  readonly grpc: string
  readonly retryAfterMs?: number | undefined
}

export const badRequest = (message: string, param: string | null, code: string | null = "invalid_value"): Problem => ({
  status: 400,
  message,
  type: "invalid_request_error",
  code,
  param,
  grpc: "INVALID_ARGUMENT"
})

export const unauthorized = (message: string): Problem => ({
  status: 401,
  message,
  type: "invalid_request_error",
  code: "invalid_api_key",
  param: null,
  grpc: "UNAUTHENTICATED"
})

export const modelNotFound = (model: string, known: ReadonlyArray<string>): Problem => ({
  status: 404,
  message: `The model \`${model}\` does not exist or you do not have access to it. Models served here: ${known.join(", ")}.`,
  type: "invalid_request_error",
  code: "model_not_found",
  param: "model",
  grpc: "NOT_FOUND"
})

export const notFound = (message: string): Problem => ({
  status: 404,
  message,
  type: "invalid_request_error",
  code: "unknown_url",
  param: null,
  grpc: "NOT_FOUND"
})

export const tooLarge = (limit: number): Problem => ({
  status: 413,
  message: `The request body exceeds the limit of ${limit} bytes.`,
  type: "invalid_request_error",
  code: "request_too_large",
  param: null,
  grpc: "INVALID_ARGUMENT"
})

export const rateLimited = (message: string, retryAfterMs: number | undefined): Problem => ({
  status: 429,
  message,
  type: "requests",
  code: "rate_limit_exceeded",
  param: null,
  grpc: "RESOURCE_EXHAUSTED",
  retryAfterMs
})

export const unavailable = (message: string, code: string | null = null): Problem => ({
  status: 503,
  message,
  type: "server_error",
  code,
  param: null,
  grpc: "UNAVAILABLE"
})

export const internal = (message: string): Problem => ({
  status: 500,
  message,
  type: "server_error",
  code: null,
  param: null,
  grpc: "INTERNAL"
})

const millisOf = (retryAfter: Option.Option<Duration.Duration>): number | undefined =>
  Option.match(retryAfter, { onNone: () => undefined, onSome: (d) => Duration.toMillis(d) })

/**
 * The answer for a pipeline failure. A plan that failed only on rate limits
 * answers 429 (with the shortest wait any route asked for); one that failed
 * only on safety blocks answers as a safety block; any other plan failure is
 * 503 with the pipeline's summary. A provider refusing Ballast's own key is
 * the operator's problem, not the caller's: 503, never 401.
 */
export const problemOf = (error: GenerationError): Problem => {
  switch (error._tag) {
    case "Overloaded":
      return unavailable(error.message, "server_is_overloaded")
    case "RateLimited":
      return rateLimited(error.message, millisOf(error.retryAfter))
    case "BadRequest":
      return badRequest(error.message, null, null)
    case "ContentRejected":
      return { status: 400, message: error.message, type: "image_generation_user_error", code: "moderation_blocked", param: null, grpc: "INVALID_ARGUMENT" }
    case "Timeout":
      return { status: 504, message: error.message, type: "server_error", code: "timeout", param: null, grpc: "DEADLINE_EXCEEDED" }
    case "Unauthorized":
      return unavailable(`a provider refused the gateway's credentials: ${error.message}`)
    case "ProviderUnavailable":
    case "CircuitOpen":
      return unavailable(error.message)
    case "AllRoutesFailed": {
      const tried = error.attempts.filter((a) => a.resolution !== "skipped")
      if (tried.length > 0 && tried.every((a) => a.error._tag === "RateLimited")) {
        const waits = tried.flatMap((a) => a.error._tag === "RateLimited" ? [millisOf(a.error.retryAfter)] : [])
          .filter((ms): ms is number => ms !== undefined)
        return rateLimited(error.message, waits.length > 0 ? Math.min(...waits) : undefined)
      }
      if (tried.length > 0 && tried.every((a) => a.error._tag === "ContentRejected")) {
        return problemOf(tried[tried.length - 1]!.error)
      }
      if (tried.some((a) => a.error._tag === "BadRequest" && a.error.scope === "request")) {
        return badRequest(error.message, null, null)
      }
      return unavailable(error.message, "all_routes_failed")
    }
  }
}

const retryHeaders = (problem: Problem): Record<string, string> =>
  problem.retryAfterMs === undefined ? {} : {
    "retry-after": String(Math.max(1, Math.ceil(problem.retryAfterMs / 1000))),
    "retry-after-ms": String(Math.max(0, Math.round(problem.retryAfterMs)))
  }

export const openAIResponse = (problem: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { error: { message: problem.message, type: problem.type, param: problem.param, code: problem.code } },
    { status: problem.status, headers: retryHeaders(problem) }
  )

export const geminiResponse = (problem: Problem): HttpServerResponse.HttpServerResponse => {
  const details = problem.retryAfterMs === undefined ? undefined : [{
    "@type": "type.googleapis.com/google.rpc.RetryInfo",
    retryDelay: `${(problem.retryAfterMs / 1000).toFixed(3).replace(/\.?0+$/, "")}s`
  }]
  return HttpServerResponse.unsafeJson(
    { error: { code: problem.status, message: problem.message, status: problem.grpc, ...(details ? { details } : {}) } },
    { status: problem.status, headers: retryHeaders(problem) }
  )
}
