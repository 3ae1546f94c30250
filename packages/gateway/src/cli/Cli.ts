/**
 * The `ballast` command line: `simulate`, `validate-config`, `routes`,
 * `generate` and `serve`, built with `@effect/cli`. `run` runs it on a list of
 * arguments and returns the exit code, so tests run it in-process and only
 * the bin touches the process.
 *
 * Exit codes: 0 success, 1 the command failed (an invalid configuration, a
 * failed generation), 2 bad usage (an unknown command, option or value — the
 * message lists the valid ones).
 *
 * @since 0.1.0
 */
import { type CliApp, Command, ValidationError } from "@effect/cli"
import { Console, Effect } from "effect"
import * as Batch from "./Batch.js"
import * as CliFailure from "./CliFailure.js"
import * as Generate from "./Generate.js"
import * as Routes from "./Routes.js"
import * as Serve from "./Serve.js"
import * as Simulate from "./Simulate.js"
import * as ValidateConfig from "./ValidateConfig.js"

/**
 * The names of the subcommands.
 *
 * @since 0.1.0
 */
export const commandNames: ReadonlyArray<string> = ["simulate", "validate-config", "routes", "generate", "serve", "batch"]

/**
 * The root `ballast` command and its subcommands.
 *
 * @since 0.1.0
 */
export const command = Command.make("ballast", {}, () =>
  CliFailure.usage(`missing command; expected one of: ${commandNames.join(", ")} (ballast --help for more)`)).pipe(
    Command.withDescription("Ballast keeps AI image and text generation working when providers do not."),
    Command.withSubcommands([
      Simulate.command,
      ValidateConfig.command,
      Routes.command,
      Generate.command,
      Serve.command,
      Batch.command
    ])
  )

const cli = Command.run(command, { name: "ballast", version: "0.1.0" })

/**
 * Runs the command line (the arguments after `ballast`) and returns the exit
 * code: 0, 1 when the command failed, 2 for bad usage. Output goes to the
 * `Console` (errors with `Console.error`), so a test can capture it.
 *
 * @since 0.1.0
 * @example
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Cli from "./cli/Cli.js"
 *
 * // 0, after printing the table
 * const code = Cli.run(["simulate", "--scenario", "outage-2h"]).pipe(Effect.provide(NodeContext.layer))
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  cli(["node", "ballast", ...argv]).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      // @effect/cli has already printed a validation error (with the valid values).
      ValidationError.isValidationError(error)
        ? Effect.succeed(2)
        : error instanceof CliFailure.CliFailure
        ? Effect.as(Console.error(error.message), error.exitCode)
        : Effect.as(Console.error(`ballast: ${String(error)}`), 1)
    )
  )
