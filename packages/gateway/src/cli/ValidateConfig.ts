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
import { Console, Effect } from "effect"
import * as GatewayConfig from "../GatewayConfig.js"
import type * as CliFailure from "./CliFailure.js"
import { loadPipelineConfig, planLine } from "./internal/config.js"
import { isGatewayConfig, loadGatewayConfig } from "./internal/gateway.js"

const file = Args.text({ name: "file" }).pipe(Args.withDescription("A pipeline or gateway configuration, .yaml, .yml or .json."))

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
      const gateway = yield* loadGatewayConfig(path)
      const models = Object.entries(gateway.models)
      return [
        `valid: gateway configuration, ${plural(models.length, "model")}, ${plural(gateway.keys.length, "virtual key")}`,
        ...models.map(([name, model]) => `  ${name}${aliases(model.aliases)}: ${describe(model.pipeline)}`),
        ...(gateway.batch === undefined ? [] : [
          `  batch queue: ${gateway.batch.db ?? `the database in $${gateway.batch.dbEnv}`}${
            gateway.batch.worker === undefined
              ? " (no worker in the gateway)"
              : `, worked by the gateway on ${GatewayConfig.batchModel(gateway)} (concurrency ${gateway.batch.worker.concurrency}${
                gateway.batch.worker.ignoreWindow ? ", window ignored" : ""
              })`
          }`
        ])
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
