import { describe, expect, it } from "@effect/vitest"
import { ImageGenerator, ImageRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { GeminiClient, GeminiImageGenerator } from "../src/index.js"

const apiKey = "AIzaSyCONFIGKEY-0123456789abcdefghijklm"
const model = "gemini-3.1-flash-image-preview"

const configured = (baseUrl: string, token: string) =>
  Effect.provide(
    ImageGenerator,
    GeminiImageGenerator.layer({ model }).pipe(
      Layer.provide(GeminiClient.layerConfig({ headers: { "x-tenant": token } })),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", apiKey], ["GEMINI_BASE_URL", baseUrl]]))))
    )
  )

describe("GeminiClient", () => {
  it.live("layerConfig reads GEMINI_API_KEY and GEMINI_BASE_URL; extra headers are sent", () =>
    Effect.gen(function*() {
      const token = "tenant-secret-7f3a9c"
      const server = yield* FaultServer.make()
      yield* server.script(model, ["bad-request"])
      const generator = yield* configured(server.url, token)
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag).toBe("BadRequest")
      expect(error.message).not.toContain(apiKey)
      expect(error.message).not.toContain(token)
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      const request = requests[0]!
      expect(request.path).toBe(`/v1beta/models/${model}:generateContent`)
      expect(request.headers["x-goog-api-key"]).toBe(apiKey)
      expect(request.headers["x-tenant"]).toBe(token)
    }).pipe(Effect.scoped))

  // Inline server: FaultServer's error bodies never echo what the request carried,
  // so the scrubbing of an echoed key and header value needs a server that does.
  it.live("a server message echoing the key or an extra header is scrubbed", () =>
    Effect.gen(function*() {
      const token = "tenant-secret-7f3a9c"
      const url = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(400, { "content-type": "application/json; charset=UTF-8" })
              res.end(JSON.stringify({
                error: {
                  code: 400,
                  message: `bad tenant ${String(req.headers["x-tenant"])} for ${String(req.headers["x-goog-api-key"])}`,
                  status: "INVALID_ARGUMENT"
                }
              }))
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))
      const generator = yield* configured(url, token)
      const error = yield* Effect.flip(generator.generate(ImageRequest.make({ prompt: "a fox" })))
      expect(error._tag === "BadRequest" && error.scope).toBe("request")
      expect(error.message).toContain("bad tenant")
      expect(error.message).not.toContain(apiKey)
      expect(error.message).not.toContain(token)
    }).pipe(Effect.scoped))

  it.effect("layerConfig fails without GEMINI_API_KEY, and the key is redacted when present", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.exit(
        Effect.provide(GeminiClient, GeminiClient.layerConfig()).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      expect(Exit.isFailure(missing)).toBe(true)
      const client = yield* Effect.provide(GeminiClient, GeminiClient.layerConfig({ vertex: { project: "p", location: "us-central1" } })).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", apiKey]])))
      )
      expect(client.location).toEqual(Option.some("us-central1"))
      expect(client.scrub(`key ${apiKey}`)).toBe("key [redacted]")
    }))
})
