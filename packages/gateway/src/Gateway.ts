/**
 * The gateway: an HTTP server that speaks the OpenAI Images, OpenAI chat
 * completions and Gemini `generateContent` wire formats in front of one
 * resilient pipeline per public model — an image `Pipeline` or a text
 * pipeline (`kind: text`, `Pipeline.makeText`) — so an unchanged official SDK
 * gains retries, breakers and fallbacks by changing its base URL.
 *
 * Endpoints:
 * - `POST /v1/images/generations` (OpenAI, image models),
 *   `POST /v1/chat/completions` (OpenAI, text models, non-streaming) and
 *   `POST /{v1beta|v1}/models/{model}:generateContent` (Gemini, either kind),
 *   authenticated with a virtual key (`Authorization: Bearer …`,
 *   `x-goog-api-key` or `?key=`). A model of the other kind is a 400 naming
 *   `model`.
 * - The gateway's own endpoints, an `HttpApi` (`GatewayApi`, described at
 *   `GET /openapi.json`): `GET /health`, `GET /ready`, `GET /v1/routes`,
 *   `GET /metrics` (`Metrics.prometheus`; the gateway adds its overhead to
 *   `ballast_gateway_overhead_seconds`), `GET /dashboard` (live per-route
 *   charts, `Dashboard`, fed by a `Timeline` sampled every 2 s) — these need no
 *   key: they carry no secret and are what probes, scrapers and operators call —
 *   and the batch queue at `/v1/batches` (a virtual key as a bearer token), when
 *   the configuration has a `batch` section.
 *
 * Why the generation endpoints are plain routes and explicit `Schema` decoding
 * beside the `HttpApi` rather than in it: they must answer in the providers' own error shapes
 * (`{"error":{message,type,param,code}}` for OpenAI, `{"error":{code,message,status}}`
 * for Gemini, a `200` with `promptFeedback` for a Gemini safety block) with
 * messages that name the offending field in each API's words, must read the
 * Gemini model from a `{model}:generateContent` path segment, and must check
 * the body size before decoding; `HttpApi` encodes its own error schema and
 * path grammar. Both share one `HttpLayerRouter`, so there is one server, one
 * middleware and one shutdown.
 *
 * Provider SDKs send through one `Upstream` connection pool.
 *
 * Each successful generation carries `x-ballast-route`,
 * `x-ballast-attempts`, `x-ballast-degraded`, `x-ballast-model`,
 * `x-ballast-overhead-ms` and, for images, `x-ballast-resolution`. The overhead
 * is the request's total time in the gateway minus what the pipeline reports
 * it spent inside provider calls and waiting between them (backoff, a route's
 * limits: `providerLatency` and `waited` of the result); hedged calls that
 * overlap are both counted, so the overhead is then a lower bound.
 *
 * @since 0.1.0
 */
// Module imports, not the package barrel: the barrel loads every platform module, Swagger and Scalar UI assets included.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import {
  CircuitBreaker,
  GeneratedImage,
  type GenerationError,
  ImageGenerator,
  ImageRequest,
  type ImageResult,
  Metrics,
  Pipeline,
  PipelineConfig,
  Prompt,
  TextGenerator,
  type TextRequest,
  type TextResult
} from "@ballast/core"
import { BatchPipeline } from "@ballast/batch"
import { GeminiClient, GeminiImageGenerator, GeminiTextGenerator } from "@ballast/google"
import { OpenAIClient, OpenAIImageGenerator, OpenAITextGenerator } from "@ballast/openai"
import {
  Cause,
  Clock,
  Config,
  Context,
  DefaultServices,
  Duration,
  Effect,
  Either,
  Layer,
  Metric,
  Option,
  type ParseResult,
  Schedule,
  Schema,
  type Scope,
  Tracer
} from "effect"
import * as Http from "node:http"
import * as GatewayApi from "./GatewayApi.js"
import * as Dashboard from "./Dashboard.js"
import * as Batches from "./internal/batches.js"
import * as GatewayConfig from "./GatewayConfig.js"
import { parseIssues } from "./internal/issues.js"
import * as Text from "./internal/text.js"
import * as Timeline from "./Timeline.js"
import * as Upstream from "./Upstream.js"
import * as Wire from "./internal/wire.js"
import * as Sizing from "./Sizing.js"
import * as VirtualKeys from "./VirtualKeys.js"

/**
 * A running gateway.
 *
 * @since 0.1.0
 */
