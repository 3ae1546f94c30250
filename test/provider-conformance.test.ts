/**
 * One conformance suite, written once as a function of a provider descriptor
 * and run through `it.layer` against every real provider Layer (Gemini image
 * and text on `@google/genai`, OpenAI image and text on `openai`), each
 * pointed at its own fault-injection server — once with the SDKs on the
 * global `fetch`, once on the gateway's pooled `Upstream` fetch, which must
 * not change a single outcome.
 *
 * The four provider suites run concurrently (each has its own server, so they
 * cannot interfere); the cases inside one provider run in order, with
 * `server.reset` before each.
 */
import { afterAll, beforeAll, describe, expect, layer, vi } from "@effect/vitest"
import {
  type GenerationError,
  ImageGenerator,
  ImageRequest,
  type ImageResult,
  TextGenerator,
  TextRequest,
  type TextResult
} from "@ballast/core"
import { GeminiClient, GeminiImageGenerator, GeminiTextGenerator } from "@ballast/google"
import { OpenAIClient, OpenAIImageGenerator, OpenAITextGenerator } from "@ballast/openai"
import { Upstream } from "@ballast/gateway"
import { FaultServer } from "@ballast/testing"
import {
  Cause,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted,
  type Scope
} from "effect"

const geminiKey = "test-key-AIzaSyD-secret"
const openAIKey = "sk-test-secret-1234"
// Short, so that the one `hang` case per provider ends quickly.
const clientTimeout = Duration.seconds(2)

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

type Delivered =
  | { readonly _tag: "Image"; readonly result: ImageResult }
  | { readonly _tag: "Text"; readonly result: TextResult }

interface Expected {
  readonly tag: GenerationError["_tag"]
  /** `null`: `retryAfter` must be `None`; a number: milliseconds; absent: not checked. */
  readonly retryAfter?: number | null
  readonly exhausted?: boolean
  readonly scope?: "request" | "route"
}

interface Case {
  readonly label: string
  readonly fault: FaultServer.Fault
  readonly expected: Expected
}

interface Provider<R> {
  readonly name: string
  /** The provider Layer (and the fault server it points at). */
  readonly layer: Layer.Layer<R | FaultServer.FaultServerTag>
  readonly model: string
  readonly secret: string
  /** The API the server records the generation under, and the path it is posted to. */
  readonly api: FaultServer.Api
  readonly path: string
  /** The path of the probe's GET. */
  readonly probePath: string
  readonly call: Effect.Effect<Delivered, GenerationError, R>
  readonly probe: Effect.Effect<void, GenerationError, R>
  /** What a success carries. */
  readonly success:
    | { readonly _tag: "Image"; readonly route: string; readonly resolution: string; readonly aspectRatio: string }
    | {
      readonly _tag: "Text"
      readonly route: string
      readonly text: string
      readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
    }
  readonly cases: ReadonlyArray<Case>
}

const c = (label: string, fault: FaultServer.Fault | FaultServer.FaultName, expected: Expected): Case => ({
  label,
  fault: typeof fault === "string" ? { fault } : fault,
  expected
})

// Faults every provider answers the same way.
const commonCases: ReadonlyArray<Case> = [
  c("overloaded", "overloaded", { tag: "Overloaded" }),
  c("quota-exhausted", "quota-exhausted", { tag: "RateLimited", exhausted: true, retryAfter: null }),
  c("credit-exhausted", "credit-exhausted", { tag: "RateLimited", exhausted: true, retryAfter: null }),
  c("unauthorized (401)", "unauthorized", { tag: "Unauthorized" }),
  c("forbidden (403)", "forbidden", { tag: "Unauthorized" }),
  c("bad-key", "bad-key", { tag: "Unauthorized" }),
  c("not-found", "not-found", { tag: "BadRequest", scope: "route" }),
  c("server-error (500)", "server-error", { tag: "ProviderUnavailable" }),
  c("bad-gateway (502 HTML)", "bad-gateway", { tag: "ProviderUnavailable" }),
  // A 503 whose body is not the provider's JSON (a proxy's HTML page) says nothing about the model.
  c("html-503", "html-503", { tag: "ProviderUnavailable" }),
  // 504 / DEADLINE_EXCEEDED: the provider's own deadline ran out.
  c("gateway-timeout (504)", "gateway-timeout", { tag: "Timeout" }),
  c("malformed-json", "malformed-json", { tag: "ProviderUnavailable" }),
  c("body cut mid-way", "sse-cut", { tag: "ProviderUnavailable" }),
  c("reset connection", "reset", { tag: "ProviderUnavailable" }),
  c("hang past the client timeout", "hang", { tag: "Timeout" })
]

