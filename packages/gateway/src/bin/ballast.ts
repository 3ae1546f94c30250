/**
 * The `ballast` binary (`pnpm ballast <command>` from the repository root):
 * runs `Cli.run` on the process's arguments with the Node platform and exits
 * with its code.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit } from "effect"
import * as Cli from "../cli/Cli.js"

NodeRuntime.runMain(Cli.run(process.argv.slice(2)).pipe(Effect.provide(NodeContext.layer)), {
  disableErrorReporting: true,
  // `serve` picks its own log format (JSON lines or readable text); the runtime's pretty logger would double it.
  disablePrettyLogger: true,
  // Interruption (Ctrl-C on `serve`) is how a long-running command is meant to end.
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? typeof exit.value === "number" ? exit.value : 0
        : Cause.isInterruptedOnly(exit.cause) ? 0 : 1
    )
})
