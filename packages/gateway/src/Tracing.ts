/**
 * Traces of the gateway, exported over OTLP/HTTP through `@effect/opentelemetry`
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
 * is set, and nothing at all — no tracer, no cost — when it is not.
 *
 * With an endpoint, every HTTP request gets a server span (`http.server POST`,
 * with `http.request.method`, `http.route`, `url.path` and
 * `http.response.status_code`, made by `@effect/platform`'s server), and inside
 * it the pipeline's `ballast.request` span (`ballast.model`, `ballast.route`,
 * `ballast.outcome`, `ballast.attempts`) with one `ballast.attempt` child per
 * provider call (`ballast.route`, `ballast.attempt`, `ballast.outcome`). The
 * service name is `OTEL_SERVICE_NAME` (default `ballast-gateway`); the
 * exporter reads the other standard variables (`OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_EXPORTER_OTLP_TIMEOUT`, ...) itself. Closing the layer's scope flushes
 * the spans still buffered and shuts the SDK down.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { Config, type ConfigError, Context, Effect, Layer, Option } from "effect"

/**
 * The service name traces carry when `OTEL_SERVICE_NAME` is not set.
 *
 * @since 0.1.0
 */
export const defaultServiceName = "ballast-gateway"

/**
 * Where and as whom to export traces.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The full OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`. */
  readonly url: string
  /** The `service.name` resource attribute. */
  readonly serviceName: string
}

// An empty variable counts as unset (as the OpenTelemetry SDKs read them).
const setting = (name: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

/**
 * The export options from the standard variables: the traces URL is
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` (as the OTLP specification
 * says); `None` when neither is set.
 *
 * @since 0.1.0
 */
export const optionsFromEnv: Config.Config<Option.Option<Options>> = Config.all({
  endpoint: setting("OTEL_EXPORTER_OTLP_ENDPOINT"),
  tracesEndpoint: setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  serviceName: setting("OTEL_SERVICE_NAME")
}).pipe(Config.map(({ endpoint, serviceName, tracesEndpoint }) =>
  Option.orElse(tracesEndpoint, () => Option.map(endpoint, (base) => `${base.replace(/\/+$/, "")}/v1/traces`)).pipe(
    Option.map((url) => ({ url, serviceName: Option.getOrElse(serviceName, () => defaultServiceName) }))
  )
))

// The gateway accepts Gemini's `x-goog-api-key` header as a virtual key: keep it out of span attributes
// (platform already redacts `authorization`). A key in the `?key=` query would reach `url.full` and
// `url.query`, so those requests get no HTTP server span (their `ballast.*` spans remain).
const keepKeysOutOfSpans = Layer.mergeAll(
  Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, (names) => [...names, "x-goog-api-key"]),
  Layer.fiberRefLocallyScopedWith(HttpMiddleware.currentTracerDisabledWhen, (disabled) => (request) =>
    disabled(request) || new URL(request.url, "http://gateway").searchParams.has("key"))
)

/**
 * Installs the OpenTelemetry tracer with a batching OTLP/HTTP (JSON) exporter
 * for every effect it is provided to; closing its scope flushes and shuts
 * the SDK down.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<never> =>
  Layer.unwrapEffect(
    // Loaded on demand: the SDK costs ~300 ms of start-up, which a gateway without tracing should not pay.
    Effect.promise(async () => {
      const [NodeSdk, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
        import("@effect/opentelemetry/NodeSdk"),
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/sdk-trace-base")
      ])
      return Layer.merge(
        NodeSdk.layer(() => ({
          resource: { serviceName: options.serviceName },
          spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: options.url }))
        })),
        keepKeysOutOfSpans
      ).pipe(Layer.map(() => Context.empty()))
    })
  )

/**
 * `layer` with the options from `optionsFromEnv` when an OTLP endpoint is
 * configured, else `Layer.empty`. `ballast serve` provides it around the
 * gateway.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Demo, Tracing } from "@ballast/gateway"
 *
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 exports a trace per request.
 * const program = Effect.never.pipe(
 *   Effect.provide(Demo.layer({ port: 8080 })),
 *   Effect.provide(Tracing.layerFromEnv)
 * )
 */
export const layerFromEnv: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(optionsFromEnv, Option.match({ onNone: () => Layer.empty, onSome: layer }))
)
