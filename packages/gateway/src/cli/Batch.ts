/**
 * `ballast batch`: the durable off-peak batch queue (`@ballast/batch`) from
 * the command line.
 *
 * - `submit jobs.jsonl [--db file|url]` queues one job per line (bad lines
 *   are reported with their numbers; the good ones are accepted);
 * - `work [--db] [--now] [--drain] [--demo | --config file [--model name]]`
 *   runs a worker: jobs run inside the off-peak window (02:00–07:00
 *   America/Los_Angeles) unless `--now`; `--demo` runs them on simulated
 *   providers (the fault server behind the real SDKs) with the window treated
 *   as open, and stops when the queue is drained;
 * - `status [--db] [--json]` counts jobs per state (a progress bar on a
 *   terminal);
 * - `results --out dir [--db]` writes one image file per succeeded job.
 *
 * `--db` is a SQLite file (default `ballast-batch.db` in the working
 * directory) or a `postgres://` URL; images live beside a SQLite file
 * (`<file>.images/`), or in `ballast-batch-images/` for PostgreSQL, unless
 * `--images` says otherwise.
 *
 * @since 0.1.0
 */
import { BatchPipeline, BatchQueue, Job, JobStore, Results, SqlStore, Window, Worker } from "@ballast/batch"
import { ImageGenerator, PeakWindows } from "@ballast/core"
import { FaultServer, Scenario } from "@ballast/testing"
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { ConfigProvider, Console, DateTime, Effect, Either, Layer, Option, Stream } from "effect"
import * as Demo from "../Demo.js"
import type { GatewayConfig } from "../GatewayConfig.js"
import * as CliFailure from "./CliFailure.js"
import { pickModel } from "./Generate.js"
import * as Models from "./internal/gateway.js"
import * as Progress from "./internal/progress.js"

/**
 * The database `--db` names when it is not given.
 *
 * @since 0.1.0
 */
export const defaultDatabase = "ballast-batch.db"

const db = Options.text("db").pipe(
  Options.withPseudoName("file|url"),
  Options.withDescription(`A SQLite file (created when missing) or a postgres:// URL (default ${defaultDatabase}).`),
  Options.withDefault(defaultDatabase)
)
const images = Options.text("images").pipe(
  Options.withPseudoName("dir"),
  Options.withDescription("Where workers write images (default: <db>.images beside a SQLite file, ballast-batch-images for PostgreSQL)."),
  Options.optional
)

/**
 * A `--db` value fit to print: a URL's password is masked.
 *
 * @since 0.1.0
 */
export const displayDatabase = (location: string): string =>
  SqlStore.isPostgresUrl(location) ? location.replace(/^(\w+:\/\/[^:/@]+):[^@]*@/, "$1:***@") : location

const storeLayer = (location: string) =>
  SqlStore.layerFor(location).pipe(
    Layer.catchAll((error) =>
      Layer.fail(new CliFailure.CliFailure({ message: `cannot open ${displayDatabase(location)}: ${error.message}`, exitCode: 1 }))
    )
  )

const storeFailure = (error: JobStore.JobStoreError) => CliFailure.failure(`the job store failed: ${error.message}`)

const imagesDirectory = (location: string, given: Option.Option<string>) =>
  Option.getOrElse(given, () => Results.defaultDirectory(location, SqlStore.isPostgresUrl(location)))

const resultsLayer = (directory: string) =>
  Results.layer({ directory }).pipe(
    Layer.catchAll((error) => Layer.fail(new CliFailure.CliFailure({ message: error.message, exitCode: 1 })))
  )

const policy = Window.defaultPolicy

/** An instant as local time in the window's time zone, and as ISO. */
const localTime = (at: DateTime.DateTime): string => {
  const zoned = DateTime.unsafeMakeZoned(at, { timeZone: policy.schedule.timeZone })
  return `${DateTime.formatIsoZoned(zoned).slice(0, 16).replace("T", " ")} ${policy.schedule.timeZone}`
}

// ---------------------------------------------------------------------------
// submit
// ---------------------------------------------------------------------------

/** Lines submitted per transaction, so that a file of any size is read with flat memory. */
const submitChunk = 1_000

