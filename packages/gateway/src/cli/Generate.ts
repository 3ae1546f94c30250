/**
 * `ballast generate "prompt"`: runs one image request through a pipeline
 * in-process (no HTTP server), shows progress on stderr (a spinner with the
 * elapsed time, and one line per provider call), writes the image to `--out`
 * (or prints the text description the plan fell back to) and prints where the
 * answer came from: route, model, resolution, attempts and latency.
 *
 * With `--config` a gateway configuration (the file `ballast serve --config`
 * takes) is built in-process (`Gateway.buildModels`) with real providers,
 * their keys read from the environment variables it names, and the request
 * goes to `--model` (a public name or alias; default: the only image model).
 * The model's background health probes are off for this one request.
 *
 * With `--demo` the reference plan (or `--config`'s pipeline configuration)
 * runs on simulated providers playing `steady`, twenty times faster than in
 * the field.
 *
 * @since 0.1.0
 */
import {
  AspectRatio,
  type GenerationError,
  ImageRequest,
  type ImageResult,
  Pipeline,
  PipelineConfig,
  Resolution
} from "@ballast/core"
import { Scenario, Simulation } from "@ballast/testing"
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Duration, Effect, Option } from "effect"
import type { GatewayConfig } from "../GatewayConfig.js"
import * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig } from "./internal/config.js"
import * as Demo from "./internal/demo.js"
import * as Models from "./internal/gateway.js"
import { oneOf } from "./internal/options.js"
import * as Progress from "./internal/progress.js"

const prompt = Args.text({ name: "prompt" }).pipe(Args.withDescription("What to draw."))
const resolution = oneOf("resolution", Resolution.literals).pipe(
  Options.withDescription("The resolution asked for."),
  Options.withDefault("4K" as const)
)
const aspectRatio = oneOf("aspect-ratio", AspectRatio.literals).pipe(
  Options.withDescription("The aspect ratio asked for."),
  Options.withDefault("16:9" as const)
)
const out = Options.text("out").pipe(
  Options.withPseudoName("file"),
  Options.withDescription("Write the image here (PNG)."),
  Options.optional
)
const config = Options.text("config").pipe(
  Options.withPseudoName("file"),
  Options.withDescription(
    "A gateway configuration (.yaml, .yml or .json; the file serve --config takes), whose providers are called with the keys of the environment variables it names; with --demo, a pipeline configuration (the reference plan by default)."
  ),
  Options.optional
)
const model = Options.text("model").pipe(
  Options.withPseudoName("name"),
  Options.withDescription("The gateway configuration's image model to ask, by public name or alias (default: its only image model)."),
  Options.optional
)
const demo = Options.boolean("demo").pipe(
  Options.withDescription("Use simulated providers playing the steady scenario; needs no keys.")
)

/**
 * How much faster than in the field the demo's simulated providers answer.
 *
 * @since 0.1.0
 */
export const demoLatencyScale = 0.05

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

/**
 * The summary printed after an answer.
 *
 * @since 0.1.0
 */
export const summary = (result: ImageResult): string =>
  [
    `route ${result.route}`,
    `model ${result.model} (${result.provider})`,
    `resolution ${result.resolution}${result.resolution === result.requestedResolution ? "" : ` (asked ${result.requestedResolution})`}`,
    `degraded ${result.degraded ? "yes" : "no"}`,
    `attempts ${result.attempts}`,
    `latency ${seconds(Duration.toMillis(result.latency))}`
  ].join(" · ")

interface Shape {
  readonly prompt: string
  readonly resolution: Resolution
  readonly aspectRatio: AspectRatio
  readonly out: Option.Option<string>
}

// Runs the request under the spinner, then writes the image (or prints the description) and the summary.
const generateAndPrint = (
  generate: (request: ImageRequest) => Effect.Effect<ImageResult, GenerationError>,
  args: Shape
) =>
  Effect.gen(function*() {
    const request = ImageRequest.make({ prompt: args.prompt, resolution: args.resolution, aspectRatio: args.aspectRatio })
    const result = yield* Effect.scoped(
      Effect.zipRight(Progress.spinner("generating"), generate(request))
    ).pipe(Effect.catchAll((error) => CliFailure.failure(`generation failed: ${error.message}`)))

    const [image] = result.images
    if (image === undefined) {
      yield* Console.log(`no image: the plan fell back to a text description\n\n${result.description ?? ""}\n`)
    } else if (Option.isSome(args.out)) {
      const path = args.out.value
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFile(path, image.data).pipe(
        Effect.catchAll((error) => CliFailure.failure(`cannot write ${path}: ${error.message}`))
      )
      yield* Console.log(`wrote ${path} (${image.data.length} bytes, ${image.mimeType})`)
    } else {
      yield* Console.log(`image: ${image.data.length} bytes, ${image.mimeType} (--out file.png saves it)`)
    }
    yield* Console.log(summary(result))
  })

const attemptLine = (n: number, route: string, model: string, resolution: string, error: string | undefined, ms: number) =>
  `attempt ${n}: ${route} (${model}) ${resolution} — ${error === undefined ? "ok" : `failed: ${error}`} in ${seconds(ms)}`

