/**
 * `ballast serve [--config file] [--port n] [--demo [--scenario name]] [--log-format json|text]`: runs
 * the OpenAI- and Gemini-compatible gateway until interrupted (Ctrl-C drains
 * in-flight requests). `--demo` serves the demo configuration (`Demo.layer`)
 * on simulated providers — the fault server playing a scenario — and needs no
 * keys; `--config` serves a gateway configuration file with real providers
 * (`Gateway.make`). With `OTEL_EXPORTER_OTLP_ENDPOINT` set, traces — a span
 * per HTTP request, per pipeline request and per provider attempt — are
 * exported over OTLP/HTTP (`Tracing.layerFromEnv`) and flushed on shutdown.
 *
 * @since 0.1.0
 */
import { Scenario } from "@ballast/testing"
import { Command, Options } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Console, Context, Effect, Either, Layer, Logger, Option, type Scope } from "effect"
import * as Demo from "../Demo.js"
import * as Gateway from "../Gateway.js"
import * as GatewayConfig from "../GatewayConfig.js"
import * as Tracing from "../Tracing.js"
import * as CliFailure from "./CliFailure.js"

const config = Options.text("config").pipe(
  Options.withPseudoName("file"),
  Options.withDescription("A gateway configuration (.yaml, .yml or .json)."),
  Options.optional
)
const port = Options.integer("port").pipe(
  Options.withPseudoName("n"),
  Options.withDescription("The port to listen on (default: the configuration's, else 8080; 0 picks a free one)."),
  Options.mapEffect((port) =>
    port >= 0 && port <= 65_535 ? Effect.succeed(port) : CliFailure.invalidValue(`--port must be 0–65535, got ${port}`)
  ),
  Options.optional
)
const demo = Options.boolean("demo").pipe(
  Options.withDescription(
    "Serve the reference image and text chains on simulated providers; needs no keys and accepts the virtual key ballast-demo."
  )
)
const logFormat = Options.choice("log-format", ["json", "text"]).pipe(
  Options.withDescription(
    "How the gateway logs: one JSON object per line (default when stdout is not a terminal), or readable text."
  ),
  Options.optional
)
const scenario = Options.text("scenario").pipe(
  Options.withPseudoName("name"),
  Options.withDescription(`With --demo, the scenario the simulated providers play (default outage-2h): ${Scenario.names.join(", ")}.`),
  Options.mapEffect((name) =>
    Either.match(Scenario.get(name), { onLeft: CliFailure.invalidValue, onRight: () => Effect.succeed(name) })
  ),
  Options.optional
)

/**
 * What `serve` prints once the gateway listens: its URL, its models and how
 * to point the official clients at it.
 *
 * @since 0.1.0
 */
export const banner = (gateway: Gateway.Gateway.Service, key: string): string =>
  [
    `ballast gateway listening on ${gateway.url}`,
    `models: ${[...gateway.models.keys()].join(", ")}`,
    `clients: new OpenAI({ baseURL: "${gateway.url}/v1", apiKey: "${key}" })`,
    `         new GoogleGenAI({ apiKey: "${key}", httpOptions: { baseUrl: "${gateway.url}" } })`,
    "Ctrl-C stops it (in-flight requests drain first)"
  ].join("\n")

const gatewayFailure = (error: Gateway.GatewayError | GatewayConfig.GatewayConfigError) => CliFailure.failure(error.message)

const startDemo = (options: Demo.Options) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Demo.layer(options))
    const gateway = Context.get(context, Gateway.Gateway)
    yield* Console.log(`demo: simulated providers playing ${options.scenario ?? "outage-2h"}; no provider keys needed`)
    yield* Console.log(banner(gateway, Demo.key))
  })

const startFromFile = (path: string, options: Gateway.Gateway.Options) =>
  Effect.gen(function*() {
    const gatewayConfig = yield* GatewayConfig.fromFile(path)
    const gateway = yield* Gateway.make(gatewayConfig, options)
    yield* Console.log(banner(gateway, "<a virtual key of the configuration>"))
  })

/**
 * Starts the gateway in the scope (demo or from a configuration file) and
 * prints where it listens; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const start = (args: {
  readonly config: Option.Option<string>
  readonly port: Option.Option<number>
  readonly demo: boolean
  readonly scenario: Option.Option<string>
}): Effect.Effect<void, CliFailure.CliFailure, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    if (args.demo && Option.isSome(args.config)) return yield* CliFailure.usage("--demo and --config exclude each other")
    if (!args.demo && Option.isSome(args.scenario)) return yield* CliFailure.usage("--scenario goes with --demo")
    const port = Option.getOrUndefined(args.port)
    if (args.demo) {
      return yield* startDemo({
        port,
        scenario: Option.getOrUndefined(args.scenario) as Scenario.ScenarioName | undefined
      }).pipe(Effect.catchAll(gatewayFailure))
    }
    if (Option.isNone(args.config)) {
      return yield* CliFailure.usage("serve needs --demo (simulated providers) or --config <file>")
    }
    return yield* startFromFile(args.config.value, { port }).pipe(Effect.catchAll(gatewayFailure))
  })

// Tracing only when OTEL_EXPORTER_OTLP_ENDPOINT is set; an unreadable setting is a CLI failure, not a defect.
const tracing = Tracing.layerFromEnv.pipe(
  Layer.catchAll((error) => Layer.effectDiscard(CliFailure.failure(`tracing: ${String(error)}`)))
)

/**
 * The `serve` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("serve", { config, port, demo, scenario, logFormat }, (args) =>
  Effect.scoped(Effect.zipRight(start(args), Effect.never)).pipe(
    // Outside the gateway's scope, so the spans of the drain are flushed when the tracer shuts down.
    Effect.provide(tracing),
    // Structured logs for machines (log shippers read one JSON object per line), readable ones for people.
    Effect.provide(
      Option.getOrElse(args.logFormat, () => (process.stdout.isTTY ? "text" : "json")) === "json"
        ? Logger.json
        : Logger.pretty
    )
  )).pipe(
    Command.withDescription(
      "Runs the OpenAI- and Gemini-compatible gateway until interrupted: --demo on simulated providers, or --config with real ones. Set OTEL_EXPORTER_OTLP_ENDPOINT to export traces over OTLP/HTTP (service name OTEL_SERVICE_NAME, default ballast-gateway)."
    )
  )
