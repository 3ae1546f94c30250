/**
 * The quick-start demo: the Ballast gateway in front of simulated providers
 * (the fault-injection server playing `outage-2h`: Gemini 3 Pro Image answers
 * 503 to everything), driven by the official `openai` and `@google/genai`
 * clients exactly as an application would drive OpenAI or Gemini — only the
 * base URL and the key change. Every answer says which route served it.
 *
 *   pnpm demo                 # the demo requests, then keeps serving until Ctrl-C
 *   pnpm demo --exit          # the demo requests, then stops
 *   pnpm demo --port 9090     # another port (default 8080)
 */
import { Demo } from "@ballast/gateway"
import { NodeRuntime } from "@effect/platform-node"
import { GoogleGenAI } from "@google/genai"
import { Console, Effect } from "effect"
import OpenAI from "openai"

const args = process.argv.slice(2)
const portArgument = args.indexOf("--port")
const port = portArgument === -1 ? 8080 : Number(args[portArgument + 1])
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port needs a port number (0–65535), got ${args[portArgument + 1] ?? "nothing"}`)
  process.exit(2)
}
const unknown = args.filter((arg, i) => !["--exit", "--port"].includes(arg) && args[i - 1] !== "--port")
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown[0]}; usage: pnpm demo [--exit] [--port n]`)
  process.exit(2)
}
const exitAfterDemo = args.includes("--exit")

const program = Effect.gen(function*() {
  const { gateway } = yield* Demo.make({ scenario: "outage-2h", port })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Demo.key, maxRetries: 0 })
  const gemini = new GoogleGenAI({ apiKey: Demo.key, httpOptions: { baseUrl: gateway.url, apiVersion: "v1beta" } })

  yield* Console.log(`Ballast gateway on ${gateway.url}, in front of simulated providers playing "outage-2h":`)
  yield* Console.log(`Gemini 3 Pro Image answers 503 "The model is overloaded" to everything.\n`)

  for (let i = 1; i <= 6; i++) {
    const { data, response } = yield* Effect.promise(() =>
      openai.images.generate({ model: Demo.model, prompt: `a lighthouse at dusk, take ${i}`, size: "3840x2160" })
        .withResponse()
    )
    const header = (name: string) => response.headers.get(`x-ballast-${name}`)
    const bytes = Buffer.from(data.data?.[0]?.b64_json ?? "", "base64").length
    yield* Console.log(
      `openai SDK  images.generate(${Demo.model}, 3840x2160) → ${header("route")} at ${header("resolution")}, ` +
        `${header("attempts")} provider call(s), ${bytes} bytes of PNG`
    )
  }
  const gem = yield* Effect.promise(() =>
    gemini.models.generateContent({ model: Demo.model, contents: "a red bicycle, product shot" })
  )
  const part = gem.candidates?.[0]?.content?.parts?.find((p) => p.inlineData !== undefined)
  yield* Console.log(
    `genai SDK   generateContent(${Demo.model}) → ${part?.inlineData?.mimeType ?? "no image"}, ` +
      `${Buffer.from(part?.inlineData?.data ?? "", "base64").length} bytes`
  )
  const chat = yield* Effect.promise(() =>
    openai.chat.completions.create({ model: Demo.textModel, messages: [{ role: "user", content: "Say hello." }] })
      .withResponse()
  )
  yield* Console.log(
    `openai SDK  chat.completions.create(${Demo.textModel}) → "${chat.data.choices[0]?.message.content}" ` +
      `from ${chat.response.headers.get("x-ballast-route")}`
  )

  // What the gateway knows about the image model's routes now.
  interface RouteView {
    readonly route: string
    readonly usable: boolean
    readonly breaker: { readonly _tag: string } | null
    readonly health: { readonly status: string } | null
  }
  const { models } = yield* Effect.promise(() =>
    fetch(`${gateway.url}/v1/routes`).then((r) =>
      r.json() as Promise<{ readonly models: ReadonlyArray<{ readonly model: string; readonly routes: ReadonlyArray<RouteView> }> }>
    )
  )
  yield* Console.log(`\nGET /v1/routes, ${Demo.model}:`)
  for (const route of models.find((m) => m.model === Demo.model)?.routes ?? []) {
    yield* Console.log(
      `  ${route.route.padEnd(14)} breaker ${(route.breaker?._tag ?? "-").padEnd(8)} health ${
        (route.health?.status ?? "-").padEnd(9)
      } ${route.usable ? "usable" : "skipped"}`
    )
  }
  yield* Console.log(`
Point your own clients at it:
  new OpenAI({ baseURL: "${gateway.url}/v1", apiKey: "${Demo.key}" })
  new GoogleGenAI({ apiKey: "${Demo.key}", httpOptions: { baseUrl: "${gateway.url}" } })
Also: ${gateway.url}/metrics, ${gateway.url}/v1/routes, ${gateway.url}/dashboard`)
  if (exitAfterDemo) return
  yield* Console.log("Serving until Ctrl-C.")
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
