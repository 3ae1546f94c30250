/**
 * A fault-injection HTTP server that speaks the Gemini (API-key and Vertex)
 * and OpenAI (Images, Chat) wire formats, so that the real SDKs can be tested
 * offline: small real PNGs on success and, on command, every fault of
 * PROTOCOLS.md §3 with its exact status, body and headers. Faults are scripted
 * per model (a sequence, or a function of the request); every request is
 * recorded, with whether the client went away before the answer was complete.
 *
 * Routes:
 * - Gemini: `POST /{v1|v1beta|v1alpha}/models/{model}:generateContent` and
 *   `:streamGenerateContent` (`?alt=sse`), auth `x-goog-api-key` (missing → 403).
 * - Vertex: `POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent`
 *   (and `:streamGenerateContent`; the `projects/{p}/locations/{l}/` part is optional, as in express mode).
 * - Gemini / Vertex probe: `GET /{v}/models/{model}` and `GET /{v}/…/publishers/google/models/{model}`
 *   answer model metadata. `GET /v1/models/{model}` is Gemini when the request carries `x-goog-api-key`,
 *   OpenAI otherwise.
 * - OpenAI: `POST /v1/images/generations`, `POST /v1/chat/completions` (`stream: true` → SSE chunks then
 *   `data: [DONE]`), `GET /v1/models/{model}`; auth `authorization: Bearer …` (missing → 401).
 * - Azure OpenAI: `POST [/{prefix}]/openai/deployments/{deployment}/images/generations?api-version=…` and
 *   `…/chat/completions?api-version=…`, answered and recorded as OpenAI Images / Chat (api `"openai-images"` /
 *   `"openai-chat"`) with the deployment as the model; auth `api-key` (missing → 401, OpenAI-shaped); no
 *   `api-version` → 404. Any path prefix before `/openai/` is accepted, so that several "regions" (endpoints
 *   `{url}/eastus`, `{url}/westeurope`) can share one server and be told apart by their recorded paths.
 * - Anything else: 404 JSON (not recorded: it belongs to no API).
 *
 * Every recorded request consumes one step of its model's script, probes
 * included. A probe answers the step's fault when that fault is an error (an
 * error status, an HTML body, malformed JSON, a hang or a reset) and model
 * metadata otherwise. Requests refused for a missing key are recorded (fault
 * `"forbidden"` for Gemini, `"unauthorized"` for OpenAI) without consuming a step.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { deflateSync } from "node:zlib"
import { Context, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import type { Role, Scenario } from "./Scenario.js"

/**
 * The faults the server can answer with; `"ok"` is a success.
 *
 * @since 0.1.0
 */
export type FaultName =
  | "ok"
  | "overloaded"
  | "rate-limited"
  | "quota-exhausted"
  | "credit-exhausted"
  | "bad-request"
  | "text-only"
  | "unauthorized"
  | "bad-key"
  | "forbidden"
  | "not-found"
  | "server-error"
  | "bad-gateway"
  | "gateway-timeout"
  | "html-503"
  | "malformed-json"
  | "no-image"
  | "prompt-blocked"
  | "moderation"
  | "hang"
  | "reset"
  | "sse-error"
  | "sse-cut"

/**
 * Every fault name.
 *
 * @since 0.1.0
 */
export const faultNames: ReadonlyArray<FaultName> = [
  "ok",
  "overloaded",
  "rate-limited",
  "quota-exhausted",
  "credit-exhausted",
  "bad-request",
  "text-only",
  "unauthorized",
  "bad-key",
  "forbidden",
  "not-found",
  "server-error",
  "bad-gateway",
  "gateway-timeout",
  "html-503",
  "malformed-json",
  "no-image",
  "prompt-blocked",
  "moderation",
  "hang",
  "reset",
  "sse-error",
  "sse-cut"
]

/**
 * One answer: a fault, with an optional real-time latency and retry hints.
 *
 * @since 0.1.0
 */
export interface Fault {
  readonly fault: FaultName
  /** Milliseconds (real time) before answering. */
  readonly latency?: number
  /** Sent as the `retry-after` header (seconds). */
  readonly retryAfterSeconds?: number
  /** Sent as the `retry-after-ms` header. */
  readonly retryAfterMs?: number
  /** Gemini `google.rpc.RetryInfo.retryDelay` of a 429, e.g. `"3.5s"`; default `"30s"`; `null` omits the detail. */
  readonly retryInfo?: string | null
}

/**
 * The wire format a request was addressed to.
 *
 * @since 0.1.0
 */
export type Api = "gemini" | "vertex" | "openai-images" | "openai-chat"

/**
 * A request the server received.
 *
 * @since 0.1.0
 */
