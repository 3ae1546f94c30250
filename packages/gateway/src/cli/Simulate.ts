/**
 * `ballast simulate`: plays a named outage scenario on virtual time through
 * each strategy (`Strategies.simulate` of `@ballast/testing`) and prints their
 * figures side by side.
 *
 *     ballast simulate --scenario outage-2h [--strategy <name>|all] [--requests-per-minute 6] [--seed 1] [--json|--markdown]
 *
 * @since 0.1.0
 */
import { Scenario, SimulationTable, Strategies } from "@ballast/testing"
import { Command, Options, type ValidationError } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import * as CliFailure from "./CliFailure.js"

const scenario = Options.text("scenario").pipe(
  Options.withPseudoName("name"),
  Options.withDescription(`The scenario to play, one of: ${Scenario.names.join(", ")}.`),
  // The parsed value is the name, a plain string, so that the command's type can be named outside this package.
  Options.mapEffect((name) =>
    Either.match(Scenario.get(name), { onLeft: CliFailure.invalidValue, onRight: () => Effect.succeed(name) })
  )
)

const strategy = Options.text("strategy").pipe(
  Options.withPseudoName("name|all"),
  Options.withDescription(`The strategy to run, one of: ${Strategies.strategyNames.join(", ")}, or all.`),
  Options.withDefault("all"),
  Options.mapEffect((name): Effect.Effect<string, ValidationError.ValidationError> =>
    name === "all" || Strategies.isStrategyName(name)
      ? Effect.succeed(name)
      : CliFailure.invalidValue(
        `Unknown strategy "${name}"; expected one of: ${Strategies.strategyNames.join(", ")}, all`
      )
  )
)

const requestsPerMinute = Options.text("requests-per-minute").pipe(
  Options.withPseudoName("n"),
  Options.withDescription("Requests sent per minute (4K, 16:9), a positive number."),
  Options.withDefault("6"),
  Options.mapEffect((text) => {
    const rate = Number(text)
    return /^\s*[0-9.eE+]+\s*$/.test(text) && Number.isFinite(rate) && rate > 0
      ? Effect.succeed(rate)
      : CliFailure.invalidValue(`--requests-per-minute must be a positive number, got "${text}"`)
  })
)

const seed = Options.text("seed").pipe(
  Options.withPseudoName("n"),
  Options.withDescription("Seeds the randomness: the same seed prints the same table."),
  Options.withDefault("1"),
  Options.mapEffect((text) => {
    const value = Number(text)
    return /^-?[0-9]+$/.test(text) && Number.isSafeInteger(value)
      ? Effect.succeed(value)
      : CliFailure.invalidValue(`--seed must be an integer, got "${text}"`)
  })
)

const json = Options.boolean("json").pipe(Options.withDescription("Print the rows as JSON."))
const markdown = Options.boolean("markdown").pipe(Options.withDescription("Print a Markdown table."))

/**
 * The `simulate` command.
 *
 * @since 0.1.0
 */
export const command = Command.make(
  "simulate",
  { scenario, strategy, requestsPerMinute, seed, json, markdown },
  (args) =>
    Effect.gen(function*() {
      const scenario = Scenario.scenarios[args.scenario as Scenario.ScenarioName]
      const strategies = Strategies.strategyNames.filter((name) => args.strategy === "all" || args.strategy === name)
      if (args.json && args.markdown) return yield* CliFailure.usage("--json and --markdown exclude each other")
      const style: SimulationTable.Style = args.json ? "json" : args.markdown ? "markdown" : "table"
      const rows = yield* Effect.sync(() =>
        strategies.map((strategy) =>
          Strategies.simulate({
            scenario,
            strategy,
            requestsPerMinute: args.requestsPerMinute,
            seed: args.seed
          })
        )
      )
      if (style !== "json") yield* Console.log(SimulationTable.heading(scenario, args.requestsPerMinute, args.seed))
      yield* Console.log(SimulationTable.format(rows, scenario, style))
    })
).pipe(
  Command.withDescription(
    "Plays a named outage scenario (for its own duration) on virtual time, sending 4K 16:9 image " +
      "requests at the given rate through each strategy, and prints one row per strategy.\n\n" +
      SimulationTable.legend
  )
)
