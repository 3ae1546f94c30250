/**
 * The quick-start demo: the reference plan of DESIGN.md on simulated providers
 * playing a named scenario (default `outage-2h`: Gemini 3 Pro Image answers 503
 * for two hours). Hours of simulated traffic run in a fraction of a second
 * on virtual time; every request and every breaker transition is printed.
 *
 *   pnpm demo                        # outage-2h, one request a minute
 *   pnpm demo feb-19 --every 30      # another scenario, one request every 30 s
 */
import { Pipeline, PipelineConfig } from "@ballast/core"
import { Scenario, Simulation, VirtualTime } from "@ballast/testing"
import { Cause, Clock, Console, Duration, Effect, Either, Exit, Option, Random, Stream } from "effect"

const usage = `usage: pnpm demo [${Scenario.names.join("|")}] [--every <seconds>]`
const fail = (message: string): never => {
  console.error(`demo: ${message}\n${usage}`)
  process.exit(2)
}
const args = process.argv.slice(2)
const everyIndex = args.indexOf("--every")
const everyArg = everyIndex >= 0 ? args[everyIndex + 1] : "60"
const everySeconds = Number(everyArg)
if (everyArg === undefined || !Number.isFinite(everySeconds) || everySeconds <= 0) {
  fail(`--every takes a positive number of seconds, got ${everyArg === undefined ? "nothing" : `"${everyArg}"`}`)
}
const positional = args.filter((arg, i) => !arg.startsWith("--") && (everyIndex < 0 || i !== everyIndex + 1))
const unknownFlag = args.find((arg) => arg.startsWith("--") && arg !== "--every")
if (unknownFlag !== undefined) fail(`unknown option ${unknownFlag}`)
const scenario = Either.getOrElse(Scenario.get(positional[0] ?? "outage-2h"), (message) => fail(message))

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`.padStart(7)
const percent = (x: number) => `${(x * 100).toFixed(2)}%`

const program = Effect.gen(function*() {
  const config = yield* PipelineConfig.decode(Simulation.referenceConfig)
  const providers = yield* Simulation.providers(scenario, config)
  const pipeline = yield* Pipeline.make(config, providers)

  yield* Console.log(`Ballast demo — scenario "${scenario.name}": ${scenario.description}`)
  yield* Console.log(
    `plan: ${config.plan.map((entry) => ("describe" in entry ? `describe(${entry.describe})` : entry.route)).join(" → ")}`
  )
  yield* Console.log(`one 4K 16:9 request every ${everySeconds}s for ${Duration.format(scenario.duration)} (simulated)\n`)

  // Print every breaker transition and every change of a route's health (from the background probes) as it
  // happens, stamped with the simulated time.
  const start = Date.now()
  const simulatedStart = yield* Clock.currentTimeMillis
  const now = Effect.map(Clock.currentTimeMillis, (ms) => clock(ms - simulatedStart))
  for (const [route, breaker] of pipeline.breakers) {
    yield* breaker.transitions.pipe(
      Stream.runForEach((t) => Effect.flatMap(now, (at) => Console.log(`[${at}]   ⚡ breaker ${route}: ${t.from} → ${t.to}`))),
      Effect.forkScoped
    )
  }
  if (Option.isSome(pipeline.health)) {
    // Only going down and coming back: a route that fails 5% of its probes goes "degraded" now and then.
    const previous = new Map<string, string>()
    yield* pipeline.health.value.changes.pipe(
      Stream.runForEach((h) => {
        const was = previous.get(h.route) ?? "healthy"
        previous.set(h.route, h.status)
        return h.status === "down" || was === "down"
          ? Effect.flatMap(now, (at) => Console.log(`[${at}]   ♥ health  ${h.route}: ${was} → ${h.status}`))
          : Effect.void
      }),
      Effect.forkScoped
    )
  }

  const outcomes = yield* Simulation.run({
    generate: pipeline.generate,
    duration: scenario.duration,
    interval: Duration.seconds(everySeconds),
    onOutcome: (outcome) =>
      Console.log(
        `[${clock(outcome.sentAt)}] #${String(outcome.index).padEnd(4)} ` +
          Either.match(outcome.result, {
            onLeft: (error) => `FAILED ${error._tag}: ${error.message}`,
            onRight: (result) =>
              `${`${result.route}@${result.resolution}`.padEnd(22)} attempts=${result.attempts}` +
              ` ${result.degraded ? "degraded" : "full    "} ${seconds(outcome.latency)}`
          })
      )
  })
  const summary = Simulation.summarize(outcomes, { providerCalls: yield* providers.providerCalls })
  const probes = Option.isSome(pipeline.health)
    ? (yield* pipeline.health.value.snapshot).reduce((sum, route) => sum + route.probes, 0)
    : 0
  yield* Console.log(`
summary (${summary.requests} requests, ${((Date.now() - start) / 1000).toFixed(2)}s of real time)
  answered        ${summary.answered} (${percent(summary.successRate)})
  degraded        ${percent(summary.degradedShare)} of answers (${summary.descriptions} text descriptions)
  latency         p50 ${seconds(summary.p50)}  p95 ${seconds(summary.p95)}  p99 ${seconds(summary.p99)}
  provider calls  ${summary.providerCalls} (${summary.callsPerAnswer.toFixed(2)} per answer), and ${probes} health probes
  answered by     ${Object.entries(summary.byRoute).map(([route, n]) => `${route} ${n}`).join(", ")}
  failures        ${Object.keys(summary.byError).length === 0 ? "none" : JSON.stringify(summary.byError)}`)
})

const exit = VirtualTime.run(Effect.scoped(program).pipe(Effect.withRandom(Random.make("ballast-demo"))))
if (Exit.isFailure(exit)) {
  console.error(Cause.pretty(exit.cause))
  process.exitCode = 1
}