export interface RecordedRequest {
  /** `Date.now()` at arrival. */
  readonly at: number
  readonly api: Api
  readonly method: string
  /** The path including the query string. */
  readonly path: string
  /** From the URL (Gemini / Vertex / probes) or the JSON body (OpenAI). */
  readonly model: string
  /** Lower-case names; repeated headers joined with `", "`. */
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body, or the raw string when it was not JSON (`""` when empty). */
  readonly body: unknown
  readonly fault: FaultName
  /** True when the client went away before the answer was complete. */
  aborted: boolean
}

/**
 * What `decide` is told about a request.
 *
 * @since 0.1.0
 */
export interface DecisionRequest {
  readonly api: Api
  readonly model: string
  readonly at: number
}

/**
 * A running fault server.
 *
 * @since 0.1.0
 */
export interface FaultServer {
  /** `"http://127.0.0.1:<port>"`. */
  readonly url: string
  readonly port: number
  /** Answers for one model, in order; after the list: "repeat-last" (default) or "cycle". Replaces that model's previous script. */
  readonly script: (
    model: string,
    faults: ReadonlyArray<Fault | FaultName>,
    options?: { readonly after?: "repeat-last" | "cycle" }
  ) => Effect.Effect<void>
  /** A fault chosen per request by a function (probability / clock based scenarios). Replaces that model's script. */
  readonly decide: (model: string, choose: (request: DecisionRequest) => Fault | FaultName) => Effect.Effect<void>
  /** Every recorded request, oldest first. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Clears scripts and the record. */
  readonly reset: Effect.Effect<void>
}

/**
 * The fault server as a service.
 *
 * @since 0.1.0
 */
