/**
 * The gateway end to end: the official `openai` and `@google/genai` clients,
 * pointed at the demo gateway by base URL, → the gateway → the fault server
 * playing `outage-2h` (scripted per model on top where a test needs a fixed
 * answer). Real servers on port 0, short latencies, no wall-clock assertions.
 */
import { describe, expect, it } from "@effect/vitest"
import { Demo, Gateway } from "@ballast/gateway"
import { FaultServer } from "@ballast/testing"
import { GoogleGenAI, type GenerateContentResponse } from "@google/genai"
import { Effect, Logger, LogLevel } from "effect"
import OpenAI from "openai"

const pro = "gemini-3-pro-image-preview"
const flash = "gemini-3.1-flash-image-preview"
const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const isPng = (base64: string | undefined) => [...Buffer.from(base64 ?? "", "base64").subarray(0, 8)].every((b, i) => b === pngSignature[i])

/** Runs `f` against a fresh demo gateway (outage-2h) and its fault server. */
const withDemo = <A, E>(
  f: (clients: {
    readonly gateway: Gateway.Gateway.Service
    readonly server: FaultServer.FaultServer
    readonly openai: OpenAI
    readonly genai: GoogleGenAI
  }) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway.Gateway
    const server = yield* FaultServer.FaultServerTag
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Demo.key, maxRetries: 0, timeout: 20_000 })
    const genai = new GoogleGenAI({ apiKey: Demo.key, apiVersion: "v1beta", httpOptions: { baseUrl: gateway.url, timeout: 20_000 } })
    return yield* f({ gateway, server, openai, genai })
  }).pipe(
    Effect.provide(Demo.layer({ port: 0, latencyScale: 0.001 })),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

const imagesOf = (response: GenerateContentResponse) =>
  (response.candidates?.[0]?.content?.parts ?? []).flatMap((part) => part.inlineData?.data !== undefined ? [part.inlineData] : [])

const routesOf = (gateway: Gateway.Gateway.Service) =>
  Effect.promise(() => fetch(`${gateway.url}/v1/routes`).then((r) => r.json() as Promise<any>))

describe("the gateway, end to end with the official SDKs", () => {
  it.live("the openai SDK gets PNG images and the provenance headers", () =>
    withDemo(({ openai, server }) =>
      Effect.gen(function*() {
        yield* server.script(pro, ["ok"])
        const { data, response } = yield* Effect.promise(() =>
          openai.images.generate({ model: pro, prompt: "a watercolor fox", size: "1536x1024", n: 1 }).withResponse()
        )
        expect(data.data).toHaveLength(1)
        expect(isPng(data.data?.[0]?.b64_json)).toBe(true)
        expect(response.headers.get("x-ballast-route")).toBe("gemini-pro")
        expect(response.headers.get("x-ballast-attempts")).toBe("1")
        expect(response.headers.get("x-ballast-degraded")).toBe("false")
        expect(response.headers.get("x-ballast-resolution")).toBe("1K")
        expect(Number(response.headers.get("x-ballast-overhead-ms"))).toBeGreaterThanOrEqual(0)
        // The gateway asked Gemini for the mapped shape.
        const sent = (yield* server.requests).filter((r) => r.model === pro && r.method === "POST")
        expect((sent[0]?.body as any).generationConfig.imageConfig).toStrictEqual({ aspectRatio: "3:2", imageSize: "1K" })
      })
    ))

  it.live("the @google/genai SDK gets inline PNG data at the asked size", () =>
    withDemo(({ genai, server }) =>
      Effect.gen(function*() {
        yield* server.script(pro, ["ok"])
        const response = yield* Effect.promise(() =>
          genai.models.generateContent({
            model: pro,
            contents: "a watercolor fox",
            config: { responseModalities: ["IMAGE"], imageConfig: { aspectRatio: "16:9", imageSize: "2K" } }
          })
        )
        const images = imagesOf(response)
        expect(images).toHaveLength(1)
        expect(images[0]?.mimeType).toBe("image/png")
        expect(isPng(images[0]?.data)).toBe(true)
        expect(response.sdkHttpResponse?.headers?.["x-ballast-route"]).toBe("gemini-pro")
        expect(response.sdkHttpResponse?.headers?.["x-ballast-resolution"]).toBe("2K")
      })
    ))

  it.live("with Gemini Pro overloaded, both SDKs still get images and the headers show the failover", () =>
    withDemo(({ gateway, genai, openai, server }) =>
      Effect.gen(function*() {
        yield* server.script(pro, ["overloaded"])
        yield* server.script(flash, ["ok"])
        // The demo keeps 1% canaries on each fallback (as in production): a request sent to a fallback first
        // never tried Pro, so look for one that failed over.
        let failover: { readonly route: string | null; readonly attempts: number } | undefined
        for (let i = 0; i < 5 && failover === undefined; i++) {
          const { data, response } = yield* Effect.promise(() =>
            openai.images.generate({ model: pro, prompt: "a lighthouse at dusk" }).withResponse()
          )
          expect(isPng(data.data?.[0]?.b64_json)).toBe(true)
          expect(response.headers.get("x-ballast-route")).not.toBe("gemini-pro")
          const attempts = Number(response.headers.get("x-ballast-attempts"))
          if (attempts > 1) failover = { route: response.headers.get("x-ballast-route"), attempts }
        }
        // Pro at 1K, two attempts, then Flash.
        expect(failover).toStrictEqual({ route: "gemini-flash", attempts: 3 })

        const google = yield* Effect.promise(() =>
          genai.models.generateContent({ model: pro, contents: "a lighthouse at dusk", config: { responseModalities: ["IMAGE"] } })
        )
        expect(isPng(imagesOf(google)[0]?.data)).toBe(true)
        expect(google.sdkHttpResponse?.headers?.["x-ballast-route"]).not.toBe("gemini-pro")

        // /v1/routes agrees: Pro has failed every call it was given.
        const routes = yield* routesOf(gateway)
        const proRoute = routes.models[0].routes.find((r: any) => r.route === "gemini-pro")
        expect(proRoute.breaker._tag === "Open" || proRoute.stats.successRate === 0).toBe(true)
      })
    ))

  it.live("under outage-2h unscripted, requests keep getting images from a fallback", () =>
    withDemo(({ openai }) =>
      Effect.gen(function*() {
        for (let i = 0; i < 3; i++) {
          const { data, response } = yield* Effect.promise(() =>
            openai.images.generate({ model: "ballast-image", prompt: `a lighthouse #${i}` }).withResponse()
          )
          expect(isPng(data.data?.[0]?.b64_json)).toBe(true)
          expect(response.headers.get("x-ballast-route")).not.toBe("gemini-pro")
        }
      })
    ))

  it.live("every route rate-limited: the openai SDK sees a RateLimitError with retry-after, genai an ApiError 429", () =>
    withDemo(({ genai, openai, server }) =>
      Effect.gen(function*() {
        for (const model of [pro, flash]) yield* server.script(model, [{ fault: "rate-limited", retryInfo: "0.01s" }])
        for (const model of ["gpt-image-2", "flux-1.1-pro", "gpt-5.2"]) {
          yield* server.script(model, [{ fault: "rate-limited", retryAfterMs: 10 }])
        }
        const error = yield* Effect.promise(() =>
          openai.images.generate({ model: pro, prompt: "a fox" }).then(() => undefined, (e: unknown) => e)
        )
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>
        expect(rateLimited.status).toBe(429)
        expect(Number(rateLimited.headers?.get("retry-after"))).toBeGreaterThan(0)

        const googleError = yield* Effect.promise(() =>
          genai.models.generateContent({ model: pro, contents: "a fox" }).then(() => undefined, (e: unknown) => e)
        )
        expect((googleError as { status?: number }).status).toBe(429)
      })
    ))

  it.live("every image route down: OpenAI answers 503 unless the caller accepts a description; Gemini gets a text part", () =>
    withDemo(({ genai, openai, server }) =>
      Effect.gen(function*() {
        for (const model of [pro, flash, "gpt-image-2", "flux-1.1-pro"]) yield* server.script(model, ["bad-gateway"])
        yield* server.script("gpt-5.2", ["ok"])
        const refused = yield* Effect.promise(() =>
          openai.images.generate({ model: pro, prompt: "a fox" }).then(() => undefined, (e: unknown) => e)
        )
        expect(refused).toBeInstanceOf(OpenAI.InternalServerError)
        expect((refused as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503)
        expect((refused as Error).message).toContain("Hello from the fault server.")

        const accepted = yield* Effect.promise(() =>
          openai.images.generate({ model: pro, prompt: "a fox" }, { headers: { [Gateway.allowDescriptionHeader]: "true" } })
            .withResponse()
        )
        expect(accepted.data.data?.[0]?.revised_prompt).toBe("Hello from the fault server.")
        expect(accepted.response.headers.get("x-ballast-resolution")).toBe("description")
        expect(accepted.response.headers.get("x-ballast-route")).toBe("describe")

        const google = yield* Effect.promise(() => genai.models.generateContent({ model: pro, contents: "a fox" }))
        expect(google.candidates?.[0]?.content?.parts?.[0]?.text).toBe("Hello from the fault server.")
      })
    ))

  it.live("the openai SDK gets a chat completion from the text model gpt-5.2", () =>
    withDemo(({ openai }) =>
      Effect.gen(function*() {
        const { data, response } = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: Demo.textModel,
            messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hi." }]
          }).withResponse()
        )
        expect(data.object).toBe("chat.completion")
        expect(data.choices[0]?.message.role).toBe("assistant")
        expect(data.choices[0]?.message.content).toBe("Hello from the fault server.")
        expect(data.choices[0]?.finish_reason).toBe("stop")
        expect(["gpt", "claude", "llama"]).toContain(response.headers.get("x-ballast-route"))
        expect(Number(response.headers.get("x-ballast-overhead-ms"))).toBeGreaterThanOrEqual(0)
      })
    ))

  it.live("with gpt-5.2 overloaded, the openai SDK still gets an answer and x-ballast-route shows the fallback", () =>
    withDemo(({ openai, server }) =>
      Effect.gen(function*() {
        yield* server.script("gpt-5.2", ["overloaded"])
        const { data, response } = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: Demo.textModel, messages: [{ role: "user", content: "Say hi." }] })
            .withResponse()
        )
        expect(data.choices[0]?.message.content).toBe("Hello from the fault server.")
        // Claude, unless the 1% canary or a hedge sent this request to Llama.
        expect(["claude", "llama"]).toContain(response.headers.get("x-ballast-route"))
        expect(data.model).toBe(response.headers.get("x-ballast-model"))
        expect(data.model).not.toBe("gpt-5.2")
      })
    ))

  it.live("the @google/genai SDK gets text from the text model gpt-5.2; streaming chat is refused naming stream", () =>
    withDemo(({ genai, openai }) =>
      Effect.gen(function*() {
        const response = yield* Effect.promise(() =>
          genai.models.generateContent({ model: Demo.textModel, contents: "Say hi.", config: { systemInstruction: "Be brief." } })
        )
        expect(response.text).toBe("Hello from the fault server.")
        expect(response.candidates?.[0]?.finishReason).toBe("STOP")
        expect(["gpt", "claude", "llama"]).toContain(response.sdkHttpResponse?.headers?.["x-ballast-route"])

        const streaming = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: Demo.textModel, messages: [{ role: "user", content: "hi" }], stream: true })
            .then(() => undefined, (e: unknown) => e)
        )
        expect(streaming).toBeInstanceOf(OpenAI.BadRequestError)
        expect((streaming as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("stream")
      })
    ))

  it.live("a wrong virtual key is an AuthenticationError; an unknown model a NotFoundError", () =>
    withDemo(({ gateway }) =>
      Effect.gen(function*() {
        const wrong = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "not-a-key", maxRetries: 0 })
        const auth = yield* Effect.promise(() => wrong.images.generate({ model: pro, prompt: "a fox" }).then(() => undefined, (e) => e))
        expect(auth).toBeInstanceOf(OpenAI.AuthenticationError)
        const right = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: Demo.key, maxRetries: 0 })
        const missing = yield* Effect.promise(() => right.images.generate({ model: "dall-e-9", prompt: "a fox" }).then(() => undefined, (e) => e))
        expect(missing).toBeInstanceOf(OpenAI.NotFoundError)
      })
    ))
})
