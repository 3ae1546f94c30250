/**
 * `ballast routes [--config file] [--model name] [--demo]`: builds the
 * pipelines in-process, probes each route once and prints one row per route —
 * route, provider, model, region, resolutions, breaker state and health.
 *
 * With a gateway configuration (the file `ballast serve --config` takes,
 * recognised by its top-level `models`) every model — or `--model`'s, by
 * public name or alias — is built with real providers (`Gateway.buildModels`,
 * keys from the environment variables the configuration names), and the table
 * shows each route's first health probe (the provider's cheap model lookup).
 * A model whose configuration turns health probes off is probed all the same
 * for the listing. With `--demo` the routes (the reference plan, or
 * `--config`'s pipeline configuration) are served by simulated providers
 * playing `steady`. A pipeline configuration without `--demo` names no
 * providers: its routes are listed from the file and the capability table,
 * not probed.
 *
 * @since 0.1.0
 */
import { type Health, Pipeline, PipelineConfig } from "@ballast/core"
import { Scenario, Simulation } from "@ballast/testing"
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Option, Schedule } from "effect"
import type * as Gateway from "../Gateway.js"
import type { GatewayConfig } from "../GatewayConfig.js"
import * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig, planLine, table } from "./internal/config.js"
import * as Demo from "./internal/demo.js"
import * as Models from "./internal/gateway.js"

const config = Options.text("config").pipe(
  Options.withPseudoName("file"),
  Options.withDescription(
    "A gateway configuration (the file serve --config takes; its routes are built with real providers and probed) or a pipeline configuration (listed, not probed; with --demo, probed on simulated providers). .yaml, .yml or .json."
  ),
  Options.optional
)
const model = Options.text("model").pipe(
  Options.withPseudoName("name"),
  Options.withDescription("Only this model of a gateway configuration (public name or alias)."),
  Options.optional
)
const demo = Options.boolean("demo").pipe(
  Options.withDescription("Serve the routes with simulated providers playing the steady scenario; needs no keys.")
)

/**
 * The table's column headers.
 *
 * @since 0.1.0
 */
export const headers: ReadonlyArray<string> = [
  "route",
  "provider",
  "model",
  "region",
  "resolutions",
  "breaker",
  "health"
]

const breakerLabel: Record<string, string> = {
  Closed: "closed",
  Open: "open",
  HalfOpen: "half-open",
  Isolated: "isolated"
}

const staticCells = (config: PipelineConfig.PipelineConfig, name: string): ReadonlyArray<string> => {
  const route = config.routes[name]!
  const capabilities = PipelineConfig.capabilitiesOf(config, name)
  return [
    name,
    route.provider,
    route.model,
    route.region ?? "-",
    capabilities.resolutions.length > 0 ? capabilities.resolutions.join(",") : "text"
  ]
}

const planRoutes = (config: PipelineConfig.PipelineConfig): ReadonlyArray<string> => [
  ...new Set(config.plan.map((entry) => entry._tag === "Describe" ? entry.describe : entry.route))
]

const healthCell = (probed: Health.RouteHealth | undefined): string =>
  probed === undefined || probed.probes === 0
    ? "not probed"
    : `${probed.status}, probe ${probed.lastError === null ? "ok" : "failed"}${
      probed.lastLatencyMs === null ? "" : ` in ${Math.round(probed.lastLatencyMs)} ms`
    }`

const readConfig = (path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => PipelineConfig.decode(Simulation.referenceConfig).pipe(Effect.orDie),
    onSome: loadPipelineConfig
  })

/**
 * Builds the pipeline on simulated providers, probes every route once (all at
 * the same time) and returns the table's rows.
 *
 * @since 0.1.0
 */
export const probeDemo = (
  config: PipelineConfig.PipelineConfig
): Effect.Effect<ReadonlyArray<ReadonlyArray<string>>, CliFailure.CliFailure> =>
  Effect.scoped(Effect.gen(function*() {
    const providers = yield* Demo.providers(Scenario.scenarios.steady, config, { latency: 0.05 })
    const pipeline = yield* Pipeline.make(config, providers).pipe(
      Effect.catchTag("ConfigError", (error) => CliFailure.failure(error.message))
    )
    const used = new Set(planRoutes(config))
    return yield* Effect.forEach(Object.keys(config.routes), (name) =>
      Effect.gen(function*() {
        if (!used.has(name)) return [...staticCells(config, name), "-", "not in the plan"]
        const breaker = pipeline.breakers.get(name)
        const state = breaker === undefined ? "-" : breakerLabel[(yield* breaker.state)._tag] ?? "-"
        const probed = yield* Option.match(pipeline.health, {
          onNone: () => Effect.succeed(undefined),
          onSome: (health) => health.probeNow(name)
        })
        return [...staticCells(config, name), state, healthCell(probed)]
      }), { concurrency: "unbounded" })
  }))

