/**
 * Per-call overhead of the Ballast pipeline on the success path, against the
 * bare provider call and against cockatiel's `wrap(retry, circuitBreaker,
 * timeout)`, all measured in the same run on a zero-latency provider.
 *
 *   pnpm bench                                  # from the repository root
 *   BENCH_CALLS=5000 BENCH_ROUNDS=3 pnpm bench  # quicker, noisier
 *
 * Variants (every one is awaited/yielded call after call, never concurrently):
 *
 * - bare (Promise)    `await provider()`, a Promise-returning provider.
 * - bare (Effect)     `ImageGenerator.make(…).generate(request)`, N calls inside one `Effect.runPromise`.
 * - cockatiel         `wrap(retry, circuitBreaker, timeout).execute(() => provider())`, awaited per call.
 * - ballast Promise   `createImageClient(…).generate(plainRequest)`, awaited per call: request
 *                     decoding and one runtime entry (`runPromiseExit`) per call on top of the pipeline.
 * - ballast Effect    the pipeline's `generate`, N calls inside one `Effect.runPromise`: the way an
 *                     Effect backend uses it, and the like-for-like comparison of the policies' cost.
 *
 * The pipeline has one route and a one-step plan with the default retry (5
 * attempts), retry budget, circuit breaker and 120 s deadline, so every policy
 * is on the path. Each round runs every variant once, in a rotated order, after
 * a full GC; the figures are medians over the rounds. This prints figures, it
 * is not a test: nothing here passes or fails.
 */
import { createImageClient, GeneratedImage, ImageGenerator, ImageRequest, Pipeline, PipelineConfig } from "@ballast/core"
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Duration, Effect, Layer, Scope } from "effect"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import * as vm from "node:vm"

const envInt = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

const CALLS = envInt("BENCH_CALLS", 20_000)
const ROUNDS = envInt("BENCH_ROUNDS", 7)
const WARMUP_ROUNDS = envInt("BENCH_WARMUP_ROUNDS", 2)

// A full GC before each measured batch, so that no variant pays for the garbage
// of the one before it. `--expose-gc` can be turned on at run time.
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

// ---------------------------------------------------------------------------
// The provider: answers at once with one tiny image
// ---------------------------------------------------------------------------

const ROUTE = "flash"
const PROVIDER = "google"
const MODEL = "gemini-3.1-flash-image-preview"

const image = GeneratedImage.make({ data: Uint8Array.of(137, 80, 78, 71), mimeType: "image/png" })
const output: ImageGenerator.Output = { images: [image] }

const effectProvider = ImageGenerator.make({
  provider: PROVIDER,
  model: MODEL,
  route: ROUTE,
  generate: () => Effect.succeed(output)
})

interface PlainResult {
  readonly images: ReadonlyArray<GeneratedImage>
  readonly route: string
  readonly provider: string
  readonly model: string
  readonly resolution: string
  readonly attempts: number
}

// The Promise-world twin of `effectProvider`: a fresh result per call.
const promiseProvider = (): Promise<PlainResult> =>
  Promise.resolve({ images: output.images, route: ROUTE, provider: PROVIDER, model: MODEL, resolution: "1K", attempts: 1 })

// ---------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------

const config = {
  routes: { [ROUTE]: { provider: PROVIDER, model: MODEL } },
  plan: [{ route: ROUTE }]
} as const

const plainRequest = { prompt: "a lighthouse at dusk", resolution: "1K", aspectRatio: "1:1" } as const
const request = ImageRequest.make(plainRequest)

const cockatielPolicy = wrap(
  retry(handleAll, { maxAttempts: 4, backoff: new ExponentialBackoff() }),
  circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
  timeout(120_000, TimeoutStrategy.Aggressive)
)

const client = createImageClient(config, { image: { [ROUTE]: Layer.succeed(ImageGenerator, effectProvider) } })

const decodedConfig = await Effect.runPromise(PipelineConfig.decode(config))
// The pipeline lives as long as the process: its scope is never closed.
const pipeline = await Effect.runPromise(
  Effect.flatMap(Scope.make(), (scope) => Scope.extend(Pipeline.make(decodedConfig, { image: { [ROUTE]: effectProvider } }), scope))
)