export class Gateway extends Context.Tag("@ballast/gateway/Gateway")<Gateway, Gateway.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Gateway {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** `http://<host>:<port>`, with the port actually bound (useful with port 0). */
    readonly url: string
    readonly host: string
    readonly port: number
    /** The pipeline of every public model, by its configured name, tagged with its kind. */
    readonly models: ReadonlyMap<string, Model>
    /** Requests being handled right now. */
    readonly inFlight: Effect.Effect<number>
  }

  /**
   * A public model: an image pipeline (served by `/v1/images/generations`
   * and Gemini `generateContent`) or a text pipeline (served by
   * `/v1/chat/completions` and Gemini `generateContent`).
   *
   * @since 0.1.0
   */
  export type Model =
    | { readonly kind: "image"; readonly pipeline: Pipeline.Pipeline.Service }
    | { readonly kind: "text"; readonly pipeline: Pipeline.TextPipeline }

  /**
   * Overrides of the configuration's `server` section (e.g. a CLI `--port`),
   * and routes to serve beside the gateway's own.
   *
   * @since 0.1.0
   */
  export interface Options {
    readonly host?: string | undefined
    readonly port?: number | undefined
    /**
     * More routes on the same server, for its `HttpLayerRouter` (e.g.
     * `HttpLayerRouter.add("GET", "/hello", handler)`, or another `HttpApi`
     * with `HttpLayerRouter.addHttpApi`); they need no virtual key. Their
     * failures are answered like the gateway's own (a JSON 500, logged).
     */
    readonly extraRoutes?: Layer.Layer<never, never, HttpLayerRouter.HttpRouter> | undefined
  }
}

/**
 * The gateway could not start: a provider key missing from the environment, a
 * pipeline or provider that would not build, or a port that could not be
 * bound. The message never contains a key.
 *
 * @since 0.1.0
 */
export class GatewayError extends Schema.TaggedError<GatewayError>("@ballast/gateway/GatewayError")("GatewayError", {
  message: Schema.String
}) {}

/**
 * The header that lets an OpenAI Images caller accept a text description
 * (in `data[0].revised_prompt`, with no image) when every image route failed.
 * Without it such a request answers 503.
 *
 * @since 0.1.0
 */
export const allowDescriptionHeader = "x-ballast-allow-description"

// ---------------------------------------------------------------------------
// Building the pipelines

type Client =
  | { readonly _tag: "google"; readonly layer: Layer.Layer<GeminiClient> }
  | { readonly _tag: "openai"; readonly layer: Layer.Layer<OpenAIClient>; readonly compatible: boolean }

const clientOf = (
  name: string,
  settings: GatewayConfig.ProviderSettings,
  fetch: typeof globalThis.fetch
): Effect.Effect<Client, GatewayError> =>
  Effect.gen(function*() {
    const apiKey = yield* Config.redacted(settings.apiKeyEnv).pipe(
      Effect.mapError(() =>
        new GatewayError({ message: `provider "${name}": the environment variable ${settings.apiKeyEnv} (its API key) is not set` })
      )
    )
    if (settings.kind === "google") {
      const client = yield* GeminiClient.make({
        apiKey,
        ...(settings.baseUrl !== undefined ? { baseUrl: settings.baseUrl } : {}),
        ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
        fetch
      })
      return { _tag: "google", layer: Layer.succeed(GeminiClient, client) }
    }
    const client = yield* OpenAIClient.make({
      apiKey,
      baseUrl: settings.baseUrl,
      timeout: settings.timeout,
      provider: name,
      fetch
    })
    return { _tag: "openai", layer: Layer.succeed(OpenAIClient, client), compatible: settings.kind === "openai-compatible" }
  })

const textLayer = (client: Client, model: string, route: string) =>
  client._tag === "google"
    ? GeminiTextGenerator.layer({ model, route }).pipe(Layer.provide(client.layer))
    : OpenAITextGenerator.layer({ model, route }).pipe(Layer.provide(client.layer))

const buildFailed = (name: string) => (error: unknown) =>
  new GatewayError({
    message: `model "${name}": ${
      error !== null && typeof error === "object" && "message" in error ? String(error.message) : String(error)
    }`
  })

const buildPipeline = (
  name: string,
  pipeline: PipelineConfig.PipelineConfig,
  clients: ReadonlyMap<string, Client>
): Effect.Effect<Gateway.Model, GatewayError, Scope.Scope> => {
  if (pipeline.kind === "text") {
    // `Pipeline.layerText`'s steps, kept here so the gateway holds the `TextPipeline` (breakers, router, health)
    // that `/v1/routes` and `/ready` report, not only its `TextGenerator` face.
    return Effect.gen(function*() {
      const text: Record<string, TextGenerator.Service> = {}
      for (const entry of pipeline.plan) {
        if (entry._tag !== "ImageStep" || text[entry.route] !== undefined) continue
        const route = pipeline.routes[entry.route]!
        const built = yield* Layer.build(textLayer(clients.get(route.provider)!, route.model, entry.route))
        text[entry.route] = Context.get(built, TextGenerator)
      }
      return { kind: "text" as const, pipeline: yield* Pipeline.makeText(pipeline, { text }) }
    }).pipe(Effect.mapError(buildFailed(name)))
  }
  const image: Record<string, Layer.Layer<ImageGenerator, unknown>> = {}
  const text: Record<string, Layer.Layer<TextGenerator, unknown>> = {}
  for (const entry of pipeline.plan) {
    const routeName = entry._tag === "ImageStep" ? entry.route : entry.describe
    const route = pipeline.routes[routeName]!
    const client = clients.get(route.provider)!
    if (entry._tag === "ImageStep") {
      image[routeName] = client._tag === "google"
        ? GeminiImageGenerator.layer({ model: route.model, route: routeName }).pipe(Layer.provide(client.layer))
        : OpenAIImageGenerator.layer({
          model: route.model,
          route: routeName,
          capabilities: PipelineConfig.capabilitiesOf(pipeline, routeName),
          ...(client.compatible ? { responseFormat: "b64_json" as const } : {})
        }).pipe(Layer.provide(client.layer))
    } else {
      text[routeName] = textLayer(client, route.model, routeName)
    }
  }
  return Layer.build(Pipeline.layer(pipeline, { image, text })).pipe(
    Effect.map((context) => ({ kind: "image" as const, pipeline: Context.get(context, Pipeline.Pipeline) })),
    Effect.mapError(buildFailed(name))
  )
}

