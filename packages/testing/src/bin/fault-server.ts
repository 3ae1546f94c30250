/**
 * The fault server as a standalone command, playing a named scenario on the
 * real clock:
 *
 *     pnpm exec tsx packages/testing/src/bin/fault-server.ts --port 8787 --scenario outage-2h [--latency-scale 0.01] [--host 127.0.0.1]
 *
 * Without `--scenario` every request answers "ok". Prints the URL, runs until SIGINT / SIGTERM.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Either, Exit, Fiber } from "effect"
import * as FaultServer from "../FaultServer.js"
import * as Scenario from "../Scenario.js"

const usage = "usage: fault-server [--port <n>] [--host <address>] [--scenario <" + Scenario.names.join("|") +
  ">] [--latency-scale <x>]"

const parse = (args: ReadonlyArray<string>): Either.Either<Record<string, string>, string> => {
  const flags: Record<string, string> = {}
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!
    const value = args[i + 1]
    if (!["--port", "--host", "--scenario", "--latency-scale"].includes(flag) || value === undefined) {
      return Either.left(`unknown or incomplete flag ${flag}\n${usage}`)
    }
    flags[flag.slice(2)] = value
  }
  return Either.right(flags)
}

const number = (value: string | undefined, name: string, fallback: number): Either.Either<number, string> => {
  if (value === undefined) return Either.right(fallback)
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? Either.right(n) : Either.left(`--${name} must be a non-negative number`)
}

const program = Effect.gen(function*() {
  const flags = yield* parse(process.argv.slice(2))
  const port = yield* number(flags["port"], "port", 0)
  const latencyScale = yield* number(flags["latency-scale"], "latency-scale", 1)
  const scenarioName = flags["scenario"]
  const scenario = scenarioName === undefined ? undefined : yield* Scenario.get(scenarioName)
  const server = yield* FaultServer.make({
    port,
    ...(flags["host"] === undefined ? {} : { host: flags["host"] }),
    ...(scenario === undefined ? {} : { fallback: FaultServer.fromScenario(scenario, { latencyScale }) })
  })
  yield* Effect.sync(() =>
    console.log(`fault server listening on ${server.url}${scenario === undefined ? "" : ` (scenario ${scenario.name})`}`)
  )
  return yield* Effect.never
}).pipe(Effect.scoped)

const fiber = Effect.runFork(program)
const stop = () => Effect.runFork(Fiber.interrupt(fiber))
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !Exit.isInterrupted(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
})