const geminiCases: ReadonlyArray<Case> = [
  ...commonCases,
  c("rate-limited, RetryInfo 3.5s", { fault: "rate-limited", retryInfo: "3.5s" }, {
    tag: "RateLimited",
    retryAfter: 3500,
    exhausted: false
  }),
  c("rate-limited, default RetryInfo 30s", "rate-limited", { tag: "RateLimited", retryAfter: 30_000, exhausted: false }),
  c("rate-limited, no RetryInfo", { fault: "rate-limited", retryInfo: null }, {
    tag: "RateLimited",
    retryAfter: null,
    exhausted: false
  }),
  c("bad-request (image config)", "bad-request", { tag: "BadRequest", scope: "route" }),
  c("text-only model", "text-only", { tag: "BadRequest", scope: "route" }),
  c("no-image (IMAGE_SAFETY)", "no-image", { tag: "ContentRejected" }),
  c("prompt-blocked", "prompt-blocked", { tag: "ContentRejected" })
]

const openAICases = (kind: "images" | "chat"): ReadonlyArray<Case> => [
  ...commonCases,
  c("rate-limited, retry-after-ms 1500", { fault: "rate-limited", retryAfterMs: 1500 }, {
    tag: "RateLimited",
    retryAfter: 1500,
    exhausted: false
  }),
  c("rate-limited, retry-after 7 s", { fault: "rate-limited", retryAfterSeconds: 7 }, {
    tag: "RateLimited",
    retryAfter: 7000,
    exhausted: false
  }),
  c("rate-limited, retry-after-ms wins over retry-after", { fault: "rate-limited", retryAfterMs: 250, retryAfterSeconds: 7 }, {
    tag: "RateLimited",
    retryAfter: 250
  }),
  c("rate-limited, no header", "rate-limited", { tag: "RateLimited", retryAfter: null, exhausted: false }),
  // Images: an invalid `size` is about this model. Chat: invalid `messages` are the request's fault everywhere.
  c("bad-request", "bad-request", { tag: "BadRequest", scope: kind === "images" ? "route" : "request" }),
  c("moderation_blocked", "moderation", { tag: "ContentRejected" }),
  kind === "images"
    ? c("no-image (200 with empty data)", "no-image", { tag: "ProviderUnavailable" })
    : c("content_filter", "no-image", { tag: "ContentRejected" })
]

// ---------------------------------------------------------------------------
// Provider Layers, each on its own fault server

// How the SDKs send: the global `fetch`, or the gateway's `Upstream` pool (`undefined` is the SDK's default).
type Transport = { readonly name: string; readonly fetch: Effect.Effect<typeof globalThis.fetch | undefined, never, Scope.Scope> }

const transports: ReadonlyArray<Transport> = [
  { name: "global fetch", fetch: Effect.succeed(undefined) },
  { name: "Upstream.fetch", fetch: Effect.map(Upstream.make(), (upstream) => upstream.fetch) }
]

interface Endpoint {
  readonly url: string
  readonly fetch: typeof globalThis.fetch | undefined
}

const withServer = <R>(
  transport: Transport,
  build: (endpoint: Endpoint) => Layer.Layer<R>
): Layer.Layer<R | FaultServer.FaultServerTag> =>
  Layer.unwrapScoped(
    Effect.zipWith(FaultServer.FaultServerTag, transport.fetch, (server, fetch) => build({ url: server.url, fetch }))
  ).pipe(Layer.provideMerge(FaultServer.layer()))

const geminiClient = ({ fetch, url }: Endpoint) =>
  GeminiClient.layer({
    apiKey: Redacted.make(geminiKey),
    baseUrl: url,
    timeout: clientTimeout,
    ...(fetch !== undefined ? { fetch } : {})
  })

const openAIClient = ({ fetch, url }: Endpoint) =>
  OpenAIClient.layer({ apiKey: Redacted.make(openAIKey), baseUrl: `${url}/v1`, timeout: clientTimeout, fetch })

