/**
 * Hedging on the real OpenAI provider against the fault-injection server, on
 * the real clock: a slow primary chat model is hedged by a fast one, the fast
 * one wins, and the primary's HTTP request is aborted (the server sees the
 * client go away).
 */
import { describe, expect, it } from "@effect/vitest"
import { Hedge, TextGenerator, TextRequest } from "@ballast/core"
import { OpenAIClient, OpenAITextGenerator } from "@ballast/openai"
import { FaultServer } from "@ballast/testing"
import { Effect, Layer, Redacted } from "effect"

const slow = "gpt-4.1"
const fast = "llama-3.3-70b-versatile"

const request = TextRequest.make({ messages: [{ role: "user", content: "Describe a lighthouse at dusk." }] })

/** The text generator of one model, as a value (two of them share the `TextGenerator` tag). */
const textGenerator = (model: string, client: Layer.Layer<OpenAIClient>) =>
  Effect.provide(TextGenerator, OpenAITextGenerator.layer({ model }).pipe(Layer.provide(client)))

describe("Hedge on the real OpenAI provider against the fault server", () => {
  it.live("the fast hedge wins and the slow primary's request is aborted", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(slow, [{ fault: "ok", latency: 2_000 }])
      yield* server.script(fast, [{ fault: "ok", latency: 0 }])
      const client = OpenAIClient.layer({ apiKey: Redacted.make("sk-test"), baseUrl: `${server.url}/v1` })
      const primary = yield* textGenerator(slow, client)
      const secondary = yield* textGenerator(fast, client)

      const hedger = yield* Hedge.make({ delay: "50 millis" })
      const result = yield* hedger.run([primary.generate(request), secondary.generate(request)])

      expect(result.model).toBe(fast)
      expect(yield* hedger.stats).toStrictEqual({ calls: 1, hedged: 1, hedgeWins: 1 })
      const requests = yield* FaultServer.waitFor(
        server,
        (rs) => rs.some((r) => r.model === slow && r.aborted)
      )
      const byModel = (model: string) => requests.filter((r) => r.model === model).map((r) => r.aborted)
      expect(byModel(slow)).toStrictEqual([true])
      expect(byModel(fast)).toStrictEqual([false])
    }).pipe(Effect.scoped))
})