export class FaultServerTag extends Context.Tag("@ballast/testing/FaultServer")<FaultServerTag, FaultServer>() {}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"127.0.0.1"`. */
  readonly host?: string
  /** Chooses the fault for a model with no script (default `"ok"`); the standalone command plays scenarios with it. */
  readonly fallback?: (request: DecisionRequest) => Fault | FaultName
}

// ---------------------------------------------------------------------------
// PNG

const crcTable = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/**
 * The CRC-32 (ISO 3309, as PNG uses it) of some bytes.
 *
 * @since 0.1.0
 */
export const crc32 = (bytes: Uint8Array): number => {
  let c = 0xffffffff
  for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const chunk = (type: string, data: Buffer): Buffer => {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const typeAndData = Buffer.concat([Buffer.from(type, "latin1"), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(typeAndData))
  return Buffer.concat([length, typeAndData, crc])
}

/**
 * A valid RGB PNG of `size`×`size` pixels filled with one colour.
 *
 * @since 0.1.0
 */
export const makePng = (size = 8, rgb: readonly [number, number, number] = [32, 96, 200]): Buffer => {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // colour type: truecolour
  const rows: Array<number> = []
  for (let y = 0; y < size; y++) {
    rows.push(0) // filter: none
    for (let x = 0; x < size; x++) rows.push(...rgb)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0))
  ])
}

/**
 * The PNG every successful image answer carries, base64-encoded.
 *
 * @since 0.1.0
 */
export const pngBase64: string = makePng().toString("base64")

// ---------------------------------------------------------------------------
// Bodies

const googleError = (code: number, status: string, message: string, details?: ReadonlyArray<unknown>) => ({
  error: details === undefined ? { code, message, status } : { code, message, status, details }
})

const openAiError = (message: string, type: string, param: string | null, code: string | null) => ({
  error: { message, type, param, code }
})

const htmlPage = (status: number, title: string) =>
  `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n` +
  `<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`

const quotaDetails = (model: string, limit: number, retryInfo: string | null) => [
  {
    "@type": "type.googleapis.com/google.rpc.Help",
    links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }]
  },
  {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    violations: [{
      quotaMetric: "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
      quotaId: "GenerateRequestsPerMinutePerProjectPerModel",
      quotaDimensions: { location: "global", model },
      quotaValue: String(limit)
    }]
  },
  ...(retryInfo === null ? [] : [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: retryInfo }])
]

const quotaMessage = (model: string, limit: number, retryInfo: string | null) =>
  "You exceeded your current quota, please check your plan and billing details. For more information on this error, " +
  "head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: " +
  "https://ai.dev/rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/" +
  `generate_content_paid_tier_requests, limit: ${limit}, model: ${model}` +
  (retryInfo === null ? "" : `\nPlease retry in ${retryInfo}.`)

/** A finished answer: status, content type, body text. */
interface Plain {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const googleJson = "application/json; charset=UTF-8"
const pretty = (body: unknown) => JSON.stringify(body, null, 2) + "\n"
const gPlain = (status: number, body: unknown): Plain => ({ status, contentType: googleJson, body: pretty(body) })
const oPlain = (status: number, body: unknown): Plain => ({ status, contentType: "application/json", body: pretty(body) })
const html = (status: number, title: string): Plain => ({
  status,
  contentType: "text/html; charset=UTF-8",
  body: htmlPage(status, title)
})

const geminiErrors = {
  overloaded: googleError(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
  "bad-request": googleError(
    400,
    "INVALID_ARGUMENT",
    "* GenerateContentRequest.generation_config.image_config.aspect_ratio: aspect_ratio must be one of '1:1', " +
      "'1:4', '1:8', '2:3', '3:2', '3:4', '4:1', '4:3', '4:5', '5:4', '8:1', '9:16', '16:9', or '21:9'.\n"
  ),
  "text-only": googleError(400, "INVALID_ARGUMENT", "This model only supports text output."),
  unauthorized: googleError(
    401,
    "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid " +
      "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
  ),
  "bad-key": googleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
    {
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "API_KEY_INVALID",
      domain: "googleapis.com",
      metadata: { service: "generativelanguage.googleapis.com" }
    },
    {
      "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
      locale: "en-US",
      message: "API key not valid. Please pass a valid API key."
    }
  ]),
  forbidden: googleError(403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key."),
  missingKey: googleError(
    403,
    "PERMISSION_DENIED",
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other " +
      "form of API consumer identity to call this API."
  ),
  "server-error": googleError(
    500,
    "INTERNAL",
    "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
  ),
  "gateway-timeout": googleError(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
} as const

const openAiErrors = {
  overloaded: openAiError(
    "That model is currently overloaded with other requests. You can retry your request, or contact us through our " +
      "help center at help.openai.com if the error persists. (Please include the request ID " +
      "req_fault_server in your message.)",
    "server_error",
    null,
    null
  ),
  "quota-exhausted": openAiError(
    "You exceeded your current quota, please check your plan and billing details. For more information on this " +
      "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "insufficient_quota",
    null,
    "insufficient_quota"
  ),
  "credit-exhausted": openAiError(
    "You have no credits remaining. Add credits to continue using the API at " +
      "https://platform.openai.com/settings/organization/billing/.",
    "insufficient_quota",
    null,
    "credit_balance_exhausted"
  ),
  unauthorized: openAiError(
    "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    null,
    "invalid_api_key"
  ),
  missingAzureKey: openAiError(
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an " +
      "active subscription and use a correct regional API endpoint for your resource.",
    "invalid_request_error",
    null,
    "401"
  ),
  missingKey: openAiError(
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
      "(i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    null,
    null
  ),
  moderation: openAiError(
    "Your request was rejected by the safety system. If you believe this is an error, contact us at " +
      "help.openai.com and include the request ID req_fault_server.",
    "image_generation_user_error",
    null,
    "moderation_blocked"
  ),
  "server-error": openAiError(
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
    null,
    null
  ),
  "gateway-timeout": openAiError("Gateway timeout. Please try again later.", "server_error", null, null)
} as const

const geminiErrorAnswer = (fault: Fault, model: string, version: string): Plain | undefined => {
  const retryInfo = fault.retryInfo === undefined ? "30s" : fault.retryInfo
  switch (fault.fault) {
    case "overloaded":
    case "bad-request":
    case "text-only":
    case "unauthorized":
    case "bad-key":
    case "forbidden":
    case "server-error":
    case "gateway-timeout":
      return gPlain(geminiErrors[fault.fault].error.code, geminiErrors[fault.fault])
    case "sse-error":
      return gPlain(500, geminiErrors["server-error"])
    case "rate-limited":
      return gPlain(
        429,
        googleError(429, "RESOURCE_EXHAUSTED", quotaMessage(model, 10, retryInfo), quotaDetails(model, 10, retryInfo))
      )
    case "quota-exhausted":
    case "credit-exhausted": {
      // a quota of 0 does not heal: RetryInfo only when explicitly asked for
      const explicit = fault.retryInfo ?? null
      return gPlain(
        429,
        googleError(429, "RESOURCE_EXHAUSTED", quotaMessage(model, 0, explicit), quotaDetails(model, 0, explicit))
      )
    }
    case "not-found":
      return gPlain(
        404,
        googleError(
          404,
          "NOT_FOUND",
          `models/${model} is not found for API version ${version}, or is not supported for generateContent. ` +
            "Call ListModels to see the list of available models and their supported methods."
        )
      )
    case "bad-gateway":
      return html(502, "Bad Gateway")
    case "html-503":
      return html(503, "Service Temporarily Unavailable")
    case "malformed-json":
      return { status: 200, contentType: googleJson, body: "{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [" }
    default:
      return undefined
  }
}

const openAiErrorAnswer = (fault: Fault, api: Api, model: string): Plain | undefined => {
  switch (fault.fault) {
    case "overloaded":
      return oPlain(503, openAiErrors.overloaded)
    case "rate-limited":
      return oPlain(
        429,
        openAiError(
          api === "openai-images"
            ? "Rate limit exceeded for images per minute in organization org-fault-server. Limit: 5/1min. Current: " +
              "6/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn how to increase your " +
              "rate limit."
            : `Rate limit reached for ${model} in organization org-fault-server on requests per min (RPM): Limit 3, ` +
              "Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits " +
              "to learn more.",
          "requests",
          null,
          "rate_limit_exceeded"
        )
      )
    case "quota-exhausted":
    case "credit-exhausted":
    case "unauthorized":
    case "server-error":
    case "gateway-timeout":
      return oPlain(
        fault.fault === "unauthorized" ? 401 : fault.fault === "server-error" ? 500 : fault.fault === "gateway-timeout"
          ? 504
          : 429,
        openAiErrors[fault.fault]
      )
    case "bad-key":
      return oPlain(401, openAiErrors.unauthorized)
    case "sse-error":
      return oPlain(500, openAiErrors["server-error"])
    case "moderation":
    case "prompt-blocked":
      return oPlain(400, openAiErrors.moderation)
    case "bad-request":
    case "text-only":
      return oPlain(
        400,
        api === "openai-images"
          ? openAiError(
            "Invalid value: '1254x836'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
            "invalid_request_error",
            "size",
            "invalid_value"
          )
          : openAiError(
            "Invalid value for 'messages': expected an array of at least one message.",
            "invalid_request_error",
            "messages",
            "invalid_value"
          )
      )
    case "forbidden":
      return oPlain(
        403,
        openAiError(
          `Your organization must be verified to use the model \`${model}\`. Please go to: ` +
            "https://platform.openai.com/settings/organization/general and click on Verify Organization.",
          "invalid_request_error",
          null,
          null
        )
      )
    case "not-found":
      return oPlain(
        404,
        openAiError(
          `The model \`${model}\` does not exist or you do not have access to it.`,
          "invalid_request_error",
          null,
          "model_not_found"
        )
      )
    case "bad-gateway":
      return html(502, "Bad Gateway")
    case "html-503":
      return html(503, "Service Temporarily Unavailable")
    case "malformed-json":
      return { status: 200, contentType: "application/json", body: "{\n  \"created\": 1763683200,\n  \"data\": [\n    {" }
    default:
      return undefined
  }
}