const imageCall = (request: ImageRequest): Effect.Effect<Delivered, GenerationError, ImageGenerator> =>
  Effect.flatMap(ImageGenerator, (images) => images.generate(request)).pipe(
    Effect.map((result) => ({ _tag: "Image" as const, result }))
  )
const textCall = (request: TextRequest): Effect.Effect<Delivered, GenerationError, TextGenerator> =>
  Effect.flatMap(TextGenerator, (text) => text.generate(request)).pipe(
    Effect.map((result) => ({ _tag: "Text" as const, result }))
  )
const imageProbe = Effect.flatMap(ImageGenerator, (images) => images.probe ?? Effect.dieMessage("no probe"))
const textProbe = Effect.flatMap(TextGenerator, (text) => text.probe ?? Effect.dieMessage("no probe"))

const imageRequest = ImageRequest.make({ prompt: "a watercolor fox", resolution: "2K", aspectRatio: "16:9" })
const textRequest = TextRequest.make({ messages: [{ role: "user", content: "Say hello." }] })

const geminiImageModel = "gemini-3-pro-image-preview"
const geminiTextModel = "gemini-2.5-flash"
const openAIImageModel = "gpt-image-2"
const openAITextModel = "gpt-4.1"

const geminiImage = (transport: Transport): Provider<ImageGenerator> => ({
  name: `Gemini image (${geminiImageModel}), ${transport.name}`,
  layer: withServer(transport, (endpoint) =>
    GeminiImageGenerator.layer({ model: geminiImageModel }).pipe(Layer.provide(geminiClient(endpoint)))),
  model: geminiImageModel,
  secret: geminiKey,
  api: "gemini",
  path: `/v1beta/models/${geminiImageModel}:generateContent`,
  probePath: `/v1beta/models/${geminiImageModel}`,
  call: imageCall(imageRequest),
  probe: imageProbe,
  success: { _tag: "Image", route: `google/${geminiImageModel}`, resolution: "2K", aspectRatio: "16:9" },
  cases: geminiCases
})

const geminiText = (transport: Transport): Provider<TextGenerator> => ({
  name: `Gemini text (${geminiTextModel}), ${transport.name}`,
  layer: withServer(transport, (endpoint) =>
    GeminiTextGenerator.layer({ model: geminiTextModel }).pipe(Layer.provide(geminiClient(endpoint)))),
  model: geminiTextModel,
  secret: geminiKey,
  api: "gemini",
  path: `/v1beta/models/${geminiTextModel}:generateContent`,
  probePath: `/v1beta/models/${geminiTextModel}`,
  call: textCall(textRequest),
  probe: textProbe,
  success: {
    _tag: "Text",
    route: `google/${geminiTextModel}`,
    text: "Hello from the fault server.",
    usage: { inputTokens: 10, outputTokens: 12 }
  },
  cases: geminiCases
})

const openAIImage = (transport: Transport): Provider<ImageGenerator> => ({
  name: `OpenAI image (${openAIImageModel}), ${transport.name}`,
  layer: withServer(transport, (endpoint) =>
    // UnsupportedModel cannot happen for a model of the capability table.
    OpenAIImageGenerator.layer({ model: openAIImageModel }).pipe(Layer.provide(openAIClient(endpoint)), Layer.orDie)),
  model: openAIImageModel,
  secret: openAIKey,
  api: "openai-images",
  path: "/v1/images/generations",
  probePath: `/v1/models/${openAIImageModel}`,
  call: imageCall(imageRequest),
  probe: imageProbe,
  success: { _tag: "Image", route: `openai/${openAIImageModel}`, resolution: "2K", aspectRatio: "16:9" },
  cases: openAICases("images")
})

const openAIText = (transport: Transport): Provider<TextGenerator> => ({
  name: `OpenAI text (${openAITextModel}), ${transport.name}`,
  layer: withServer(transport, (endpoint) =>
    OpenAITextGenerator.layer({ model: openAITextModel }).pipe(Layer.provide(openAIClient(endpoint)))),
  model: openAITextModel,
  secret: openAIKey,
  api: "openai-chat",
  path: "/v1/chat/completions",
  probePath: `/v1/models/${openAITextModel}`,
  call: textCall(textRequest),
  probe: textProbe,
  success: {
    _tag: "Text",
    route: `openai/${openAITextModel}`,
    text: "Hello from the fault server.",
    usage: { inputTokens: 10, outputTokens: 6 }
  },
  cases: openAICases("chat")
})

