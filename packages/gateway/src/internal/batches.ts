/**
 * The batch queue behind `/v1/batches`: the store, queue and image files a
 * gateway's `batch` section names, the worker it may run, and the handlers of
 * `GatewayApi.BatchGroup`.
 */
import { BatchQueue, Job, JobStore, Results, SqlStore, Window, Worker } from "@ballast/batch"
import { ImageGenerator } from "@ballast/core"
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Config, Context, DateTime, Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { BatchSettings } from "../GatewayConfig.js"
import * as GatewayApi from "../GatewayApi.js"
import type * as VirtualKeys from "../VirtualKeys.js"

/**
 * A running batch queue.
 */
export interface Batches {
  readonly queue: BatchQueue.BatchQueue.Service
  readonly store: JobStore.JobStore.Service
  readonly results: Results.Results.Service
  readonly policy: Window.Policy
  /** Whether this gateway works through the queue itself. */
  readonly worker: boolean
}

/**
 * Opens the store (creating its tables), the queue and the images directory
 * of `settings`; with a `worker` pipeline, forks a worker in the scope (closing
 * it gives the worker's jobs back). `fail` makes the caller's error of a problem.
 */
export const make = <E>(
  settings: BatchSettings,
  worker: Option.Option<ImageGenerator.Service>,
  fail: (message: string) => E
): Effect.Effect<Batches, E, Scope.Scope> =>
  Effect.gen(function*() {
    const location = settings.dbEnv === undefined
      ? settings.db!
      : Redacted.value(
        yield* Config.redacted(settings.dbEnv).pipe(
          Effect.mapError(() => fail(`batch.dbEnv: the environment variable ${settings.dbEnv} is not set`))
        )
      )
    // A URL from the environment may carry a password: it is named by its variable, never shown.
    const shown = settings.dbEnv === undefined ? location : `the database in ${settings.dbEnv}`
    const directory = settings.images ?? Results.defaultDirectory(location, SqlStore.isPostgresUrl(location))
    const policy = Window.defaultPolicy
    const storage = Layer.mergeAll(
      SqlStore.layerFor(location),
      Results.layer({ directory }).pipe(Layer.provide(NodeContext.layer))
    )
    const context = yield* Layer.build(BatchQueue.layer({ policy }).pipe(Layer.provideMerge(storage))).pipe(
      Effect.mapError((error) => fail(`batch queue (${shown}): ${error.message}`))
    )
    if (Option.isSome(worker)) {
      yield* Worker.run({
        concurrency: settings.worker?.concurrency,
        policy,
        ignoreWindow: settings.worker?.ignoreWindow ?? false
      }).pipe(
        Effect.provide(Context.add(context, ImageGenerator, worker.value)),
        Effect.catchAll((error) => Effect.logError(`the batch worker stopped: ${error.message}`)),
        Effect.forkScoped
      )
    }
    return {
      queue: Context.get(context, BatchQueue.BatchQueue),
      store: Context.get(context, JobStore.JobStore),
      results: Context.get(context, Results.Results),
      policy,
      worker: Option.isSome(worker)
    }
  })

const unavailable = (error: { readonly message: string }) => new GatewayApi.BatchUnavailable({ message: error.message })

const notConfigured = new GatewayApi.BatchNotConfigured({
  message: "This gateway serves no batch queue: its configuration has no batch section."
})

/**
 * `GatewayApi.Authorization` on the gateway's virtual keys: a missing or
 * unknown key is a 401, a spent request limit a 429 with `retry-after`.
 */
export const authorization = (keys: VirtualKeys.VirtualKeys) =>
  Layer.succeed(GatewayApi.Authorization, {
    bearer: (token) =>
      Effect.flatMap(keys.check(Option.some(Redacted.value(token))), (
        verdict
      ): Effect.Effect<string, GatewayApi.Unauthorized | GatewayApi.TooManyRequests> => {
        switch (verdict._tag) {
          case "Missing":
            return Effect.fail(
              new GatewayApi.Unauthorized({ message: "Send your Ballast virtual key as 'Authorization: Bearer <key>'." })
            )
          case "Invalid":
            return Effect.fail(
              new GatewayApi.Unauthorized({ message: "Incorrect API key provided: it is not a virtual key of this gateway." })
            )
          case "Limited": {
            const seconds = Math.ceil(verdict.retryAfterMs / 1000)
            return HttpApp.appendPreResponseHandler((_, response) =>
              Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(seconds)))
            ).pipe(Effect.zipRight(Effect.fail(
              new GatewayApi.TooManyRequests({
                message: `Rate limit reached for virtual key "${verdict.key}". Please try again in ${seconds}s.`,
                retryAfterSeconds: seconds
              })
            )))
          }
          case "Allowed":
            return Effect.succeed(verdict.key)
        }
      })
  })

/**
 * The implementation of `GatewayApi.BatchGroup`; without a batch queue every
 * endpoint answers `BatchNotConfigured` (404).
 */
export const handlers = (batches: Batches | undefined) =>
(
  group: HttpApiBuilder.Handlers.FromGroup<HttpApiError.HttpApiDecodeError, never, typeof GatewayApi.BatchGroup>
) => {
  const withBatches = <A, X, Y>(f: (batches: Batches) => Effect.Effect<A, X, Y>) =>
    batches === undefined ? Effect.fail(notConfigured) : f(batches)
  const jobOf = (batches: Batches, id: Job.JobId) =>
    Effect.flatMap(Effect.mapError(batches.store.get(id), unavailable), (job) =>
      Option.match(job, {
        onNone: () => Effect.fail(new GatewayApi.JobNotFound({ id, message: `No job has the id ${id}.` })),
        onSome: Effect.succeed
      }))
  return group
    .handle("submit", ({ payload }) =>
      withBatches((batches) =>
        batches.queue.submitAll(payload.jobs.map(Job.fromLine)).pipe(
          Effect.map((receipts) => ({ jobs: receipts })),
          Effect.mapError(unavailable)
        )
      ))
    .handle("status", () =>
      withBatches((batches) =>
        Effect.gen(function*() {
          const counts = yield* Effect.mapError(batches.store.counts, unavailable)
          const now = yield* DateTime.now
          const decision = Window.decide(batches.policy, now.epochMillis, { healthy: false, ignoreWindow: false })
          return {
            counts,
            window: {
              timeZone: batches.policy.schedule.timeZone,
              open: decision._tag === "Open",
              opensAt: decision._tag === "Closed" ? DateTime.unsafeMake(decision.opensAt) : null
            },
            worker: batches.worker
          }
        })
      ))
    .handle("job", ({ path }) =>
      withBatches((batches) =>
        Effect.gen(function*() {
          const job = yield* jobOf(batches, path.id)
          const attempts = yield* Effect.mapError(batches.store.attempts(path.id), unavailable)
          return { job, attempts }
        })
      ))
    .handle("image", ({ path }) =>
      withBatches((batches) =>
        Effect.gen(function*() {
          const job = yield* jobOf(batches, path.id)
          const image = job.result?.images[path.n - 1]
          if (image === undefined) {
            return yield* Effect.fail(
              new GatewayApi.NoImage({
                id: job.id,
                state: job.state,
                message: job.state === "succeeded"
                  ? `Job ${job.id} has ${job.result?.images.length ?? 0} image(s).`
                  : `Job ${job.id} is ${job.state}; it has no image${job.reason === undefined ? "" : ` (${job.reason})`}.`
              })
            )
          }
          const bytes = yield* Effect.mapError(batches.results.read(image), unavailable)
          return HttpServerResponse.uint8Array(bytes, { contentType: image.mimeType })
        })
      ))
}