/** Receipts printed one per line up to this many jobs; beyond, only the summary. */
const receiptsShown = 20

const submit = Command.make(
  "submit",
  { file: Args.file({ name: "jobs.jsonl", exists: "yes" }), db },
  (args) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const queue = yield* BatchQueue.BatchQueue
      const bad: Array<string> = []
      let accepted = 0
      let duplicates = 0
      let last: Option.Option<DateTime.Utc> = Option.none()
      const shown: Array<string> = []
      // The file is read as a stream of lines, `submitChunk` at a time: memory stays flat whatever its size.
      const lines = fs.stream(args.file).pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.zipWithIndex,
        Stream.grouped(submitChunk)
      )
      yield* Stream.runForEach(lines, (chunk) =>
        Effect.gen(function*() {
          const good: Array<{ readonly line: number; readonly submission: Job.Submission }> = []
          for (const [raw, index] of chunk) {
            if (raw.trim() === "") continue
            Either.match(Job.decodeLine(raw), {
              onLeft: (message) => bad.push(`line ${index + 1}: ${message}`),
              onRight: (submission) => good.push({ line: index + 1, submission })
            })
          }
          const receipts = yield* queue.submitAll(good.map((g) => g.submission))
          receipts.forEach((receipt, i) => {
            if (receipt.duplicate) duplicates++
            else accepted++
            last = Option.some(receipt.estimatedCompletion)
            if (shown.length <= receiptsShown) {
              shown.push(
                `line ${good[i]!.line}: ${receipt.id}${receipt.duplicate ? " (already submitted)" : ""}, done by about ${
                  localTime(receipt.estimatedCompletion)
                }`
              )
            }
          })
        })).pipe(Effect.catchTag("SystemError", "BadArgument", (error) =>
          CliFailure.failure(`cannot read ${args.file}: ${error.message}`)))
      if (accepted + duplicates <= receiptsShown) for (const line of shown) yield* Console.log(line)
      for (const line of bad) yield* Console.error(line)
      const estimate = Option.match(last, {
        onNone: () => "",
        onSome: (at) => `; the last should be done by about ${localTime(at)}`
      })
      yield* Console.log(
        `submitted ${accepted} job(s) to ${displayDatabase(args.db)}${
          duplicates > 0 ? ` (${duplicates} more already submitted with the same idempotency key)` : ""
        }${estimate}`
      )
      if (bad.length > 0) {
        return yield* CliFailure.failure(`${bad.length} bad line(s) in ${args.file} were not submitted (listed above)`)
      }
    }).pipe(
      Effect.catchTag("JobStoreError", storeFailure),
      Effect.provide(BatchQueue.layer({ policy }).pipe(Layer.provideMerge(storeLayer(args.db))))
    )
).pipe(
  Command.withDescription(
    "Queues one job per line of a JSON Lines file: an image request's fields (prompt, resolution, aspectRatio, n) and optional priority, deadline and idempotencyKey. Bad lines are reported with their numbers; the good ones are accepted."
  )
)

// ---------------------------------------------------------------------------
// work
// ---------------------------------------------------------------------------

/** The gateway configuration reduced to one image model, its pipeline made for batch work. */
const batchModel = (config: GatewayConfig, name: string): GatewayConfig => {
  const settings = config.models[name]!
  return Models.restrictTo(config, { [name]: { ...settings, pipeline: BatchPipeline.config(settings.pipeline) } })
}

/** The demo's fault server (playing `steady`, latencies 1/100 of the field's) and its image model, built in-process. */
const demoGenerator = Effect.gen(function*() {
  const faultServer = yield* FaultServer.make({
    fallback: FaultServer.fromScenario(Scenario.scenarios.steady, { latencyScale: 0.01 })
  })
  const document = Demo.document(faultServer.url)
  const config = yield* Demo.config(faultServer.url).pipe(Effect.orDie)
  // The demo's providers read keys from variables the fault server ignores.
  const keys = new Map(Object.values(document.providers).map((provider) => [provider.apiKeyEnv, "ballast-demo"] as const))
  const models = yield* Models.buildModels(batchModel(config, Demo.model)).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(keys))
  )
  return models.get(Demo.model)!
})