// ---------------------------------------------------------------------------
// Requests

type Served = Gateway.Model & { readonly name: string }

const bearer = /^Bearer\s+(.+)$/i

const presentedKey = (request: HttpServerRequest.HttpServerRequest): Option.Option<string> => {
  const authorization = request.headers["authorization"]
  const fromBearer = authorization === undefined ? undefined : bearer.exec(authorization)?.[1]?.trim()
  if (fromBearer !== undefined) return Option.some(fromBearer)
  const google = request.headers["x-goog-api-key"]
  if (google !== undefined) return Option.some(google)
  const query = new URL(request.url, "http://gateway").searchParams.get("key")
  return Option.fromNullable(query)
}

// Reads the body from the Node request directly: past the limit the rest is read and discarded, so that the
// client, still sending, gets its 413 rather than a reset connection (platform's reader destroys the socket).
const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<string, Wire.Problem> =>
  Effect.async<string, Wire.Problem>((resume) => {
    const raw = NodeHttpServerRequest.toIncomingMessage(request)
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
      else chunks.length = 0
    }
    const onEnd = () =>
      resume(size > limit ? Effect.fail(Wire.tooLarge(limit)) : Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    const onError = () => resume(Effect.fail(Wire.badRequest("The request body could not be read.", null, null)))
    raw.on("data", onData)
    raw.once("end", onEnd)
    raw.once("error", onError)
    return Effect.sync(() => {
      raw.off("data", onData)
      raw.off("end", onEnd)
      raw.off("error", onError)
    })
  })

const readJson = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<unknown, Wire.Problem> => {
  const declared = Number(request.headers["content-length"] ?? Number.NaN)
  // A declared length over the limit is refused before a byte is read (Node closes the connection after).
  if (Number.isFinite(declared) && declared > limit) return Effect.fail(Wire.tooLarge(limit))
  return Effect.flatMap(readBody(request, limit), (text) => {
    if (text.trim() === "") return Effect.fail(Wire.badRequest("The request body is empty; expected a JSON object.", null, "invalid_json"))
    try {
      return Effect.succeed(JSON.parse(text) as unknown)
    } catch (error) {
      return Effect.fail(
        Wire.badRequest(
          `We could not parse the JSON body of your request. (${error instanceof Error ? error.message : String(error)})`,
          null,
          "invalid_json"
        )
      )
    }
  })
}

const describeIssue = (error: ParseResult.ParseError) => {
  const issue = parseIssues(error)[0]
  return { path: issue?.path ?? "", message: issue?.message ?? "is invalid", missing: issue?.missing ?? false }
}

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const OpenAIImageBody = Schema.Struct({
  model: Schema.String,
  prompt: Prompt,
  n: optional(Schema.Int.pipe(Schema.between(1, 10, { message: () => "must be an integer from 1 to 10" }))),
  size: optional(Schema.String),
  quality: optional(Schema.String),
  response_format: optional(Schema.Literal("b64_json", "url")),
  output_format: optional(Schema.Literal("png", "jpeg", "webp")),
  stream: optional(Schema.Boolean)
})

const decodeOpenAIImageBody = Schema.decodeUnknownEither(OpenAIImageBody)

const TextPart = Schema.Struct({
  text: Schema.optional(Schema.String),
  inlineData: Schema.optional(Schema.Struct({ mimeType: Schema.String, data: Schema.String }))
})

const GeminiBody = Schema.Struct({
  contents: Schema.Array(Schema.Struct({ role: Schema.optional(Schema.String), parts: Schema.Array(TextPart) })),
  generationConfig: Schema.optional(Schema.Struct({
    responseModalities: Schema.optional(Schema.Array(Schema.String)),
    imageConfig: Schema.optional(Schema.Struct({
      aspectRatio: Schema.optional(Schema.String),
      imageSize: Schema.optional(Schema.String)
    }))
  }))
})

const decodeGeminiBody = Schema.decodeUnknownEither(GeminiBody)

const headersOf = (result: ImageResult | TextResult, overheadMs: number): Record<string, string> => ({
  "x-ballast-route": result.route,
  "x-ballast-model": result.model,
  "x-ballast-attempts": String(result.attempts),
  "x-ballast-degraded": String(result.degraded),
  ...("resolution" in result ? { "x-ballast-resolution": result.resolution } : {}),
  "x-ballast-overhead-ms": overheadMs.toFixed(3)
})