const usageMetadata = (image: boolean) => ({
  promptTokenCount: 10,
  candidatesTokenCount: image ? 1290 : 12,
  totalTokenCount: image ? 1300 : 22,
  promptTokensDetails: [{ modality: "TEXT", tokenCount: 10 }],
  candidatesTokensDetails: [{ modality: image ? "IMAGE" : "TEXT", tokenCount: image ? 1290 : 12 }]
})

const geminiSuccess = (model: string, image: boolean, parts: ReadonlyArray<unknown>, finish: boolean) => ({
  candidates: [{
    content: { role: "model", parts },
    ...(finish ? { finishReason: "STOP" } : {}),
    index: 0
  }],
  usageMetadata: usageMetadata(image),
  modelVersion: model,
  responseId: `fault-server-${Math.random().toString(36).slice(2, 10)}`
})

const imagePart = { inlineData: { mimeType: "image/png", data: pngBase64 }, thoughtSignature: "ZmF1bHQtc2VydmVy" }

const geminiNoImage = (model: string) => ({
  candidates: [{ finishReason: "IMAGE_SAFETY", index: 0 }],
  usageMetadata: usageMetadata(false),
  modelVersion: model
})

const promptBlocked = (model: string) => ({
  promptFeedback: { blockReason: "PROHIBITED_CONTENT" },
  usageMetadata: { promptTokenCount: 10, totalTokenCount: 10 },
  modelVersion: model
})

const wantsImage = (body: unknown, model: string): boolean => {
  const modalities = field(field(body, "generationConfig"), "responseModalities")
  return Array.isArray(modalities)
    ? modalities.some((m) => typeof m === "string" && m.toUpperCase() === "IMAGE")
    : model.includes("image")
}

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined

// ---------------------------------------------------------------------------
// Routing

type Route =
  | { readonly kind: "generate"; readonly api: "gemini" | "vertex"; readonly model: string; readonly version: string; readonly stream: boolean }
  | { readonly kind: "probe"; readonly api: "gemini" | "vertex"; readonly model: string; readonly version: string }
  | { readonly kind: "openai"; readonly api: "openai-images" | "openai-chat" }
  | { readonly kind: "azure"; readonly api: "openai-images" | "openai-chat"; readonly model: string }
  | { readonly kind: "openai-probe"; readonly model: string }

const geminiGenerate = /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/
const vertexGenerate =
  /^\/(v1|v1beta1)\/(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent)$/
const geminiProbe = /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+)$/
const azureGenerate = /^(?:\/[^/]+)*?\/openai\/deployments\/([^/]+)\/(images\/generations|chat\/completions)$/
const vertexProbe = /^\/(v1|v1beta1)\/(?:projects\/[^/]+\/locations\/[^/]+\/)?publishers\/google\/models\/([^/:]+)$/

