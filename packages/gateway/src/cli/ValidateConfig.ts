/**
 * `ballast validate-config <file>`: reads a pipeline configuration (YAML or
 * JSON) — or a gateway configuration, recognised by its top-level `models` —
 * validates it against its schema and the model-capability table, and prints
 * `valid: N routes, plan a → b → …` (exit 0) or every problem with its path
 * (exit 1).
 *
 * @since 0.1.0
 */
import type { PipelineConfig } from "@ballast/core"
import { Args, Command } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Effect, Predicate } from "effect"
import * as YAML from "yaml"
import * as GatewayConfig from "../GatewayConfig.js"
import * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig, planLine } from "./internal/config.js"

const file = Args.text({ name: "file" }).pipe(Args.withDescription("A pipeline or gateway configuration, .yaml, .yml or .json."))

// A gateway configuration maps public model names to plans under a top-level `models` key. A file that
// cannot be read or parsed here is left to `PipelineConfig.fromFile`, which names the problem.
const isGatewayConfig = (path: string): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  FileSystem.FileSystem.pipe(
    Effect.flatMap((fs) => fs.readFileString(path)),
    Effect.flatMap((text) => Effect.try(() => YAML.parse(text) as unknown)),
    Effect.map((document) => Predicate.isRecord(document) && Object.hasOwn(document, "models")),
    Effect.orElseSucceed(() => false)
  )

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? "" : "s"}`

const aliases = (names: ReadonlyArray<string>) => names.length === 0 ? "" : ` (aliases ${names.join(", ")})`

const describe = (config: PipelineConfig.PipelineConfig) =>
  `${plural(Object.keys(config.routes).length, "route")}, plan ${planLine(config)}`

/**
 * Validates the configuration at `path` — a gateway configuration when it
 * has a top-level `models` key (`GatewayConfig.fromFile`), else a pipeline
 * configuration (`PipelineConfig.fromFile`) — and describes it, or fails (exit
 * code 1) listing every problem with its path.
 *
 * @since 0.1.0
 */
export const validate = (path: string): Effect.Effect<string, CliFailure.CliFailure, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (yield* isGatewayConfig(path)) {
      const gateway = yield* GatewayConfig.fromFile(path).pipe(
        Effect.catchTag("GatewayConfigError", (error) => CliFailure.failure(error.message))
      )
      const models = Object.entries(gateway.models)
      return [
        `valid: gateway configuration, ${plural(models.length, "model")}, ${plural(gateway.keys.length, "virtual key")}`,
        ...models.map(([name, model]) => `  ${name}${aliases(model.aliases)}: ${describe(model.pipeline)}`)
      ].join("\n")
    }
    return `valid: ${describe(yield* loadPipelineConfig(path))}`
  })

/**
 * The `validate-config` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("validate-config", { file }, ({ file }) =>
  Effect.flatMap(validate(file), Console.log)).pipe(
    Command.withDescription(
      "Validates a pipeline or gateway configuration (YAML or JSON): prints the routes and the plan, or every problem with its path (exit code 1)."
    )
  )
