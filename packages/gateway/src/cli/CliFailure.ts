/**
 * How a `ballast` command fails: one clear message for stderr and the exit
 * code the process ends with. `Cli.run` prints the message; only the bin
 * turns the code into the process's exit status.
 *
 * @since 0.1.0
 */
import { HelpDoc, ValidationError } from "@effect/cli"
import { Data, Effect } from "effect"

/**
 * A command failed: `message` goes to stderr, `exitCode` is the process's
 * exit status (1 for a failure, 2 for bad usage).
 *
 * @since 0.1.0
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: number
}> {}

/**
 * Fails with exit code 1: the command ran and what it checked or did failed.
 *
 * @since 0.1.0
 */
export const failure = (message: string): Effect.Effect<never, CliFailure> =>
  Effect.fail(new CliFailure({ message, exitCode: 1 }))

/**
 * Fails with exit code 2: the command line itself is wrong.
 *
 * @since 0.1.0
 */
export const usage = (message: string): Effect.Effect<never, CliFailure> =>
  Effect.fail(new CliFailure({ message, exitCode: 2 }))

/**
 * A flag's value is invalid, as an `@effect/cli` validation error (which
 * `@effect/cli` prints and `Cli.run` turns into exit code 2). For
 * `Options.mapEffect`.
 *
 * @since 0.1.0
 */
export const invalidValue = (message: string): Effect.Effect<never, ValidationError.ValidationError> =>
  Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))