const route = (method: string, url: URL, hasGoogleKey: boolean): Route | undefined => {
  const pathname = url.pathname
  if (method === "POST") {
    let m = geminiGenerate.exec(pathname)
    if (m) return { kind: "generate", api: "gemini", version: m[1]!, model: decodeURIComponent(m[2]!), stream: m[3] === "streamGenerateContent" }
    m = vertexGenerate.exec(pathname)
    if (m) return { kind: "generate", api: "vertex", version: m[1]!, model: decodeURIComponent(m[2]!), stream: m[3] === "streamGenerateContent" }
    if (pathname === "/v1/images/generations") return { kind: "openai", api: "openai-images" }
    if (pathname === "/v1/chat/completions") return { kind: "openai", api: "openai-chat" }
    m = azureGenerate.exec(pathname)
    if (m && (url.searchParams.get("api-version") ?? "") !== "") {
      return { kind: "azure", api: m[2] === "chat/completions" ? "openai-chat" : "openai-images", model: decodeURIComponent(m[1]!) }
    }
    return undefined
  }
  if (method === "GET") {
    let m = geminiProbe.exec(pathname)
    if (m) {
      const model = decodeURIComponent(m[2]!)
      return m[1] === "v1" && !hasGoogleKey
        ? { kind: "openai-probe", model }
        : { kind: "probe", api: "gemini", version: m[1]!, model }
    }
    m = vertexProbe.exec(pathname)
    if (m) return { kind: "probe", api: "vertex", version: m[1]!, model: decodeURIComponent(m[2]!) }
  }
  return undefined
}

const apiOf = (r: Route): Api => r.kind === "openai-probe" ? "openai-images" : r.api

const normalise = (fault: Fault | FaultName): Fault => typeof fault === "string" ? { fault } : fault

interface Script {
  readonly next: (request: DecisionRequest) => Fault
}

const scriptOf = (faults: ReadonlyArray<Fault>, after: "repeat-last" | "cycle"): Script => {
  let index = 0
  return {
    next: () => {
      if (faults.length === 0) return { fault: "ok" }
      const i = index < faults.length ? index : after === "cycle" ? index % faults.length : faults.length - 1
      index++
      return faults[i]!
    }
  }
}

// ---------------------------------------------------------------------------
// Server

/**
 * Starts a fault server on 127.0.0.1 (a free port by default). It stops, and
 * destroys its open connections, when the scope closes. Binding an occupied
 * port is a defect (the effect dies with the `EADDRINUSE` error).
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { FaultServer } from "@ballast/testing"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const server = yield* FaultServer.make()
 *   yield* server.script("gemini-3-pro-image-preview", ["overloaded", { fault: "rate-limited", retryInfo: "3s" }, "ok"])
 *   // point the SDK at server.url, then inspect yield* server.requests
 * }))
 */
