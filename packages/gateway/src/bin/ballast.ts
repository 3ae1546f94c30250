/**
 * The `ballast` binary (`pnpm ballast <command>` from the repository root):
 * runs `Cli.run` on the process's arguments with the Node platform and exits
 * with its code.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import * as Cli from "../cli/Cli.js"

NodeRuntime.runMain(Cli.run(process.argv.slice(2)).pipe(Effect.provide(NodeContext.layer)), {
  disableErrorReporting: true,
  // Interruption (Ctrl-C on `serve`) is how a long-running command is meant to end.
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? typeof exit.value === "number" ? exit.value : 0
        : Cause.isInterruptedOnly(exit.cause) ? 0 : 1
    )
})