const formats: Readonly<Record<string, string>> = { "image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp" }

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

// ---------------------------------------------------------------------------
// The server

const isRouteNotFound = (u: unknown) => typeof u === "object" && u !== null && "_tag" in u && u._tag === "RouteNotFound"

/**
 * Builds every model of a configuration without serving it: one provider
 * client per `providers` entry (its API key read from the environment
 * variable the entry names), all of them sending through one `Upstream`
 * connection pool, and one pipeline per public model, by its configured name.
 * The pipelines live — their health probes run — until the scope closes.
 * `make` serves what this builds; the CLI runs it in-process.
 *
 * Fails with a `GatewayError` naming the variable when a provider's key is not
 * set (never the key itself), or naming the model whose pipeline would not build.
 *
 * @since 0.1.0
 */
export const buildModels = (
  config: GatewayConfig.GatewayConfig
): Effect.Effect<ReadonlyMap<string, Gateway.Model>, GatewayError, Scope.Scope> =>
  Effect.map(build(config), ({ models }) => models)

// The provider clients (one `Upstream` pool for all) and every model's pipeline.
const build = (config: GatewayConfig.GatewayConfig) =>
  Effect.gen(function*() {
    const { fetch } = yield* Upstream.make()
    const clients = new Map<string, Client>()
    for (const [name, settings] of Object.entries(config.providers)) clients.set(name, yield* clientOf(name, settings, fetch))
    const models = new Map<string, Gateway.Model>()
    for (const [name, settings] of Object.entries(config.models)) {
      models.set(name, yield* buildPipeline(name, settings.pipeline, clients))
    }
    return { clients, models: models as ReadonlyMap<string, Gateway.Model> }
  })

/**
 * Builds every model's pipeline, binds the server and serves until the
 * scope closes. Closing the scope stops accepting connections, lets in-flight
 * requests finish for up to `server.shutdownTimeout`, then closes every
 * connection (interrupting what is left, which aborts its provider calls).
 *
 * @since 0.1.0
 */