export const make = (options: Options = {}): Effect.Effect<FaultServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scripts = new Map<string, Script>()
    const recorded: Array<RecordedRequest> = []
    const sockets = new Set<Socket>()
    const fallback = options.fallback ?? (() => "ok" as const)
    let requestCounter = 0

    const choose = (request: DecisionRequest): Fault => {
      const script = scripts.get(request.model)
      return script ? script.next(request) : normalise(fallback(request))
    }

    const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
      const at = Date.now()
      const path = req.url ?? "/"
      const url = new URL(path, "http://localhost")
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
      }
      const googleKey = headers["x-goog-api-key"]
      const r = route(req.method ?? "GET", url, googleKey !== undefined && googleKey !== "")
      const requestId = `req_${(++requestCounter).toString().padStart(6, "0")}`
      res.setHeader("x-request-id", requestId)
      if (r === undefined) {
        return sendPlain(res, oPlain(404, openAiError(`Unknown route: ${req.method} ${url.pathname}`, "invalid_request_error", null, "unknown_url")), {})
      }
      let body: unknown = raw
      try {
        if (raw !== "") body = JSON.parse(raw)
      } catch {
        body = raw
      }
      const api = apiOf(r)
      const model = r.kind === "openai"
        ? (typeof field(body, "model") === "string" ? field(body, "model") as string : "")
        : r.model
      const isGoogle = api === "gemini" || api === "vertex"
      const isAzure = r.kind === "azure"
      const authorized = isGoogle
        ? googleKey !== undefined && googleKey !== ""
        : isAzure
        ? (headers["api-key"] ?? "").trim() !== ""
        : /^Bearer\s+\S/i.test(headers["authorization"] ?? "")
      const fault: Fault = authorized ? choose({ api, model, at }) : { fault: isGoogle ? "forbidden" : "unauthorized" }
      const record: RecordedRequest = { at, api, method: req.method ?? "GET", path, model, headers, body, fault: fault.fault, aborted: false }
      recorded.push(record)

      let done = false
      let timer: ReturnType<typeof setTimeout> | undefined
      res.on("close", () => {
        if (timer !== undefined) clearTimeout(timer)
        if (!done && !res.writableFinished) record.aborted = true
      })
      const extra: Record<string, string> = {}
      if (fault.retryAfterSeconds !== undefined) extra["retry-after"] = String(fault.retryAfterSeconds)
      if (fault.retryAfterMs !== undefined) extra["retry-after-ms"] = String(fault.retryAfterMs)

      const answer = () => {
        timer = undefined
        if (res.destroyed) return
        if (!authorized) {
          return sendPlain(
            res,
            isGoogle
              ? gPlain(403, geminiErrors.missingKey)
              : oPlain(401, isAzure ? openAiErrors.missingAzureKey : openAiErrors.missingKey),
            extra
          )
        }
        switch (fault.fault) {
          case "hang":
            return
          case "reset":
            done = true
            return req.socket.destroy()
          case "sse-cut":
            // the server cuts the answer short: not a client abort
            done = true
        }
        switch (r.kind) {
          case "generate":
            return answerGemini(res, fault, r.model, r.version, r.stream, body, extra)
          case "probe":
            return answerGeminiProbe(res, fault, r.model, r.version, extra)
          case "openai":
          case "azure":
            return answerOpenAi(res, fault, r.api, model, body, extra)
          case "openai-probe":
            return answerOpenAiProbe(res, fault, r.model, extra)
        }
      }
      if (fault.latency !== undefined && fault.latency > 0) timer = setTimeout(answer, fault.latency)
      else answer()
    }

    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")))
      req.on("error", () => res.destroy())
    })
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        // a port already in use is a defect of the test set-up, not a fault to recover from
        server.once("error", (error) => resume(Effect.die(error)))
        server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          for (const socket of sockets) socket.destroy()
          server.closeAllConnections()
        })
    )
    const host = options.host ?? "127.0.0.1"
    const service: FaultServer = {
      url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
      port,
      script: (model, faults, scriptOptions) =>
        Effect.sync(() => {
          scripts.set(model, scriptOf(faults.map(normalise), scriptOptions?.after ?? "repeat-last"))
        }),
      decide: (model, decideFn) =>
        Effect.sync(() => {
          scripts.set(model, { next: (request) => normalise(decideFn(request)) })
        }),
      requests: Effect.sync(() => recorded.slice()),
      reset: Effect.sync(() => {
        scripts.clear()
        recorded.length = 0
      })
    }
    return service
  })

/**
 * The fault server as a Layer of `FaultServerTag`, stopped when the Layer is released.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<FaultServerTag> => Layer.scoped(FaultServerTag, make(options))

// ---------------------------------------------------------------------------
// Scenarios on the real clock

/**
 * The role a model plays in a plan, guessed from its API and name: Gemini
 * "pro" image models are the primary, other Gemini image models flash, GPT
 * image / DALL·E models openai, other image models OpenAI-compatible, chat and
 * Gemini text models text.
 *
 * @since 0.1.0
 */
export const roleOf = (api: Api, model: string): Role => {
  if (api === "openai-chat") return "text"
  if (api === "openai-images") return /^(gpt-image|dall-e|chatgpt-image)/.test(model) ? "openai" : "compatible"
  if (!model.includes("image")) return "text"
  return model.includes("pro") ? "primary" : "flash"
}

/**
 * Options of `fromScenario`.
 *
 * @since 0.1.0
 */
export interface ScenarioOptions {
  /** Multiplies the scenario's latencies (default 1: real latencies; 0 answers at once). */
  readonly latencyScale?: number
  /** A uniform draw in [0, 1) (default `Math.random`). */
  readonly random?: () => number
  /** Epoch milliseconds the scenario starts at (default: when `fromScenario` is called). */
  readonly start?: number
}

/**
 * Plays a named scenario on the real clock: a chooser for `make`'s `fallback`
 * (or `decide`) that fails each request with the scenario's probability for
 * the model's role at that moment (`Overloaded` → `"overloaded"`,
 * `RateLimited` → `"rate-limited"` with its retry-after, `ProviderUnavailable`
 * → `"server-error"`) and answers after a latency drawn from its range, as
 * `Scenario.fakeImage` does.
 *
 * @since 0.1.0
 */