// Waits for the first probe of every probed route — `Health` runs one as soon as the pipeline is built — for at
// most the probe timeout and a second; a probe that times out is recorded as failed by then.
const firstProbes = (health: Health.Health, timeout: Duration.Duration) =>
  health.snapshot.pipe(
    Effect.filterOrFail((routes) => routes.every((route) => route.probes > 0), () => "not probed yet"),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeout(Duration.sum(timeout, Duration.seconds(1))),
    Effect.orElse(() => health.snapshot)
  )

/**
 * The rows of one built model of a gateway configuration: every route of its
 * pipeline, with its breaker state and its first health probe.
 *
 * @since 0.1.0
 */
export const probeModel = (
  model: Gateway.Gateway.Model
): Effect.Effect<ReadonlyArray<ReadonlyArray<string>>> =>
  Effect.gen(function*() {
    const { pipeline } = model
    const config = pipeline.config
    const probed = Option.isSome(pipeline.health) ? yield* firstProbes(pipeline.health.value, config.health.timeout) : []
    const used = new Set(planRoutes(config))
    return yield* Effect.forEach(Object.keys(config.routes), (name) =>
      Effect.gen(function*() {
        if (!used.has(name)) return [...staticCells(config, name), "-", "not in the plan"]
        const breaker = pipeline.breakers.get(name)
        const state = breaker === undefined ? "-" : breakerLabel[(yield* breaker.state)._tag] ?? "-"
        return [...staticCells(config, name), state, healthCell(probed.find((route) => route.route === name))]
      }))
  })

const listGateway = (path: string, only: Option.Option<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const gatewayConfig: GatewayConfig = yield* Models.loadGatewayConfig(path)
    const names = Option.isNone(only) ? Object.keys(gatewayConfig.models) : [Models.modelNamed(gatewayConfig, only.value)]
    if (names[0] === undefined) {
      return yield* CliFailure.usage(
        `--model: the configuration has no model "${Option.getOrElse(only, () => "")}"; its models: ${
          Object.keys(gatewayConfig.models).map((name) => Models.modelLabel(gatewayConfig, name)).join(", ")
        }`
      )
    }
    // Probes on for every listed model, so each route is probed once even where the configuration turns them off.
    const selected = Object.fromEntries(names.map((name) => {
      const settings = gatewayConfig.models[name!]!
      const pipeline = settings.pipeline.health.enabled ? settings.pipeline : new PipelineConfig.PipelineConfig({
        ...settings.pipeline,
        health: new PipelineConfig.HealthSettings({ ...settings.pipeline.health, enabled: true })
      })
      return [name!, { ...settings, pipeline }]
    }))
    const models = yield* Models.buildModels(Models.restrictTo(gatewayConfig, selected))
    const tables = yield* Effect.forEach(
      Object.keys(selected),
      (name) => Effect.map(probeModel(models.get(name)!), (rows) => ({ name, rows })),
      { concurrency: "unbounded" }
    )
    const blocks = tables.map(({ name, rows }) => {
      const settings = gatewayConfig.models[name]!
      return [
        `model ${Models.modelLabel(gatewayConfig, name)} · ${settings.pipeline.kind === "text" ? "text" : "image"}${
          settings.pipeline.health.enabled ? "" : " · health probes off in the configuration (probed once for this listing)"
        }`,
        `plan ${planLine(settings.pipeline)}`,
        "",
        table(headers, rows)
      ].join("\n")
    })
    yield* Console.log(blocks.join("\n\n"))
  }))

/**
 * The `routes` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("routes", { config, model, demo }, (args) =>
  Effect.gen(function*() {
    if (!args.demo && Option.isNone(args.config)) {
      return yield* CliFailure.usage("routes needs --config <file> or --demo (simulated providers)")
    }
    if (!args.demo && (yield* Models.isGatewayConfig(Option.getOrThrow(args.config)))) {
      return yield* listGateway(Option.getOrThrow(args.config), args.model)
    }
    if (Option.isSome(args.model)) {
      return yield* CliFailure.usage("--model picks a model of a gateway configuration (--config without --demo)")
    }
    const pipelineConfig = yield* readConfig(args.config)
    yield* Console.log(`plan ${planLine(pipelineConfig)}\n`)
    if (args.demo) {
      yield* Console.log(table(headers, yield* probeDemo(pipelineConfig)))
      return
    }
    const rows = Object.keys(pipelineConfig.routes).map((name) => [...staticCells(pipelineConfig, name), "-", "not probed"])
    yield* Console.log(table(headers, rows))
    yield* Console.log(
      "\nnot probed: a pipeline configuration names no providers or keys; a gateway configuration (the file serve --config takes) is probed with real providers, --demo probes simulated ones"
    )
  })).pipe(
    Command.withDescription(
      "Builds the pipelines, probes each route once and prints route, provider, model, region, resolutions, breaker state and health: a gateway configuration with real providers, --demo with simulated ones."
    )
  )