// ---------------------------------------------------------------------------
// Variants: each runs `n` sequential calls
// ---------------------------------------------------------------------------

interface Variant {
  readonly name: string
  readonly label: string
  readonly run: (n: number) => Promise<void>
}

let sink: unknown

const effectLoop = (generate: (request: ImageRequest) => Effect.Effect<unknown, unknown>) => (n: number) =>
  Effect.runPromise(Effect.gen(function*() {
    for (let i = 0; i < n; i++) sink = yield* generate(request)
  }))

const variants: ReadonlyArray<Variant> = [
  {
    name: "bare-promise",
    label: "bare provider (Promise)",
    run: async (n) => {
      for (let i = 0; i < n; i++) sink = await promiseProvider()
    }
  },
  {
    name: "bare-effect",
    label: "bare provider (Effect)",
    run: effectLoop(effectProvider.generate)
  },
  {
    name: "cockatiel",
    label: "cockatiel wrap(retry,cb,timeout)",
    run: async (n) => {
      for (let i = 0; i < n; i++) sink = await cockatielPolicy.execute(() => promiseProvider())
    }
  },
  {
    name: "ballast-promise",
    label: "ballast Promise facade",
    run: async (n) => {
      for (let i = 0; i < n; i++) sink = await client.generate(plainRequest)
    }
  },
  {
    name: "ballast-effect",
    label: "ballast Effect-native",
    run: effectLoop(pipeline.generate)
  }
]

// ---------------------------------------------------------------------------
// Sanity: every variant is on the success path
// ---------------------------------------------------------------------------