// ---------------------------------------------------------------------------
// The suite

/** Runs an effect while collecting every log line it writes (at every level). */
const capturingLogs = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const lines: Array<string> = []
    const logger = Logger.make(({ cause, message }) => {
      lines.push(`${Array.isArray(message) ? message.map(String).join(" ") : String(message)} ${Cause.pretty(cause)}`)
    })
    return self.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.exit,
      Effect.map((exit) => ({ exit, logs: lines }))
    )
  })

/** Polls until `check` holds: every 5 ms, at most 400 times (the test fails if it never does). */
const eventually = <A>(read: Effect.Effect<A>, check: (a: A) => boolean, polls = 400): Effect.Effect<A> => {
  const loop = (left: number): Effect.Effect<A> =>
    Effect.flatMap(read, (a) =>
      check(a)
        ? Effect.succeed(a)
        : left <= 0
        ? Effect.dieMessage("condition never held")
        : Effect.zipRight(Effect.sleep("5 millis"), loop(left - 1)))
  return loop(polls)
}

const expectNoSecret = (secret: string, error: unknown, logs: ReadonlyArray<string>) => {
  const texts = [
    String(error),
    JSON.stringify(error),
    error instanceof Error ? error.message : "",
    error instanceof Error ? error.stack ?? "" : "",
    ...logs
  ]
  for (const text of texts) expect(text).not.toContain(secret)
}

const conformance = <R>(provider: Provider<R>) =>
  layer(provider.layer, { excludeTestServices: true })(provider.name, (it) => {
    // Cases of one provider share its server: run them in order.
    const sequential = { concurrent: false } as const
    const fresh = Effect.flatMap(FaultServer.FaultServerTag, (server) => Effect.as(server.reset, server))

    it.effect("success: decoded bytes / text with provenance, one request", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        const delivered = yield* provider.call
        const expected = provider.success
        if (delivered._tag === "Image" && expected._tag === "Image") {
          const result = delivered.result
          expect(result.images).toHaveLength(1)
          const image = result.images[0]!
          expect(image.mimeType).toBe("image/png")
          expect(Array.from(image.data.subarray(0, 8))).toEqual(pngSignature)
          expect(Buffer.from(image.data).equals(FaultServer.makePng())).toBe(true)
          expect(result).toMatchObject({
            route: expected.route,
            model: provider.model,
            resolution: expected.resolution,
            aspectRatio: expected.aspectRatio,
            requestedResolution: "2K",
            degraded: false
          })
        } else if (delivered._tag === "Text" && expected._tag === "Text") {
          expect(delivered.result).toMatchObject({ text: expected.text, route: expected.route, model: provider.model })
          // The tokens the provider counted, as it reported them.
          expect(delivered.result.usage).toStrictEqual(expected.usage)
        } else {
          expect.fail(`expected a ${expected._tag} result, got ${delivered._tag}`)
        }
        const requests = yield* server.requests
        expect(requests.map((r) => [r.api, r.method, r.path, r.model, r.fault, r.aborted])).toEqual([
          [provider.api, "POST", provider.path, provider.model, "ok", false]
        ])
      }), sequential)

    for (const { expected, fault, label } of provider.cases) {
      it.effect(`${label} → ${expected.tag}`, () =>
        Effect.gen(function*() {
          const server = yield* fresh
          yield* server.script(provider.model, [fault])
          const { exit, logs } = yield* capturingLogs(provider.call)
          if (!Exit.isFailure(exit)) return expect.fail(`expected ${expected.tag}, the call succeeded`)
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) return expect.fail(`expected ${expected.tag}, got ${Cause.pretty(exit.cause)}`)
          const error = failure.value
          expect(error._tag).toBe(expected.tag)
          expect(error).toMatchObject({ provider: provider.api === "gemini" ? "google" : "openai", model: provider.model })
          if (error._tag === "RateLimited") {
            if (expected.retryAfter === null) expect(Option.isNone(error.retryAfter)).toBe(true)
            else if (expected.retryAfter !== undefined) {
              expect(Option.map(error.retryAfter, Duration.toMillis)).toEqual(Option.some(expected.retryAfter))
            }
            if (expected.exhausted !== undefined) expect(error.exhausted).toBe(expected.exhausted)
          }
          if (error._tag === "BadRequest" && expected.scope !== undefined) expect(error.scope).toBe(expected.scope)
          // The secret never leaks: not in the message, the JSON form, the stack or any log line.
          expectNoSecret(provider.secret, error, [...logs, Cause.pretty(exit.cause)])
          // Exactly one request per call: the SDK's own retries are off.
          const requests = yield* server.requests
          expect(requests.map((r) => [r.method, r.path, r.fault])).toEqual([["POST", provider.path, fault.fault]])
          if (fault.fault === "hang") {
            // The client gave up at its timeout and closed the connection.
            yield* eventually(server.requests, (rs) => rs[0]?.aborted === true)
          }
        }), sequential)
    }

    it.effect("an interrupted call aborts its HTTP request", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        yield* server.script(provider.model, ["hang"])
        const fiber = yield* Effect.fork(provider.call)
        yield* eventually(server.requests, (rs) => rs.length === 1)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        // Seen within about half a second, far inside the 2 s client timeout: it is the interruption that
        // aborted the request, not the SDK giving up on its own.
        const [request] = yield* eventually(server.requests, (rs) => rs[0]?.aborted === true, 100)
        expect(request).toMatchObject({ path: provider.path, fault: "hang", aborted: true })
        expect(yield* server.requests).toHaveLength(1)
      }), sequential)

    it.effect("probe: one metadata GET, no generation; its failures are typed too", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        yield* provider.probe
        yield* server.script(provider.model, ["overloaded"])
        const failed = yield* Effect.flip(provider.probe)
        expect(failed._tag).toBe("Overloaded")
        expectNoSecret(provider.secret, failed, [])
        const requests = yield* server.requests
        expect(requests.map((r) => [r.method, r.path, r.fault])).toEqual([
          ["GET", provider.probePath, "ok"],
          ["GET", provider.probePath, "overloaded"]
        ])
      }), sequential)

    it.effect("the server saw the key, and only in its auth header", () =>
      Effect.gen(function*() {
        const server = yield* fresh
        yield* provider.call
        const [request] = yield* server.requests
        const auth = provider.api === "gemini" ? request!.headers["x-goog-api-key"] : request!.headers["authorization"]
        expect(auth).toBe(provider.api === "gemini" ? provider.secret : `Bearer ${provider.secret}`)
        expect(JSON.stringify(request!.body)).not.toContain(provider.secret)
        expect(request!.path).not.toContain(provider.secret)
      }), sequential)
  })

