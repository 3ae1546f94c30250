/**
 * `ballast generate "prompt"`: runs one image request through the pipeline
 * in-process, shows progress on stderr (a spinner with the elapsed time, and
 * one line per provider call), writes the image to `--out` (or prints the
 * text description the plan fell back to) and prints where the answer came
 * from: route, model, resolution, attempts and latency.
 *
 * With `--demo` the reference plan (or `--config`'s) runs on simulated
 * providers playing `steady`, twenty times faster than in the field. Real
 * providers are not wired into the CLI yet.
 *
 * @since 0.1.0
 */
import { AspectRatio, ImageRequest, type ImageResult, Pipeline, PipelineConfig, Resolution } from "@ballast/core"
import { Scenario, Simulation } from "@ballast/testing"
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Duration, Effect, Option } from "effect"
import * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig } from "./internal/config.js"
import * as Demo from "./internal/demo.js"
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
  Options.withPseudoName("file"),Options.withDescription("Write the image here (PNG)."), Options.optional)
const config = Options.text("config").pipe(
  Options.withPseudoName("file"),
  Options.withDescription("A pipeline configuration (.yaml, .yml or .json); with --demo, the reference plan by default."),
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

const run = (args: {
  readonly prompt: string
  readonly resolution: Resolution
  readonly aspectRatio: AspectRatio
  readonly out: Option.Option<string>
  readonly config: PipelineConfig.PipelineConfig
}) =>
  Effect.scoped(Effect.gen(function*() {
    let attempt = 0
    const providers = yield* Demo.providers(Scenario.scenarios.steady, args.config, {
      latency: demoLatencyScale,
      onCall: (call) =>
        Progress.line(
          `attempt ${++attempt}: ${call.route} (${call.model}) ${call.resolution} — ${
            call.error === undefined ? "ok" : `failed: ${call.error}`
          } in ${seconds(call.durationMs)}`
        )
    })
    const pipeline = yield* Pipeline.make(args.config, providers).pipe(
      Effect.catchTag("ConfigError", (error) => CliFailure.failure(error.message))
    )
    const request = ImageRequest.make({ prompt: args.prompt, resolution: args.resolution, aspectRatio: args.aspectRatio })
    const result = yield* Effect.scoped(
      Effect.zipRight(Progress.spinner("generating"), pipeline.generate(request))
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
  }))

/**
 * The `generate` command.
 *
 * @since 0.1.0
 */
export const command = Command.make(
  "generate",
  { prompt, resolution, aspectRatio, out, config, demo },
  (args) =>
    Effect.gen(function*() {
      if (!args.demo) {
        if (Option.isNone(args.config)) {
          return yield* CliFailure.usage("generate needs --demo (simulated providers) or --config <file>")
        }
        yield* loadPipelineConfig(args.config.value)
        return yield* CliFailure.failure(
          "generate with real providers is not wired into the CLI yet; --demo runs the plan on simulated providers"
        )
      }
      const pipelineConfig = yield* Option.match(args.config, {
        onNone: () => PipelineConfig.decode(Simulation.referenceConfig).pipe(Effect.orDie),
        onSome: loadPipelineConfig
      })
      yield* run({ ...args, config: pipelineConfig })
    })
).pipe(
  Command.withDescription(
    "Runs one image request through the pipeline with progress on stderr, writes the image to --out and prints route, model, resolution, attempts and latency."
  )
)