const runDemo = (args: Shape & { readonly config: PipelineConfig.PipelineConfig }) =>
  Effect.scoped(Effect.gen(function*() {
    let attempt = 0
    const providers = yield* Demo.providers(Scenario.scenarios.steady, args.config, {
      latency: demoLatencyScale,
      onCall: (call) =>
        Progress.line(attemptLine(++attempt, call.route, call.model, call.resolution, call.error, call.durationMs))
    })
    const pipeline = yield* Pipeline.make(args.config, providers).pipe(
      Effect.catchTag("ConfigError", (error) => CliFailure.failure(error.message))
    )
    yield* generateAndPrint(pipeline.generate, args)
  }))

const imageModels = (config: GatewayConfig) =>
  Object.keys(config.models).filter((name) => config.models[name]!.pipeline.kind !== "text")

const listed = (config: GatewayConfig, names: ReadonlyArray<string>) =>
  names.map((name) => Models.modelLabel(config, name)).join(", ")

/**
 * The configured name of the image model `generate` asks: `--model` (a public
 * name or alias), else the configuration's only image model.
 *
 * @since 0.1.0
 */
export const pickModel = (
  config: GatewayConfig,
  requested: Option.Option<string>
): Effect.Effect<string, CliFailure.CliFailure> => {
  const images = imageModels(config)
  if (Option.isSome(requested)) {
    const name = Models.modelNamed(config, requested.value)
    if (name === undefined) {
      return CliFailure.usage(
        `--model: the configuration has no model "${requested.value}"; its models: ${listed(config, Object.keys(config.models))}`
      )
    }
    if (config.models[name]!.pipeline.kind === "text") {
      return CliFailure.usage(
        `--model: "${requested.value}" is a text model; generate makes images — use a chat client (ballast serve --config, then POST /v1/chat/completions)${
          images.length > 0 ? `; the image models: ${listed(config, images)}` : ""
        }`
      )
    }
    return Effect.succeed(name)
  }
  if (images.length === 1) return Effect.succeed(images[0]!)
  if (images.length === 0) {
    return CliFailure.failure(
      `the configuration has no image model (only text models: ${
        listed(config, Object.keys(config.models))
      }); generate makes images — use a chat client (ballast serve --config, then POST /v1/chat/completions)`
    )
  }
  return CliFailure.usage(`the configuration has several image models; pick one with --model: ${listed(config, images)}`)
}

const runGateway = (args: Shape & { readonly path: string; readonly model: Option.Option<string> }) =>
  Effect.scoped(Effect.gen(function*() {
    const gatewayConfig = yield* Models.loadGatewayConfig(args.path)
    const name = yield* pickModel(gatewayConfig, args.model)
    const settings = gatewayConfig.models[name]!
    // One request: background health probes would only add provider calls (and consume them from a script).
    const pipelineConfig = new PipelineConfig.PipelineConfig({
      ...settings.pipeline,
      health: new PipelineConfig.HealthSettings({ ...settings.pipeline.health, enabled: false })
    })
    const models = yield* Models.buildModels(Models.restrictTo(gatewayConfig, { [name]: { ...settings, pipeline: pipelineConfig } }))
    const built = models.get(name)!
    if (built.kind !== "image") return yield* CliFailure.failure(`model "${name}" is not an image model`)
    const console = yield* Effect.console
    let attempt = 0
    const tracer = Models.attemptTracer(yield* Effect.tracer, (call) =>
      Progress.unsafeLine(
        console,
        attemptLine(
          ++attempt,
          call.route,
          pipelineConfig.routes[call.route]?.model ?? "?",
          call.resolution,
          call.outcome === "success" ? undefined : call.outcome,
          call.durationMs
        )
      ))
    yield* generateAndPrint((request) => Effect.withTracer(built.pipeline.generate(request), tracer), args)
  }))

/**
 * The `generate` command.
 *
 * @since 0.1.0
 */
export const command = Command.make(
  "generate",
  { prompt, resolution, aspectRatio, out, config, model, demo },
  (args) =>
    Effect.gen(function*() {
      if (!args.demo) {
        if (Option.isNone(args.config)) {
          return yield* CliFailure.usage("generate needs --config <gateway configuration> or --demo (simulated providers)")
        }
        const path = args.config.value
        if (!(yield* Models.isGatewayConfig(path))) {
          yield* loadPipelineConfig(path)
          return yield* CliFailure.failure(
            `${path} is a pipeline configuration: it names no providers or keys; generate needs a gateway configuration (the file serve --config takes), or --demo to run this plan on simulated providers`
          )
        }
        return yield* runGateway({ ...args, path })
      }
      if (Option.isSome(args.model)) {
        return yield* CliFailure.usage("--model picks a model of a gateway configuration; it does not go with --demo")
      }
      const pipelineConfig = yield* Option.match(args.config, {
        onNone: () => PipelineConfig.decode(Simulation.referenceConfig).pipe(Effect.orDie),
        onSome: loadPipelineConfig
      })
      yield* runDemo({ ...args, config: pipelineConfig })
    })
).pipe(
  Command.withDescription(
    "Runs one image request in-process — a gateway configuration's model with real providers (--config), or simulated ones (--demo) — with progress on stderr, writes the image to --out and prints route, model, resolution, attempts and latency."
  )
)
