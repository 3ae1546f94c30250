import { Errors } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, FastCheck, Option, Redacted } from "effect"
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  InternalServerError,
  RateLimitError
} from "openai"
import * as OpenAIError from "../src/OpenAIError.js"

const context = { provider: "openai", model: "gpt-image-2" }

// PROTOCOLS.md §2.6, verbatim.
const bodies = {
  rateLimit: {
    error: {
      code: "rate_limit_exceeded",
      message:
        "Rate limit exceeded for images per minute in organization org-XXXX. Limit: 0/1min. Current: 1/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn how to increase your rate limit.",
      param: null,
      type: "requests"
    }
  },
  quota: {
    error: {
      message:
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
      type: "insufficient_quota",
      param: null,
      code: "insufficient_quota"
    }
  },
  credits: {
    error: {
      message:
        "You have no credits remaining. Add credits to continue using the API at https://platform.openai.com/settings/organization/billing/.",
      type: "insufficient_quota",
      param: null,
      code: "credit_balance_exhausted"
    }
  },
  dalleSize: {
    error: {
      code: null,
      message: "'256×256' is not one of ['256x256', '512x512', '1024x1024'] - 'size'",
      param: null,
      type: "invalid_request_error"
    }
  },
  gptImageSize: {
    error: {
      message: "Invalid value: '1254x836'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
      type: "invalid_request_error",
      param: "size",
      code: "invalid_value"
    }
  },
  responseFormat: {
    error: {
      message: "Unknown parameter: 'response_format'.",
      type: "invalid_request_error",
      param: "response_format",
      code: "unknown_parameter"
    }
  },
  safety: {
    error: {
      message: "Your request was rejected by the safety system. …",
      type: "image_generation_user_error",
      param: null,
      code: "moderation_blocked"
    }
  },
  unauthorized: {
    error: {
      message:
        "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.",
      type: "invalid_request_error",
      param: null,
      code: "invalid_api_key"
    }
  },
  retired: {
    error: {
      message: "The model `dall-e-3` does not exist or you do not have access to it.",
      type: "invalid_request_error",
      param: null,
      code: "model_not_found"
    }
  },
  server: {
    error: {
      message: "The server had an error while processing your request. Sorry about that!",
      type: "server_error",
      param: null,
      code: null
    }
  },
  overloaded: {
    error: {
      message:
        "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID <id> in your message.)",
      type: "server_error",
      param: null,
      code: null
    }
  },
  overloadedCode: {
    error: {
      message: "The engine is currently overloaded, please try again later",
      type: "service_unavailable_error",
      param: null,
      code: "server_is_overloaded"
    }
  },
  prompt: {
    error: {
      message: "Invalid 'prompt': string too long. Expected a string with maximum length 32000.",
      type: "invalid_request_error",
      param: "prompt",
      code: "string_above_max_length"
    }
  }
}

const sdkError = (status: number, body: object | undefined, headers: Record<string, string> = {}, message?: string) =>
  APIError.generate(status, body, message, new Headers(headers))

const translate = (error: unknown, now?: number) => OpenAIError.fromUnknown(error, now === undefined ? context : { ...context, now })