// The providers' suites run side by side, on each transport; each has its own server.
describe.concurrent("provider conformance against the fault server", () => {
  // Whatever the SDKs or Effect's logger print goes through the console: no secret may appear there either.
  const printed: Array<string> = []
  beforeAll(() => {
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      const original = console[method].bind(console)
      vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        printed.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" "))
        original(...args)
      })
    }
  })
  afterAll(() => {
    vi.restoreAllMocks()
    for (const line of printed) {
      expect(line).not.toContain(geminiKey)
      expect(line).not.toContain(openAIKey)
    }
  })

  for (const transport of transports) {
    conformance(geminiImage(transport))
    conformance(geminiText(transport))
    conformance(openAIImage(transport))
    conformance(openAIText(transport))
  }
})

// The fault server's 401 echoes "Incorrect API key provided: sk-test.": with that very key, the body carries
// the secret, so this is where scrubbing (not just the absence of an echo) is exercised.
describe("a key echoed by the provider is scrubbed", () => {
  layer(FaultServer.layer(), { excludeTestServices: true })((it) => {
    it.effect("OpenAI 401 echoing the key", () =>
      Effect.gen(function*() {
        const server = yield* FaultServer.FaultServerTag
        yield* server.script(openAIImageModel, ["unauthorized"])
        const images = yield* Effect.provide(
          ImageGenerator,
          OpenAIImageGenerator.layer({ model: openAIImageModel }).pipe(
            Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make("sk-test"), baseUrl: `${server.url}/v1` })),
            Layer.orDie
          )
        )
        const error = yield* Effect.flip(images.generate(imageRequest))
        expect(error._tag).toBe("Unauthorized")
        expect(error.message).toContain("Incorrect API key provided")
        expectNoSecret("sk-test", error, [])
      }))
  })
})