export const fromScenario = (
  scenario: Scenario,
  options: ScenarioOptions = {}
): (request: DecisionRequest) => Fault => {
  const random = options.random ?? Math.random
  const scale = options.latencyScale ?? 1
  const start = options.start ?? Date.now()
  const recent = new Map<string, Array<number>>()
  return ({ api, at, model }) => {
    const times = (recent.get(model) ?? []).filter((t) => t > at - 60_000)
    times.push(at)
    recent.set(model, times)
    const role = roleOf(api, model)
    const conditions = scenario.conditions(role, {
      elapsed: at - start,
      now: at,
      resolution: role === "text" ? "description" : "2K",
      recentRequests: times.length
    })
    const min = Duration.toMillis(conditions.latency.min)
    const max = Duration.toMillis(conditions.latency.max)
    if (random() >= conditions.failureRate) {
      return { fault: "ok", latency: Math.round((min + random() * (max - min)) * scale) }
    }
    const latency = Math.round(random() * min * scale)
    switch (conditions.failure) {
      case "Overloaded":
        return { fault: "overloaded", latency }
      case "ProviderUnavailable":
        return { fault: "server-error", latency }
      case "RateLimited": {
        const seconds = conditions.retryAfter === undefined ? undefined : Duration.toSeconds(conditions.retryAfter)
        return seconds === undefined
          ? { fault: "rate-limited", latency }
          : { fault: "rate-limited", latency, retryAfterSeconds: Math.ceil(seconds), retryInfo: `${seconds}s` }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Answers

const withRetryHeaders = (res: ServerResponse, extra: Readonly<Record<string, string>>) => {
  for (const [name, value] of Object.entries(extra)) res.setHeader(name, value)
}

const sendPlain = (res: ServerResponse, plain: Plain, extra: Readonly<Record<string, string>>) => {
  withRetryHeaders(res, extra)
  res.writeHead(plain.status, { "content-type": plain.contentType, "content-length": Buffer.byteLength(plain.body) })
  res.end(plain.body)
}

/** Writes SSE frames; `cut` ends the stream in the middle of one more frame. */
const sendSse = (
  res: ServerResponse,
  frames: ReadonlyArray<string>,
  delimiter: string,
  ending: { readonly cut: boolean },
  extra: Readonly<Record<string, string>>
) => {
  withRetryHeaders(res, extra)
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  for (const frame of frames) res.write(frame + delimiter)
  if (ending.cut) res.end(frames[0]?.slice(0, Math.ceil(frames[0].length / 2)) ?? "data: {")
  else res.end()
}

/** A non-streaming body cut off mid-way: the declared length is never reached. */
const sendCut = (res: ServerResponse, contentType: string, body: string) => {
  const half = body.slice(0, Math.floor(body.length / 2))
  res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) })
  res.write(half, () => res.destroy())
}

const answerGemini = (
  res: ServerResponse,
  fault: Fault,
  model: string,
  version: string,
  stream: boolean,
  body: unknown,
  extra: Readonly<Record<string, string>>
) => {
  const image = wantsImage(body, model)
  const textPart = { text: image ? "Here is your image." : "Hello from the fault server." }
  const full = geminiSuccess(model, image, image ? [textPart, imagePart] : [textPart], true)
  const error = fault.fault === "sse-error" && stream ? undefined : geminiErrorAnswer(fault, model, version)
  if (error !== undefined) {
    // real alt=sse errors arrive with content-type text/event-stream (googleapis/js-genai#346)
    const sseError = stream && error.status >= 400 && error.contentType === googleJson
    return sendPlain(res, sseError ? { ...error, contentType: "text/event-stream" } : error, extra)
  }
  const frame = (value: unknown) => `data: ${JSON.stringify(value)}`
  const first = geminiSuccess(model, image, [textPart], false)
  const rest = geminiSuccess(model, image, image ? [imagePart] : [{ text: " Bye." }], true)
  const d = "\r\n\r\n"
  switch (fault.fault) {
    case "no-image":
      return stream ? sendSse(res, [frame(geminiNoImage(model))], d, { cut: false }, extra) : sendPlain(res, gPlain(200, geminiNoImage(model)), extra)
    case "prompt-blocked":
    case "moderation":
      return stream ? sendSse(res, [frame(promptBlocked(model))], d, { cut: false }, extra) : sendPlain(res, gPlain(200, promptBlocked(model)), extra)
    case "sse-error":
      return sendSse(res, [frame(first), frame(geminiErrors["server-error"])], d, { cut: false }, extra)
    case "sse-cut":
      return stream ? sendSse(res, [frame(first)], d, { cut: true }, extra) : sendCut(res, googleJson, pretty(full))
    default:
      return stream ? sendSse(res, [frame(first), frame(rest)], d, { cut: false }, extra) : sendPlain(res, gPlain(200, full), extra)
  }
}

const answerGeminiProbe = (res: ServerResponse, fault: Fault, model: string, version: string, extra: Readonly<Record<string, string>>) => {
  const error = geminiErrorAnswer(fault, model, version)
  if (error !== undefined) return sendPlain(res, error, extra)
  if (fault.fault === "sse-cut") return sendCut(res, googleJson, pretty(geminiModel(model, version)))
  return sendPlain(res, gPlain(200, geminiModel(model, version)), extra)
}

const geminiModel = (model: string, version: string) => ({
  name: `models/${model}`,
  version: version === "v1" ? "001" : "preview",
  displayName: model,
  description: `${model} (fault server)`,
  inputTokenLimit: 32768,
  outputTokenLimit: 32768,
  supportedGenerationMethods: ["generateContent", "countTokens"]
})

const answerOpenAiProbe = (res: ServerResponse, fault: Fault, model: string, extra: Readonly<Record<string, string>>) => {
  const error = openAiErrorAnswer(fault, "openai-images", model)
  if (error !== undefined && !(fault.fault === "moderation" || fault.fault === "prompt-blocked")) {
    return sendPlain(res, error, extra)
  }
  const info = { id: model, object: "model", created: 1_745_000_000, owned_by: "system" }
  if (fault.fault === "sse-cut") return sendCut(res, "application/json", pretty(info))
  return sendPlain(res, oPlain(200, info), extra)
}

const answerOpenAi = (
  res: ServerResponse,
  fault: Fault,
  api: "openai-images" | "openai-chat",
  model: string,
  body: unknown,
  extra: Readonly<Record<string, string>>
) => {
  const stream = field(body, "stream") === true
  const error = fault.fault === "sse-error" && stream ? undefined : openAiErrorAnswer(fault, api, model)
  if (error !== undefined) return sendPlain(res, error, extra)
  const created = Math.floor(Date.now() / 1000)
  const d = "\n\n"
  if (api === "openai-images") {
    const requested = field(body, "n")
    const n = typeof requested === "number" && Number.isInteger(requested) ? Math.min(Math.max(requested, 1), 10) : 1
    const usage = {
      input_tokens: 10,
      input_tokens_details: { image_tokens: 0, text_tokens: 10 },
      output_tokens: 272 * n,
      total_tokens: 10 + 272 * n
    }
    const images = fault.fault === "no-image" ? [] : Array.from({ length: n }, () => ({ b64_json: pngBase64 }))
    const full = { created, data: images, background: "opaque", output_format: "png", quality: "low", size: "1024x1024", usage }
    if (stream) {
      const common = { background: "opaque", created_at: created, output_format: "png", quality: "low", size: "1024x1024" }
      const partial = `event: image_generation.partial_image\ndata: ${
        JSON.stringify({ type: "image_generation.partial_image", b64_json: pngBase64, partial_image_index: 0, ...common })
      }`
      const completed = `event: image_generation.completed\ndata: ${
        JSON.stringify({ type: "image_generation.completed", b64_json: pngBase64, ...common, usage })
      }`
      switch (fault.fault) {
        case "sse-error":
          return sendSse(res, [partial, `event: error\ndata: ${JSON.stringify(openAiErrors["server-error"])}`], d, { cut: false }, extra)
        case "sse-cut":
          return sendSse(res, [partial], d, { cut: true }, extra)
        default:
          return sendSse(res, fault.fault === "no-image" ? [] : [partial, completed], d, { cut: false }, extra)
      }
    }
    return fault.fault === "sse-cut" ? sendCut(res, "application/json", pretty(full)) : sendPlain(res, oPlain(200, full), extra)
  }
  const id = `chatcmpl-fault${created}`
  const blocked = fault.fault === "no-image"
  const completion = {
    id,
    object: "chat.completion",
    created,
    model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: blocked ? null : "Hello from the fault server.", refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: blocked ? "content_filter" : "stop"
    }],
    usage: { prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 }
  }
  if (stream) {
    const chunkOf = (delta: unknown, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}`
    const first = chunkOf({ role: "assistant", content: "Hello", refusal: null }, null)
    switch (fault.fault) {
      case "sse-error":
        return sendSse(res, [first, `data: ${JSON.stringify(openAiErrors["server-error"])}`], d, { cut: false }, extra)
      case "sse-cut":
        return sendSse(res, [first], d, { cut: true }, extra)
      default:
        return sendSse(
          res,
          blocked
            ? [chunkOf({ role: "assistant", content: null }, "content_filter"), "data: [DONE]"]
            : [first, chunkOf({ content: " from the fault server." }, null), chunkOf({}, "stop"), "data: [DONE]"],
          d,
          { cut: false },
          extra
        )
    }
  }
  return fault.fault === "sse-cut" ? sendCut(res, "application/json", pretty(completion)) : sendPlain(res, oPlain(200, completion), extra)
}

/**
 * The server's record once `until` holds, polled every 10 ms of real time for
 * at most 5 s: for tests that wait until the server has seen (or lost) a request.
 *
 * @since 0.1.0
 */
export const waitFor = (
  server: FaultServer,
  until: (requests: ReadonlyArray<RecordedRequest>) => boolean
): Effect.Effect<ReadonlyArray<RecordedRequest>, Error> =>
  server.requests.pipe(
    Effect.filterOrFail(until, () => new Error("the fault server never saw that")),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 })
  )