describe("OpenAIError.fromUnknown", () => {
  describe("overload", () => {
    it("maps the captured 503 to Overloaded", () => {
      const error = translate(sdkError(503, bodies.overloaded))
      expect(error._tag).toBe("Overloaded")
      expect(error.provider).toBe("openai")
      expect(error.model).toBe("gpt-image-2")
      expect(error.message).toContain("overloaded")
    })

    it("maps 529 and server_is_overloaded to Overloaded", () => {
      expect(translate(sdkError(529, bodies.overloaded))._tag).toBe("Overloaded")
      expect(translate(sdkError(500, bodies.overloadedCode))._tag).toBe("Overloaded")
    })
  })

  describe("rate limits", () => {
    it("reads retry-after-ms as float milliseconds first", () => {
      const error = translate(sdkError(429, bodies.rateLimit, { "retry-after-ms": "1500.5", "retry-after": "9" }))
      expect(error._tag).toBe("RateLimited")
      expect(error instanceof RateLimitError).toBe(false)
      expect(Errors.retryAfterOf(error)).toEqual(Option.some(Duration.millis(1500.5)))
      expect(Errors.isRetryable(error)).toBe(true)
    })

    it("reads retry-after in seconds", () => {
      const error = translate(sdkError(429, bodies.rateLimit, { "retry-after": "7" }))
      expect(Errors.retryAfterOf(error)).toEqual(Option.some(Duration.seconds(7)))
    })

    it("reads retry-after as an HTTP-date relative to now", () => {
      const now = Date.parse("2026-11-22T00:00:00Z")
      const error = translate(sdkError(429, bodies.rateLimit, { "retry-after": "Sun, 22 Nov 2026 00:00:30 GMT" }), now)
      expect(Errors.retryAfterOf(error)).toEqual(Option.some(Duration.millis(30_000)))
      const past = translate(sdkError(429, bodies.rateLimit, { "retry-after": "Sat, 21 Nov 2026 23:59:00 GMT" }), now)
      expect(Errors.retryAfterOf(past)).toEqual(Option.some(Duration.zero))
    })

    it("has no retryAfter without a usable header", () => {
      expect(Errors.retryAfterOf(translate(sdkError(429, bodies.rateLimit)))).toEqual(Option.none())
      expect(Errors.retryAfterOf(translate(sdkError(429, bodies.rateLimit, { "retry-after": "soon" })))).toEqual(
        Option.none()
      )
    })

    it("marks insufficient_quota and credit_balance_exhausted as exhausted, not retryable", () => {
      for (const body of [bodies.quota, bodies.credits]) {
        const error = translate(sdkError(429, body, { "retry-after": "1" }))
        expect(error._tag).toBe("RateLimited")
        expect(error._tag === "RateLimited" && error.exhausted).toBe(true)
        expect(Errors.isRetryable(error)).toBe(false)
      }
      const plain = translate(sdkError(429, bodies.rateLimit))
      expect(plain._tag === "RateLimited" && plain.exhausted).toBe(false)
    })
  })

  describe("bad requests", () => {
    it("scopes what is about the model to the route", () => {
      for (const [status, body] of [[400, bodies.dalleSize], [400, bodies.gptImageSize], [400, bodies.responseFormat], [
        404,
        bodies.retired
      ]] as const) {
        const error = translate(sdkError(status, body))
        expect(error._tag).toBe("BadRequest")
        expect(error._tag === "BadRequest" && error.scope).toBe("route")
      }
    })

    it("scopes the rest of a structured 400/422 to the request", () => {
      for (const status of [400, 422]) {
        const error = translate(sdkError(status, bodies.prompt))
        expect(error._tag).toBe("BadRequest")
        expect(error._tag === "BadRequest" && error.scope).toBe("request")
        expect(Errors.isFatalForRequest(error)).toBe(true)
      }
    })

    it("scopes an unstructured 400 to the route (cannot tell)", () => {
      const error = translate(sdkError(400, undefined, {}, "bad things"))
      expect(error._tag === "BadRequest" && error.scope).toBe("route")
    })

    it("maps moderation_blocked to ContentRejected", () => {
      expect(translate(sdkError(400, bodies.safety))._tag).toBe("ContentRejected")
    })
  })

  describe("credentials and servers", () => {
    it("maps 401 and 403 to Unauthorized, without the echoed key", () => {
      const error = translate(sdkError(401, bodies.unauthorized))
      expect(error._tag).toBe("Unauthorized")
      expect(error.message).not.toContain("sk-test")
      expect(error.message).toContain("Incorrect API key provided")
      expect(translate(sdkError(403, { error: { message: "Forbidden", type: "permission_error" } }))._tag).toBe(
        "Unauthorized"
      )
    })

    it("maps other 5xx, with JSON or HTML bodies, to ProviderUnavailable", () => {
      const server = translate(sdkError(500, bodies.server))
      expect(server).toMatchObject({ _tag: "ProviderUnavailable" })
      expect(server.message).toContain("Sorry about that")
      const html = translate(
        sdkError(502, undefined, { "content-type": "text/html" }, "<html><body><h1>502 Bad Gateway</h1></body></html>")
      )
      expect(html._tag).toBe("ProviderUnavailable")
      expect(html.message).not.toContain("<")
      expect(new InternalServerError(500, undefined, "x", new Headers())).toBeInstanceOf(APIError)
    })

    it("maps a stream error frame (no status) to ProviderUnavailable", () => {
      const error = translate(new APIError(undefined, { message: "upstream died", type: "server_error" }, "upstream died", undefined))
      expect(error._tag).toBe("ProviderUnavailable")
    })
  })

  describe("transport", () => {
    it("maps timeouts, aborts, connection errors and bad JSON", () => {
      expect(translate(new APIConnectionTimeoutError())._tag).toBe("Timeout")
      expect(translate(new APIUserAbortError())._tag).toBe("Timeout")
      expect(translate(new APIConnectionError({ cause: new TypeError("fetch failed") }))._tag).toBe("ProviderUnavailable")
      expect(translate(new SyntaxError("Unexpected token < in JSON"))._tag).toBe("ProviderUnavailable")
      expect(translate(new Error("weird"))._tag).toBe("ProviderUnavailable")
      expect(translate("a string")._tag).toBe("ProviderUnavailable")
    })

    it("passes Ballast errors through", () => {
      const error = translate(sdkError(503, bodies.overloaded))
      expect(translate(error)).toBe(error)
    })
  })

  describe("secrets", () => {
    const keyArb = FastCheck.oneof(
      FastCheck.stringMatching(/^sk-(proj-)?[A-Za-z0-9_-]{8,48}$/),
      FastCheck.stringMatching(/^[A-Za-z0-9]{16,48}$/)
    )
    const statusArb = FastCheck.constantFrom(400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 529)

    it("never puts the key, or an sk- prefix of it, in a message", () => {
      FastCheck.assert(
        FastCheck.property(keyArb, statusArb, FastCheck.boolean(), (key, status, nested) => {
          const echo = `Incorrect API key provided: ${key.slice(0, 10)}***${key.slice(-4)}. Key ${key} was used.`
          const body = nested ? { error: echo } : { error: { message: echo, type: "invalid_request_error", code: null } }
          const headers = { authorization: `Bearer ${key}`, "retry-after": "1" }
          const error = OpenAIError.fromUnknown(sdkError(status, body, headers), {
            ...context,
            apiKey: Redacted.make(key)
          })
          expect(error.message).not.toContain(key)
          expect(error.message).not.toContain(key.slice(0, 10))
          expect(error.message).not.toContain("Bearer")
        })
      )
    })

    it("scrubs OpenAI-style keys even when the key is not known", () => {
      expect(OpenAIError.scrub("Incorrect API key provided: sk-proj-abc***wxyz. Oops")).toBe(
        "Incorrect API key provided: [redacted]. Oops"
      )
      expect(OpenAIError.scrub("token sk-live_12345 and Bearer abc.def")).toBe("token [redacted] and Bearer [redacted]")
    })
  })
})

describe("OpenAIError scrubbing", () => {
  const ctx = { provider: "openai", model: "gpt-image-2" }

  it("removes the client's extra header values too, but leaves short ones (ordinary words) alone", () => {
    const tenant = Redacted.make("tenant-7f3a9c21e4")
    const env = Redacted.make("prod")
    const error = APIError.generate(
      400,
      { error: { message: "unknown tenant tenant-7f3a9c21e4 in prod", type: "invalid_request_error", code: null } },
      undefined,
      new Headers()
    )
    const message = OpenAIError.fromUnknown(error, { ...ctx, secrets: [tenant, env] }).message
    expect(message).not.toContain("tenant-7f3a9c21e4")
    expect(message).toContain("in prod")
  })

  it("scrubs a long message before shortening it, so a key cut at the end does not survive in part", () => {
    const key = Redacted.make("azurekey0123456789abcdef0123456789")
    const filler = "x".repeat(290)
    const error = APIError.generate(
      400,
      { error: { message: `${filler} ${Redacted.value(key)} tail`, type: "invalid_request_error", code: null } },
      undefined,
      new Headers()
    )
    const message = OpenAIError.fromUnknown(error, { ...ctx, apiKey: key }).message
    expect(message).not.toContain("azurekey")
  })
})