const viaClient = await client.generate(plainRequest)
const viaPipeline = await Effect.runPromise(pipeline.generate(request))
const viaCockatiel = await cockatielPolicy.execute(() => promiseProvider())
for (const [name, result] of [["facade", viaClient], ["pipeline", viaPipeline], ["cockatiel", viaCockatiel]] as const) {
  if (result.route !== ROUTE || result.attempts !== 1 || result.images.length !== 1) {
    throw new Error(`${name} is not on the success path: ${JSON.stringify(result)}`)
  }
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

const measure = async (variant: Variant, n: number): Promise<number> => {
  gc()
  const start = performance.now()
  await variant.run(n)
  const elapsed = performance.now() - start
  return (elapsed * 1000) / n // µs per call
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const rotated = <A>(xs: ReadonlyArray<A>, by: number): ReadonlyArray<A> =>
  xs.map((_, i) => xs[(i + by) % xs.length]!)

const loadBefore = os.loadavg()

for (let round = 0; round < WARMUP_ROUNDS; round++) {
  for (const variant of rotated(variants, round)) await measure(variant, CALLS)
}

const samples = new Map<string, Array<number>>(variants.map((variant) => [variant.name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of rotated(variants, round)) samples.get(variant.name)!.push(await measure(variant, CALLS))
}

const loadAfter = os.loadavg()

// The breaker never saw a failure, so every measured call went through the closed breaker.
const breakerState = await Effect.runPromise(pipeline.breakers.get(ROUTE)!.state)
const facadeBreakerState = await client.pipeline().then((p) => Effect.runPromise(p.breakers.get(ROUTE)!.state))
await client.close()

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const med = (name: string) => median(samples.get(name)!)
// Ratios of two variants measured side by side in the same round, then the median over rounds.
const pairedRatio = (a: string, b: string) =>
  median(samples.get(a)!.map((x, i) => x / samples.get(b)![i]!))

const bareFor: Record<string, string> = {
  "bare-promise": "bare-promise",
  "bare-effect": "bare-effect",
  cockatiel: "bare-promise",
  "ballast-promise": "bare-promise",
  "ballast-effect": "bare-effect"
}

const fmt = (x: number, digits = 2) => x.toFixed(digits)
const cpus = os.cpus()

console.log(`Ballast pipeline overhead — success path, zero-latency provider`)
console.log(
  `node ${process.version} (${process.platform}/${process.arch}), ${cpus.length} × ${cpus[0]?.model.trim() ?? "?"}`
)
console.log(
  `${ROUNDS} rounds × ${CALLS} sequential calls per variant (after ${WARMUP_ROUNDS} warm-up rounds), ` +
    `rotated order, GC before each batch; medians over rounds`
)
console.log(
  `load average (1/5/15 min): before ${loadBefore.map((x) => fmt(x)).join(" ")}, after ${
    loadAfter.map((x) => fmt(x)).join(" ")
  }${loadAfter[0]! > cpus.length * 0.5 ? "  — busy machine, expect noise" : ""}`
)
const { breaker, retry: retrySettings } = decodedConfig
console.log(
  `pipeline: 1 route, 1-step plan, retry ${retrySettings.attempts} attempts, breaker (${breaker.consecutiveFailures} ` +
    `consecutive / ${breaker.failureRatio} ratio), deadline ${Duration.format(decodedConfig.deadline)}; ` +
    `breakers after the run: ${breakerState._tag} / ${facadeBreakerState._tag}`
)
console.log()

const header = [
  "variant".padEnd(34),
  "median".padStart(8),
  "min".padStart(8),
  "max".padStart(8),
  "over bare".padStart(10),
  "vs cockatiel".padStart(13)
].join("")
console.log(`${header}\n${" ".repeat(34)}${"µs/op".padStart(8)}${"µs/op".padStart(8)}${"µs/op".padStart(8)}${"µs".padStart(10)}`)
console.log("-".repeat(header.length))
for (const variant of variants) {
  const xs = samples.get(variant.name)!
  const bare = bareFor[variant.name]!
  const over = variant.name === bare ? "" : `+${fmt(med(variant.name) - med(bare))}`
  const vs = variant.name.startsWith("bare") ? "" : `${fmt(pairedRatio(variant.name, "cockatiel"))}×`
  console.log(
    [
      variant.label.padEnd(34),
      fmt(med(variant.name)).padStart(8),
      fmt(Math.min(...xs)).padStart(8),
      fmt(Math.max(...xs)).padStart(8),
      over.padStart(10),
      vs.padStart(13)
    ].join("")
  )
}
console.log()

const ratioEffect = pairedRatio("ballast-effect", "cockatiel")
const ratioFacade = pairedRatio("ballast-promise", "cockatiel")
const overheadCockatiel = med("cockatiel") - med("bare-promise")
const overheadEffect = med("ballast-effect") - med("bare-effect")
const overheadFacade = med("ballast-promise") - med("bare-promise")
console.log(
  `ratio ballast/cockatiel: Effect-native ${fmt(ratioEffect)}×, Promise facade ${fmt(ratioFacade)}× ` +
    `(median of per-round ratios)`
)
console.log(
  `overhead over bare: cockatiel +${fmt(overheadCockatiel)} µs, ballast Effect-native +${fmt(overheadEffect)} µs ` +
    `(${fmt(overheadEffect / overheadCockatiel)}× cockatiel's), ballast Promise facade +${fmt(overheadFacade)} µs ` +
    `(${fmt(overheadFacade / overheadCockatiel)}×) per call`
)
console.log()

const verdict = (met: boolean) => (met ? "MET   " : "MISSED")
console.log(
  `goal "no slower than cockatiel (ratio ≤ 1.0)": ${verdict(ratioEffect <= 1)} Effect-native ${fmt(ratioEffect)}×; ` +
    `${verdict(ratioFacade <= 1).trim()} Promise facade ${fmt(ratioFacade)}×`
)
console.log(
  `goal "≤ 20 µs per call":                      ${verdict(med("ballast-effect") <= 20)} Effect-native ${
    fmt(med("ballast-effect"))
  } µs/op (+${fmt(overheadEffect)} over bare); ${verdict(med("ballast-promise") <= 20).trim()} Promise facade ${
    fmt(med("ballast-promise"))
  } µs/op (+${fmt(overheadFacade)})`
)

void sink
