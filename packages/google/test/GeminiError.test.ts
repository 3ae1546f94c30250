import { describe, expect, it } from "@effect/vitest"
import { ApiError } from "@google/genai"
import { Duration, FastCheck, Option, Redacted } from "effect"
import * as GeminiError from "../src/GeminiError.js"

const context = { provider: "google", model: "gemini-3-pro-image-preview" }

// PROTOCOLS.md §1.7, verbatim.
const overloaded = `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`
const quota = `{"error":{"code":429,
 "message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\\nPlease retry in 56.582596507s.",
 "status":"RESOURCE_EXHAUSTED",
 "details":[
  {"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},
  {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"},"quotaValue":"2"}]},
  {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"56s"}]}}`
const badAspect =
  `{"error":{"code":400,"message":"* GenerateContentRequest.generation_config.image_config.aspect_ratio: aspect_ratio must be one of '1:1', '1:4', '1:8', '2:3', '3:2', '3:4', '4:1', '4:3', '4:5', '5:4', '8:1', '9:16', '16:9', or '21:9'.\\n","status":"INVALID_ARGUMENT"}}`
const badKey =
  `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`
const leaked =
  `{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}`
const unregistered =
  `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`
const internal =
  `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`
const deadline = `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`

const google400 = (message: string) => JSON.stringify({ error: { code: 400, message, status: "INVALID_ARGUMENT" } })

// The JSON-content-type form: the SDK re-serialises the body compactly.
const apiError = (status: number, body: string) =>
  new ApiError({ status, message: JSON.stringify(JSON.parse(body)) })

// The non-JSON-content-type form (HTML, text/event-stream): the raw text is wrapped.
const wrapped = (status: number, statusText: string, raw: string) =>
  new ApiError({ status, message: JSON.stringify({ error: { message: raw, code: status, status: statusText } }) })

// Google's pretty-printed body, as served.
const pretty = (body: string) => `${JSON.stringify(JSON.parse(body), null, 2)}\n`

const translate = (error: unknown) => GeminiError.fromUnknown(error, context)