const configGenerator = (path: string, model: Option.Option<string>) =>
  Effect.gen(function*() {
    const config = yield* Models.loadGatewayConfig(path)
    const name = yield* pickModel(config, model)
    const models = yield* Models.buildModels(batchModel(config, name))
    return models.get(name)!
  })

const describeSummary = (summary: Worker.Summary): string =>
  `${summary.succeeded} succeeded, ${summary.rescheduled} rescheduled, ${summary.failed} failed, ${summary.dead} dead` +
  (summary.lost > 0 ? `, ${summary.lost} lost their lease` : "")

const work = Command.make(
  "work",
  {
    db,
    images,
    now: Options.boolean("now").pipe(Options.withDescription("Run jobs now, ignoring the off-peak window.")),
    drain: Options.boolean("drain").pipe(
      Options.withDescription("Stop once nothing is left to run before the window closes (--demo always does).")
    ),
    demo: Options.boolean("demo").pipe(
      Options.withDescription("Run the jobs on simulated providers (the fault server behind the real SDKs), with the window treated as open.")
    ),
    config: Options.text("config").pipe(
      Options.withPseudoName("file"),
      Options.withDescription("A gateway configuration (the file serve --config takes) whose providers run the jobs."),
      Options.optional
    ),
    model: Options.text("model").pipe(
      Options.withPseudoName("name"),
      Options.withDescription("The gateway configuration's image model that runs the jobs (default: its only image model)."),
      Options.optional
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.withPseudoName("n"),
      Options.withDescription("Jobs run at once (default 4)."),
      Options.withDefault(Worker.defaults.concurrency)
    )
  },
  (args) =>
    Effect.scoped(Effect.gen(function*() {
      if (args.demo && Option.isSome(args.config)) {
        return yield* CliFailure.usage("--demo runs simulated providers; it does not go with --config")
      }
      if (!args.demo && Option.isNone(args.config)) {
        return yield* CliFailure.usage("work needs --config <gateway configuration> or --demo (simulated providers)")
      }
      if (args.concurrency < 1) return yield* CliFailure.usage("--concurrency must be at least 1")
      const model = args.demo ? yield* demoGenerator : yield* configGenerator(Option.getOrThrow(args.config), args.model)
      if (model.kind !== "image") return yield* CliFailure.failure("the model is not an image model")
      const pipeline = model.pipeline
      const ignoreWindow = args.now || args.demo
      const directory = imagesDirectory(args.db, args.images)
      const start = yield* DateTime.now
      if (!ignoreWindow && !PeakWindows.contains(policy.schedule, start.epochMillis)) {
        yield* Console.error(
          `the off-peak window is closed; jobs run from ${
            localTime(DateTime.unsafeMake(Window.nextOpen(policy, start.epochMillis)))
          } (--now runs them now)`
        )
      }
      const console = yield* Effect.console
      const summary = yield* Worker.run({
        concurrency: args.concurrency,
        policy,
        ignoreWindow,
        untilIdle: args.drain || args.demo,
        healthy: Option.match(pipeline.health, {
          onNone: () => Effect.succeed(true),
          onSome: (health) => Effect.map(health.snapshot, (routes) => routes.every((route) => route.status === "healthy"))
        }),
        onAttempt: (event) =>
          Effect.sync(() =>
            Progress.unsafeLine(console, `${event.job.id} attempt ${event.attempt}: ${event.next} — ${event.message}`)
          )
      }).pipe(
        Effect.provide(
          Layer.mergeAll(storeLayer(args.db), resultsLayer(directory), Layer.succeed(ImageGenerator, pipeline))
        ),
        Effect.catchTag("JobStoreError", storeFailure)
      )
      yield* Console.log(`${describeSummary(summary)}; images in ${directory}`)
    }))
).pipe(
  Command.withDescription(
    "Runs a worker: leases jobs and runs them through a model's resilient pipeline inside the off-peak window (02:00–07:00 America/Los_Angeles), records every attempt and writes each result's images. --now ignores the window; --demo uses simulated providers."
  )
)