export const make = (
  config: GatewayConfig.GatewayConfig,
  options: Gateway.Options = {}
): Effect.Effect<Gateway.Service, GatewayError, Scope.Scope> =>
  Effect.gen(function*() {
    const { clients, models } = yield* build(config)
    const served = new Map<string, Served>()
    for (const [name, settings] of Object.entries(config.models)) {
      const model = models.get(name)!
      served.set(name, { ...model, name })
      for (const alias of settings.aliases) served.set(alias, { ...model, name })
    }
    const modelNames = Object.keys(config.models)
    const keys = VirtualKeys.make(config.keys)
    const limit = config.server.bodyLimit
    let inFlight = 0

    const authenticate = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.flatMap(keys.check(presentedKey(request)), (verdict): Effect.Effect<string, Wire.Problem> => {
        switch (verdict._tag) {
          case "Missing":
            return Effect.fail(Wire.unauthorized(
              "You didn't provide an API key. Send your Ballast virtual key as 'Authorization: Bearer <key>' or 'x-goog-api-key'."
            ))
          case "Invalid":
            return Effect.fail(Wire.unauthorized("Incorrect API key provided: it is not a virtual key of this gateway."))
          case "Limited":
            return Effect.fail(Wire.rateLimited(
              `Rate limit reached for virtual key "${verdict.key}". Please try again in ${(verdict.retryAfterMs / 1000).toFixed(1)}s.`,
              verdict.retryAfterMs
            ))
          case "Allowed":
            return Effect.succeed(verdict.key)
        }
      })

    // Runs a generation, its model and wire on the request's span; the overhead is what the gateway added:
    // the time since the request arrived less what the pipeline spent in provider calls and waiting.
    const measured = <A extends ImageResult | TextResult>(
      model: Served,
      wire: "openai" | "gemini",
      generation: Effect.Effect<A, GenerationError>,
      attributes: Record<string, string>,
      started: bigint
    ) =>
      Effect.annotateCurrentSpan({ "ballast.model": model.name, "ballast.wire": wire, ...attributes }).pipe(
        Effect.zipRight(generation),
        Effect.mapError(Wire.problemOf),
        Effect.flatMap((result) =>
          Effect.flatMap(Clock.currentTimeNanos, (now) => {
            const pipelineMs = Duration.toMillis(result.providerLatency) + Duration.toMillis(result.waited)
            const overheadMs = Math.max(0, Number(now - started) / 1e6 - pipelineMs)
            return Effect.as(Metric.update(Metrics.gatewayOverhead, overheadMs / 1000), { result, overheadMs })
          })
        )
      )

    const generate = (model: Served & { readonly kind: "image" }, wire: "openai" | "gemini", request: ImageRequest, started: bigint) =>
      measured(model, wire, model.pipeline.generate(request), { "ballast.resolution": request.resolution }, started)

    const generateText = (model: Served & { readonly kind: "text" }, wire: "openai" | "gemini", request: TextRequest, started: bigint) =>
      measured(model, wire, model.pipeline.generate(request), { "ballast.kind": "text" }, started)

    const otherKind = (name: string, kind: "image" | "text", endpoint: string) =>
      Wire.badRequest(
        `The model \`${name}\` is ${kind === "image" ? "an image" : "a text"} model; use ${endpoint} for it.`,
        "model",
        "model_not_supported"
      )

    const openAIImages = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = yield* Clock.currentTimeNanos
      yield* authenticate(request)
      const json = yield* readJson(request, limit)
      const body = yield* Either.match(decodeOpenAIImageBody(json), {
        onLeft: (error) => {
          const issue = describeIssue(error)
          return Effect.fail(
            issue.missing
              ? Wire.badRequest(`Missing required parameter: '${issue.path}'.`, issue.path, "missing_required_parameter")
              : issue.path === ""
              ? Wire.badRequest(`Invalid request body: expected a JSON object. ${issue.message}`, null, "invalid_type")
              : Wire.badRequest(`Invalid value for '${issue.path}': ${issue.message}`, issue.path, "invalid_value")
          )
        },
        onRight: Effect.succeed
      })
      if (body.stream === true) {
        return yield* Effect.fail(Wire.badRequest("Streaming is not supported by this gateway.", "stream", "unsupported_value"))
      }
      if (body.response_format === "url") {
        return yield* Effect.fail(
          Wire.badRequest("Only response_format 'b64_json' is supported by this gateway.", "response_format", "unsupported_value")
        )
      }
      const model = served.get(body.model)
      if (model === undefined) return yield* Effect.fail(Wire.modelNotFound(body.model, modelNames))
      if (model.kind !== "image") return yield* Effect.fail(otherKind(body.model, "text", "/v1/chat/completions"))
      const shape = yield* Either.match(Sizing.fromOpenAI({ size: body.size ?? undefined, quality: body.quality ?? undefined }), {
        onLeft: ({ message, param }) => Effect.fail(Wire.badRequest(message, param)),
        onRight: Effect.succeed
      })
      const { overheadMs, result } = yield* generate(
        model,
        "openai",
        // Every field was checked above: the prompt and `n` by the body's schema, the shape by `Sizing`.
        ImageRequest.make({ prompt: body.prompt, ...shape, n: body.n ?? 1 }, { disableValidation: true }),
        started
      )
      const headers = headersOf(result, overheadMs)
      const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      if (result.images.length === 0) {
        const description = result.description ?? ""
        if (request.headers[allowDescriptionHeader] !== "true") {
          return HttpServerResponse.setHeaders(
            Wire.openAIResponse(Wire.unavailable(
              `No image could be generated right now; every image route failed and the plan answered with a description: ${description}`,
              "image_unavailable"
            )),
            headers
          )
        }
        return HttpServerResponse.unsafeJson({ created, data: [{ revised_prompt: description }] }, { headers })
      }
      const outputFormat = formats[result.images[0]!.mimeType] ?? "png"
      return HttpServerResponse.unsafeJson({
        created,
        data: result.images.map((image) => ({ b64_json: base64(image.data) })),
        output_format: outputFormat
      }, { headers })
    }).pipe(Effect.catchAll((problem) => Effect.succeed(Wire.openAIResponse(problem))))

    const chatCompletions = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = yield* Clock.currentTimeNanos
      yield* authenticate(request)
      const json = yield* readJson(request, limit)
      const call = yield* Either.match(Text.decodeChat(json), { onLeft: Effect.fail, onRight: Effect.succeed })
      const model = served.get(call.model)
      if (model === undefined) return yield* Effect.fail(Wire.modelNotFound(call.model, modelNames))
      if (model.kind !== "text") return yield* Effect.fail(otherKind(call.model, "image", "/v1/images/generations"))
      const { overheadMs, result } = yield* generateText(model, "openai", call.request, started)
      const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      return HttpServerResponse.unsafeJson(
        Text.chatCompletion(result, `chatcmpl-ballast-${started.toString(36)}`, created),
        { headers: headersOf(result, overheadMs) }
      )
    }).pipe(Effect.catchAll((problem) => Effect.succeed(Wire.openAIResponse(problem))))

    // Gemini generateContent for a text model: a 200 with promptFeedback for a safety block, as for images.
    const geminiText = (model: Served & { readonly kind: "text" }, json: unknown, started: bigint) =>
      Effect.gen(function*() {
        const textRequest = yield* Either.match(Text.decodeGeminiText(json, model.name), {
          onLeft: Effect.fail,
          onRight: Effect.succeed
        })
        const generated = yield* Effect.either(generateText(model, "gemini", textRequest, started))
        const responseId = `ballast-${started.toString(36)}`
        if (Either.isLeft(generated)) {
          if (generated.left.code === "moderation_blocked") {
            return HttpServerResponse.unsafeJson({
              promptFeedback: { blockReason: "OTHER", blockReasonMessage: generated.left.message },
              modelVersion: model.name,
              responseId
            })
          }
          return yield* Effect.fail(generated.left)
        }
        const { overheadMs, result } = generated.right
        return HttpServerResponse.unsafeJson(Text.geminiText(result, responseId), { headers: headersOf(result, overheadMs) })
      })

    const geminiPath = /^\/(v1beta|v1|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/

    const geminiGenerate = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = yield* Clock.currentTimeNanos
      const url = new URL(request.url, "http://gateway")
      const match = geminiPath.exec(url.pathname)
      if (match === null) return yield* Effect.fail(Wire.notFound(`Unknown route: ${request.method} ${url.pathname}`))
      const [, version, rawModel, method] = match
      const modelName = decodeURIComponent(rawModel!)
      if (method !== "generateContent") {
        return yield* Effect.fail(
          Wire.badRequest(`Method ${method} is not supported by this gateway; use generateContent.`, null, null)
        )
      }
      yield* authenticate(request)
      const json = yield* readJson(request, limit)
      const named = served.get(modelName)
      if (named?.kind === "text") return yield* geminiText(named, json, started)
      const invalid = (path: string, message: string) =>
        Wire.badRequest(`* GenerateContentRequest.${path}: ${message}`, path, null)
      const body = yield* Either.match(decodeGeminiBody(json), {
        onLeft: (error) => {
          const issue = describeIssue(error)
          return Effect.fail(
            issue.path === ""
              ? Wire.badRequest(`Invalid JSON payload received. ${issue.message}`, null, null)
              : invalid(issue.path, issue.missing ? `${issue.path.split(".").pop()} is not specified` : issue.message)
          )
        },
        onRight: Effect.succeed
      })
      const model = named
      if (model === undefined) {
        return yield* Effect.fail({
          ...Wire.modelNotFound(modelName, modelNames),
          message: `models/${modelName} is not found for API version ${version}, or is not supported for generateContent.`
        })
      }
      const modalities = body.generationConfig?.responseModalities
      if (modalities !== undefined && !modalities.some((m) => m.toUpperCase() === "IMAGE")) {
        return yield* Effect.fail(invalid(
          "generationConfig.responseModalities",
          `model ${modelName} generates images: responseModalities must include IMAGE`
        ))
      }
      const shape = yield* Either.match(Sizing.fromGemini(body.generationConfig?.imageConfig), {
        onLeft: ({ field, message }) => Effect.fail(invalid(`generationConfig.imageConfig.${field}`, message)),
        onRight: Effect.succeed
      })
      const texts: Array<string> = []
      const references: Array<GeneratedImage> = []
      for (const [i, content] of body.contents.entries()) {
        if (content.role !== undefined && content.role !== "user") continue
        for (const [j, part] of content.parts.entries()) {
          if (part.text !== undefined) texts.push(part.text)
          if (part.inlineData !== undefined) {
            const bytes = Buffer.from(part.inlineData.data, "base64")
            if (bytes.length === 0) {
              return yield* Effect.fail(invalid(`contents[${i}].parts[${j}].inlineData.data`, "must be non-empty base64"))
            }
            references.push(new GeneratedImage({ data: bytes, mimeType: part.inlineData.mimeType }, { disableValidation: true }))
          }
        }
      }
      const prompt = texts.join("\n")
      if (prompt.trim() === "") return yield* Effect.fail(invalid("contents", "contents has no text part: the prompt is empty"))
      if (prompt.length > 32_000) return yield* Effect.fail(invalid("contents", "the prompt is longer than 32000 characters"))
      const generated = yield* Effect.either(generate(
        model,
        "gemini",
        ImageRequest.make({ prompt, ...shape, ...(references.length > 0 ? { referenceImages: references } : {}) }, {
          disableValidation: true
        }),
        started
      ))
      const responseId = `ballast-${started.toString(36)}`
      if (Either.isLeft(generated)) {
        const problem = generated.left
        // Gemini reports a safety block as a 200 without candidates, which the SDK resolves.
        if (problem.code === "moderation_blocked") {
          return HttpServerResponse.unsafeJson({
            promptFeedback: { blockReason: "OTHER", blockReasonMessage: problem.message },
            modelVersion: modelName,
            responseId
          })
        }
        return yield* Effect.fail(problem)
      }
      const { overheadMs, result } = generated.right
      const parts = result.images.length > 0
        ? result.images.map((image) => ({ inlineData: { mimeType: image.mimeType, data: base64(image.data) } }))
        : [{ text: result.description ?? "" }]
      return HttpServerResponse.unsafeJson({
        candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
        modelVersion: result.model,
        responseId
      }, { headers: headersOf(result, overheadMs) })
    }).pipe(Effect.catchAll((problem) => Effect.succeed(Wire.geminiResponse(problem))))

    // A text pipeline's plan entries are `ImageStep`s too (route only): its routes are reported as kind "text".
    const routeState = ({ kind, pipeline }: Gateway.Model, now: number) =>
      Effect.gen(function*() {
        const imageRoutes = [...new Set(pipeline.config.plan.flatMap((e) => e._tag === "ImageStep" ? [e.route] : []))]
        const describeRoutes = pipeline.config.plan.flatMap((e) => e._tag === "Describe" ? [e.describe] : [])
        const health = Option.isSome(pipeline.health) ? yield* pipeline.health.value.snapshot : []
        const stats = yield* pipeline.router.stats
        const routes: Array<GatewayApi.RouteState> = []
        for (const name of [...imageRoutes, ...describeRoutes]) {
          const breaker = pipeline.breakers.get(name)
          const state = breaker === undefined ? undefined : yield* breaker.state
          const status = Option.isSome(pipeline.health) ? pipeline.health.value.unsafeStatus(name) : "healthy"
          routes.push({
            route: name,
            provider: pipeline.config.routes[name]?.provider ?? null,
            model: pipeline.config.routes[name]?.model ?? null,
            kind: imageRoutes.includes(name) ? kind : "describe",
            usable: (state === undefined || CircuitBreaker.isAvailable(state, now)) && status !== "down",
            breaker: state ?? null,
            health: health.find((h) => h.route === name) ?? null,
            stats: stats.find((s) => s.route === name) ?? null
          })
        }
        const degradation = Option.isSome(pipeline.degradation) ? yield* pipeline.degradation.value.snapshot : []
        return { routes, degradation, hedges: yield* pipeline.hedges }
      })

    const routesJson = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const out: Array<GatewayApi.ModelState> = []
      for (const [name, model] of Object.entries(config.models)) {
        const served = models.get(name)!
        out.push({ model: name, kind: served.kind, aliases: model.aliases, ...(yield* routeState(served, now)) })
      }
      return out
    })

    const ready = Effect.gen(function*() {
      const reasons: Array<string> = []
      for (const model of yield* routesJson) {
        const own = model.routes.filter((r) => r.kind === model.kind)
        if (!own.some((r) => r.usable)) {
          reasons.push(
            `model ${model.model}: no usable ${model.kind} route (${
              own.map((r) => `${r.route}: ${r.breaker?._tag === "Open" ? "breaker open" : `health ${r.health?.status}`}`).join(
                "; "
              )
            })`
          )
        }
      }
      return reasons.length === 0
        ? { status: "ready" as const }
        : yield* Effect.fail<GatewayApi.NotReady>({ status: "not ready", reasons })
    })

    // The dashboard samples every model into a bounded timeline (in this scope) and serves the page and its data.
    const timeline = yield* Timeline.make({ models, inFlight: Effect.sync(() => inFlight) })

    // The admin endpoints as an HttpApi (with its OpenAPI document), the generation endpoints as plain routes
    // beside them (see the module's documentation for why), and `Options.extraRoutes`: one router.
    const status = HttpApiBuilder.group(GatewayApi.GatewayApi, "status", (handlers) =>
      handlers
        .handle("health", () => Effect.succeed({ status: "ok" as const }))
        .handle("ready", () => ready)
        .handle("routes", () => Effect.map(routesJson, (models) => ({ models })))
        .handle("metrics", () => Metrics.prometheus))
    const dashboard = HttpApiBuilder.group(GatewayApi.GatewayApi, "dashboard", Dashboard.handlers(timeline))
    // The batch queue, when configured, with its worker on the model's pipeline made for batch work.
    const batches = config.batch === undefined ? undefined : yield* Batches.make(
      config.batch,
      yield* Option.match(Option.fromNullable(GatewayConfig.batchModel(config)), {
        onNone: () => Effect.succeedNone,
        onSome: (name) =>
          Effect.map(
            buildPipeline(name, BatchPipeline.config(config.models[name]!.pipeline), clients),
            (model) => model.kind === "image" ? Option.some<ImageGenerator.Service>(model.pipeline) : Option.none()
          )
      }),
      (message) => new GatewayError({ message })
    )
    const batchGroup = HttpApiBuilder.group(GatewayApi.GatewayApi, "batches", Batches.handlers(batches)).pipe(
      Layer.provide(Batches.authorization(keys))
    )
    const admin = HttpLayerRouter.addHttpApi(GatewayApi.GatewayApi, { openapiPath: GatewayApi.openApiPath }).pipe(
      Layer.provide([status, dashboard, batchGroup])
    )
    const generation = HttpLayerRouter.addAll([
      HttpLayerRouter.route("POST", "/v1/images/generations", openAIImages),
      HttpLayerRouter.route("POST", "/v1/chat/completions", chatCompletions),
      HttpLayerRouter.route("POST", "/v1beta/models/*", geminiGenerate),
      HttpLayerRouter.route("POST", "/v1/models/*", geminiGenerate),
      HttpLayerRouter.route("POST", "/v1alpha/models/*", geminiGenerate)
    ])
    const routes = Layer.mergeAll(admin, generation, options.extraRoutes ?? Layer.empty)

    const nodeServer = Http.createServer()
    const host = options.host ?? config.server.host
    const port = options.port ?? config.server.port
    const context = yield* Layer.build(NodeHttpServer.layer(() => nodeServer, { port, host })).pipe(
      Effect.mapError((error) => new GatewayError({ message: `cannot listen on ${host}:${port}: ${String(error.cause ?? error)}` }))
    )
    // A memo map of its own: the router is a memoized Layer, which two gateways built in one program must not share.
    const routed = yield* HttpLayerRouter.toHttpEffect(routes).pipe(
      Effect.provide(context),
      Effect.provideService(Layer.CurrentMemoMap, yield* Layer.makeMemoMap)
    )
    // Never a 500 for client input and never a crash: unknown paths are a JSON 404, and a defect (a bug)
    // is logged and answered 500 in the OpenAI shape, which the Gemini SDK reads too.
    const handled = routed.pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure) && isRouteNotFound(failure.value)) {
          return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            Effect.succeed(Wire.openAIResponse(Wire.notFound(`Unknown route: ${request.method} ${request.url.split("?")[0]}`))))
        }
        if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
        return Effect.as(
          Effect.logError("gateway request failed", cause),
          Wire.openAIResponse(Wire.internal("The gateway failed while handling the request."))
        )
      })
    )
    // The batch endpoints' bodies are read by `HttpApi`, which sets no size limit (the generation endpoints read
    // theirs themselves, within it): a body over `server.bodyLimit` is refused before a byte is read, and so is a
    // body of unknown length.
    const bounded = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (request.method !== "POST" || !request.url.startsWith("/v1/batches")) return handled
      const declared = request.headers["content-length"]
      if (declared === undefined) {
        return Effect.succeed(HttpServerResponse.unsafeJson({
          _tag: "LengthRequired",
          message: "Send the body with a Content-Length header."
        }, { status: 411 }))
      }
      return Number(declared) > limit
        ? Effect.succeed(HttpServerResponse.unsafeJson({
          _tag: "PayloadTooLarge",
          message: `The request body is larger than this gateway's limit of ${limit} bytes; submit the jobs in several requests.`
        }, { status: 413 }))
        : handled
    })
    const app = Effect.acquireUseRelease(
      Effect.sync(() => inFlight++),
      () => bounded,
      () => Effect.sync(() => inFlight--)
    )

    const server = Context.get(context, HttpServer.HttpServer)
    // The platform's `http.server` span per request (its URL, headers and status) only when a tracer other
    // than Effect's native one reads spans, like the pipeline's own (an exporter, a test's).
    const untraced = yield* Effect.tracerWith((tracer) => Effect.succeed(tracer === nativeTracer))
    yield* server.serve(app).pipe(
      Effect.locallyWith(HttpMiddleware.currentTracerDisabledWhen, (disabled) => untraced ? () => true : disabled)
    )
    const bound = server.address._tag === "TcpAddress" ? server.address.port : port

    const drain = Effect.gen(function*() {
      nodeServer.close()
      nodeServer.closeIdleConnections()
      yield* Effect.logInfo(`gateway draining ${inFlight} in-flight request(s)`)
      const waitIdle = Effect.repeat(Effect.sync(() => inFlight), { until: (n) => n === 0, schedule: Schedule.spaced(pollEvery) })
      // Finalizers run uninterruptibly: the wait must be made interruptible for the timeout to end it.
      yield* Effect.timeout(Effect.interruptible(waitIdle), config.server.shutdownTimeout).pipe(Effect.ignore)
      nodeServer.closeAllConnections()
    })
    yield* Effect.addFinalizer(() => drain)

    const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`
    yield* Effect.logInfo(`Ballast gateway listening on ${url}`)
    return { url, host, port: bound, models, inFlight: Effect.sync(() => inFlight) }
  })

const pollEvery = Duration.millis(10)

// The tracer every runtime starts with, which exports nothing.
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * A Layer that serves the gateway until its scope closes (then drains, see
 * `make`). The bound port is in the `Gateway` service, so port 0 works.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { NodeContext } from "@effect/platform-node"
 * import { Gateway, GatewayConfig } from "@ballast/gateway"
 *
 * const program = Effect.gen(function*() {
 *   const config = yield* GatewayConfig.fromFile("gateway.yaml")
 *   const gateway = yield* Effect.provide(Gateway.Gateway, Gateway.layer(config, { port: 0 }))
 *   console.log(gateway.url)
 * })
 */
export const layer = (config: GatewayConfig.GatewayConfig, options?: Gateway.Options): Layer.Layer<Gateway, GatewayError> =>
  Layer.scoped(Gateway, make(config, options))

/**
 * Serves the gateway forever (it logs its URL once listening). Interrupting
 * the fiber — `NodeRuntime.runMain` does so on SIGINT / SIGTERM — closes the
 * server gracefully: in-flight requests drain for up to `shutdownTimeout`.
 *
 * @since 0.1.0
 * @example
 * import { NodeContext, NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Gateway, GatewayConfig } from "@ballast/gateway"
 *
 * GatewayConfig.fromFile("gateway.yaml").pipe(
 *   Effect.flatMap((config) => Gateway.serve(config)),
 *   Effect.provide(NodeContext.layer),
 *   NodeRuntime.runMain
 * )
 */
export const serve = (config: GatewayConfig.GatewayConfig, options?: Gateway.Options): Effect.Effect<never, GatewayError> =>
  Layer.launch(layer(config, options))