describe("GeminiError.fromUnknown", () => {
  it("503 UNAVAILABLE is Overloaded, in both message forms", () => {
    const direct = translate(apiError(503, overloaded))
    expect(direct._tag).toBe("Overloaded")
    expect(direct.message).toBe("Gemini answered 503 UNAVAILABLE: The model is overloaded. Please try again later.")
    expect(direct.provider).toBe("google")
    expect(direct.model).toBe("gemini-3-pro-image-preview")
    expect(translate(wrapped(503, "Service Unavailable", pretty(overloaded)))._tag).toBe("Overloaded")
  })

  it("a streamed error frame with the `got status:` prefix is parsed", () => {
    const frame = new ApiError({ status: 503, message: `got status: UNAVAILABLE. ${JSON.stringify(JSON.parse(overloaded))}` })
    expect(translate(frame)._tag).toBe("Overloaded")
    const old = new ApiError({ status: 429, message: `got status: 429 Too Many Requests. ${JSON.stringify(JSON.parse(quota))}` })
    const error = translate(old)
    expect(error._tag).toBe("RateLimited")
    // the body after the prefix was parsed: its "limit: 0" quota is recognised
    expect(error._tag === "RateLimited" && error.exhausted).toBe(true)
    const internalFrame = new ApiError({ status: 500, message: `got status: INTERNAL. ${internal}` })
    expect(translate(internalFrame)._tag).toBe("ProviderUnavailable")
  })

  it("429 RESOURCE_EXHAUSTED with limit 0 is RateLimited, exhausted, with no retry time despite RetryInfo", () => {
    for (const error of [translate(apiError(429, quota)), translate(wrapped(429, "Too Many Requests", pretty(quota)))]) {
      expect(error._tag).toBe("RateLimited")
      if (error._tag !== "RateLimited") return
      expect(error.retryAfter).toEqual(Option.none())
      expect(error.exhausted).toBe(true)
    }
    // the same body with a quota left: RetryInfo's delay is honoured
    const limited = translate(apiError(429, quota.replace("limit: 0", "limit: 10")))
    expect(limited._tag === "RateLimited" && Option.map(limited.retryAfter, Duration.toMillis)).toEqual(
      Option.some(56_000)
    )
    expect(limited._tag === "RateLimited" && limited.exhausted).toBe(false)
  })

  it("reads fractional retry delays, and falls back to the message's delay", () => {
    const body = (delay: string) =>
      JSON.stringify({
        error: {
          code: 429,
          message: "Resource has been exhausted (e.g. check quota).",
          status: "RESOURCE_EXHAUSTED",
          details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: delay }]
        }
      })
    const fractional = translate(apiError(429, body("3.299376739s")))
    expect(fractional._tag === "RateLimited" && Option.map(fractional.retryAfter, Duration.toMillis)).toEqual(
      Option.some(3_300)
    )
    expect(fractional._tag === "RateLimited" && fractional.exhausted).toBe(false)
    const thirty = translate(apiError(429, body("30s")))
    expect(thirty._tag === "RateLimited" && Option.map(thirty.retryAfter, Duration.toMillis)).toEqual(Option.some(30_000))
    const noInfo = translate(
      apiError(429, JSON.stringify({ error: { code: 429, message: "Quota exceeded, limit: 10. Please retry in 2.5s.", status: "RESOURCE_EXHAUSTED" } }))
    )
    expect(noInfo._tag === "RateLimited" && Option.map(noInfo.retryAfter, Duration.toMillis)).toEqual(Option.some(2_500))
    expect(noInfo._tag === "RateLimited" && noInfo.exhausted).toBe(false)
    const none = translate(apiError(429, JSON.stringify({ error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" } })))
    expect(none._tag === "RateLimited" && Option.isNone(none.retryAfter)).toBe(true)
  })

  it("400 about the model's capabilities is BadRequest scope route; other 400s scope request", () => {
    const scopeOf = (error: ReturnType<typeof translate>) => (error._tag === "BadRequest" ? error.scope : error._tag)
    expect(scopeOf(translate(apiError(400, badAspect)))).toBe("route")
    expect(scopeOf(translate(apiError(400, google400("This model only supports text output."))))).toBe("route")
    expect(
      scopeOf(translate(apiError(400, google400(
        "Invalid JSON payload received. Unknown name \"aspectRatio\" at 'request.generation_config': Cannot find field."
      ))))
    ).toBe("route")
    expect(scopeOf(translate(apiError(400, google400("image_size is not supported for this model."))))).toBe("route")
    expect(scopeOf(translate(apiError(400, google400("The prompt is invalid: it contains no text."))))).toBe("request")
    expect(scopeOf(translate(apiError(404, JSON.stringify({ error: { code: 404, message: "models/nope is not found for API version v1beta, or is not supported for generateContent.", status: "NOT_FOUND" } })))))
      .toBe("route")
  })

  it("API_KEY_INVALID, 401 and 403 are Unauthorized", () => {
    expect(translate(apiError(400, badKey))._tag).toBe("Unauthorized")
    expect(translate(apiError(403, leaked))._tag).toBe("Unauthorized")
    expect(translate(apiError(403, unregistered))._tag).toBe("Unauthorized")
    expect(translate(new ApiError({ status: 401, message: "{}" }))._tag).toBe("Unauthorized")
  })

  it("504 DEADLINE_EXCEEDED is Timeout; 500 INTERNAL and HTML 5xx are ProviderUnavailable", () => {
    expect(translate(apiError(504, deadline))._tag).toBe("Timeout")
    expect(translate(apiError(500, internal))._tag).toBe("ProviderUnavailable")
    const html = translate(wrapped(502, "Bad Gateway", "<html><body><h1>502 Bad Gateway</h1></body></html>"))
    expect(html._tag).toBe("ProviderUnavailable")
    expect(html.message).not.toContain("<html>")
    expect(translate(wrapped(503, "Service Unavailable", "<html>upstream down</html>"))._tag).toBe("ProviderUnavailable")
  })

  it("network failures, aborts, malformed JSON and cut streams", () => {
    const fetchFailed = new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) })
    const network = translate(fetchFailed)
    expect(network._tag).toBe("ProviderUnavailable")
    expect(network.message).toBe("could not reach Gemini: fetch failed (UND_ERR_SOCKET)")
    expect(translate(new DOMException("This operation was aborted", "AbortError"))._tag).toBe("Timeout")
    expect(translate(new SyntaxError("Unexpected token < in JSON at position 0"))._tag).toBe("ProviderUnavailable")
    expect(translate(new Error("Incomplete JSON segment at the end"))._tag).toBe("ProviderUnavailable")
    expect(translate("something odd")._tag).toBe("ProviderUnavailable")
  })

  it("never puts an API key in a message", () => {
    const key = FastCheck.stringMatching(/^AIza[0-9A-Za-z_-]{35}$/)
    const otherKey = FastCheck.string({ minLength: 16, maxLength: 40 }).filter((s) => s.trim().length >= 16)
    const carriers = (secret: string): ReadonlyArray<unknown> => [
      apiError(400, google400(`API key ${secret} not valid.`)),
      apiError(429, JSON.stringify({ error: { code: 429, message: `quota for ${secret}`, status: "RESOURCE_EXHAUSTED" } })),
      wrapped(502, "Bad Gateway", `<html>key=${secret}</html>`),
      new ApiError({ status: 503, message: `got status: UNAVAILABLE. {"error":{"code":503,"message":"${secret}"}}` }),
      new TypeError(`fetch failed for ${secret}`),
      new Error(`exception ${secret} sending request`),
      new SyntaxError(`Unexpected token in ${secret}`)
    ]
    FastCheck.assert(
      FastCheck.property(FastCheck.oneof(key, otherKey), (secret) => {
        for (const error of carriers(secret)) {
          const translated = GeminiError.fromUnknown(error, { ...context, secrets: [Redacted.make(secret)] })
          expect(translated.message).not.toContain(secret)
        }
      })
    )
    // Google-shaped keys are scrubbed even when the caller did not name them.
    FastCheck.assert(
      FastCheck.property(key, (secret) => {
        for (const error of carriers(secret)) expect(translate(error).message).not.toContain(secret)
      })
    )
  })
})