// ---------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------

const barWidth = 30

/**
 * The status as a progress bar and the count in every state:
 * `[██████████░░░░░░░░░░░░░░░░░░░░]  33% finished · 10 succeeded · …`.
 *
 * @since 0.1.0
 */
export const progressLine = (counts: Job.Counts): string => {
  const total = Job.states.reduce((sum, state) => sum + counts[state], 0)
  const finished = counts.succeeded + counts.failed + counts.dead
  const share = total === 0 ? 0 : finished / total
  const filled = Math.round(share * barWidth)
  const bar = `[${"█".repeat(filled)}${"░".repeat(barWidth - filled)}]`
  return `${bar} ${`${Math.floor(share * 100)}%`.padStart(4)} finished · ${
    Job.states.map((state) => `${counts[state]} ${state}`).join(" · ")
  }`
}

const status = Command.make(
  "status",
  { db, json: Options.boolean("json").pipe(Options.withDescription("Print the counts per state as JSON.")) },
  (args) =>
    Effect.gen(function*() {
      const store = yield* JobStore.JobStore
      const counts = yield* store.counts
      if (args.json) return yield* Console.log(JSON.stringify(counts))
      if (process.stdout.isTTY === true) {
        yield* Console.log(progressLine(counts))
      } else {
        for (const state of Job.states) yield* Console.log(`${state.padEnd(10)} ${counts[state]}`)
      }
      const now = yield* DateTime.now
      yield* Console.log(
        PeakWindows.contains(policy.schedule, now.epochMillis)
          ? "the off-peak window is open"
          : `the off-peak window opens at ${localTime(DateTime.unsafeMake(Window.nextOpen(policy, now.epochMillis)))}`
      )
    }).pipe(Effect.catchTag("JobStoreError", storeFailure), Effect.provide(storeLayer(args.db)))
).pipe(
  Command.withDescription(
    "Counts the jobs in each state (queued, scheduled, running, succeeded, failed, dead): a progress bar on a terminal, --json for scripts."
  )
)

// ---------------------------------------------------------------------------
// results
// ---------------------------------------------------------------------------

const results = Command.make(
  "results",
  {
    db,
    images,
    out: Options.text("out").pipe(
      Options.withPseudoName("dir"),
      Options.withDescription("Write one image file per succeeded job here, named by job id.")
    )
  },
  (args) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const out = path.resolve(args.out)
      yield* fs.makeDirectory(out, { recursive: true }).pipe(
        Effect.catchAll((error) => CliFailure.failure(`cannot create ${out}: ${error.message}`))
      )
      const store = yield* JobStore.JobStore
      const files = yield* Results.Results
      const written = yield* store.list("succeeded").pipe(
        Stream.mapEffect((job) => files.exportTo(job, out)),
        Stream.runFold(0, (n, paths) => n + paths.length)
      )
      const counts = yield* store.counts
      yield* Console.log(
        `wrote ${written} image(s) of ${counts.succeeded} succeeded job(s) to ${out}` +
          (counts.failed + counts.dead > 0 ? `; ${counts.failed} failed and ${counts.dead} dead have none` : "")
      )
    }).pipe(
      Effect.catchTag("JobStoreError", storeFailure),
      Effect.catchTag("ResultsError", (error) => CliFailure.failure(error.message)),
      Effect.provide(Layer.mergeAll(storeLayer(args.db), resultsLayer(imagesDirectory(args.db, args.images))))
    )
).pipe(Command.withDescription("Writes one image file per succeeded job to --out, named by job id."))

/**
 * The names of `batch`'s subcommands.
 *
 * @since 0.1.0
 */
export const subcommandNames: ReadonlyArray<string> = ["submit", "work", "status", "results"]

/**
 * The `batch` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("batch", {}, () =>
  CliFailure.usage(`missing batch command; expected one of: ${subcommandNames.join(", ")} (ballast batch --help for more)`)).pipe(
    Command.withDescription(
      "The durable off-peak batch queue: submit jobs, run workers inside the off-peak window, follow their progress, collect the images."
    ),
    Command.withSubcommands([submit, work, status, results])
  )
