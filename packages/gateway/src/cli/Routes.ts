/**
 * `ballast routes [--config file] [--demo]`: builds the pipeline in-process,
 * probes each route once and prints one row per route — route, provider,
 * model, region, resolutions, breaker state and health.
 *
 * With `--demo` the routes (the reference plan, or `--config`'s) are served by
 * simulated providers playing `steady`. Without it, a configuration's routes
 * are listed from the file and the capability table, not probed: the CLI does
 * not build real provider Layers yet.
 *
 * @since 0.1.0
 */
import { Pipeline, PipelineConfig } from "@ballast/core"
import { Scenario, Simulation } from "@ballast/testing"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig, planLine, table } from "./internal/config.js"
import * as Demo from "./internal/demo.js"

const config = Options.text("config").pipe(
  Options.withPseudoName("file"),
  Options.withDescription("A pipeline configuration (.yaml, .yml or .json); with --demo, the reference plan by default."),
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
        const health = probed === undefined
          ? "not probed"
          : `${probed.status}, probe ${probed.lastError === null ? "ok" : "failed"}${
            probed.lastLatencyMs === null ? "" : ` in ${Math.round(probed.lastLatencyMs)} ms`
          }`
        return [...staticCells(config, name), state, health]
      }), { concurrency: "unbounded" })
  }))

/**
 * The `routes` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("routes", { config, demo }, (args) =>
  Effect.gen(function*() {
    if (!args.demo && Option.isNone(args.config)) {
      return yield* CliFailure.usage("routes needs --demo (simulated providers) or --config <file>")
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
      "\nnot probed: the CLI does not build real provider layers yet; --demo probes simulated providers"
    )
  })).pipe(
    Command.withDescription(
      "Builds the pipeline, probes each route once and prints route, provider, model, region, resolutions, breaker state and health."
    )
  )

