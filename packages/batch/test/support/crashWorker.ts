/**
 * The worker process of the crash test: `node --import tsx crashWorker.ts <db> <images> <fault server url>`
 * works through the SQLite queue at <db> with the real OpenAI SDK provider against the fault server, and
 * prints its summary as one JSON line when nothing is left to run. The test kills it with SIGKILL.
 */
import { Pipeline, PipelineConfig } from "@ballast/core"
import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted } from "effect"
import * as Results from "../../src/Results.js"
import * as SqlStore from "../../src/SqlStore.js"
import * as Worker from "../../src/Worker.js"

const [db, images, url] = process.argv.slice(2)
if (db === undefined || images === undefined || url === undefined) {
  console.error("usage: crashWorker.ts <db> <images> <fault server url>")
  process.exit(2)
}

const program = Effect.gen(function*() {
  const config = yield* PipelineConfig.decode({
    routes: { "gpt-image": { provider: "openai", model: "gpt-image-2" } },
    plan: [{ route: "gpt-image" }],
    retry: { attempts: 3, initialDelay: "20 millis", maxDelay: "100 millis" },
    health: { enabled: false },
    // This test is about crashes, not outages: the route's breaker stays closed through the 503s.
    breaker: { consecutiveFailures: 1000, minimumCalls: 1000 },
    deadline: "10 seconds"
  })
  const provider = OpenAIImageGenerator.layer({ model: "gpt-image-2", route: "gpt-image" }).pipe(
    Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make("sk-crash-test"), baseUrl: `${url}/v1`, timeout: "10 seconds" }))
  )
  const summary = yield* Worker.run({
    ignoreWindow: true,
    untilIdle: true,
    concurrency: 8,
    lease: "1 second",
    heartbeat: "200 millis",
    pollInterval: "100 millis",
    retryDelay: "50 millis",
    maxRetryDelay: "1 second",
    maxAttempts: 100
  }).pipe(
    Effect.provide(Layer.mergeAll(
      Pipeline.layer(config, { image: { "gpt-image": provider } }),
      SqlStore.layerSqlite({ filename: db }),
      Results.layer({ directory: images }).pipe(Layer.provide(NodeContext.layer))
    ))
  )
  yield* Console.log(JSON.stringify(summary))
})

NodeRuntime.runMain(program)
