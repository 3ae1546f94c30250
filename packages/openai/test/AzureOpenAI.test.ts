import { Capabilities, ImageGenerator, ImageRequest, TextGenerator, TextRequest } from "@ballast/core"
import { FaultServer } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { AzureOpenAI } from "openai"
import { OpenAIClient } from "../src/OpenAIClient.js"
import * as OpenAIImageGenerator from "../src/OpenAIImageGenerator.js"
import * as OpenAITextGenerator from "../src/OpenAITextGenerator.js"

const apiKey = "azTESTKEY1234567890abcdefXYZ0123"
const apiVersion = "2025-04-01-preview"
/** The PNG of every successful FaultServer image answer. */
const pngBytes = Uint8Array.from(Buffer.from(FaultServer.pngBase64, "base64"))
/** A deployment named unlike its model, so the adapter needs the model's capabilities. */
const deployment = "images-eastus"
const capabilities = Option.getOrThrow(Capabilities.lookup("gpt-image-2"))

const azureClient = (endpoint: string, options: Partial<OpenAIClient.Options> = {}) =>
  OpenAIClient.layer({ apiKey: Redacted.make(apiKey), azure: { endpoint, apiVersion }, ...options })

const imagesAt = (endpoint: string, options: Partial<OpenAIClient.Options> = {}) =>
  Effect.provide(
    ImageGenerator,
    OpenAIImageGenerator.layer({ model: deployment, capabilities }).pipe(Layer.provide(azureClient(endpoint, options)))
  )

const request = ImageRequest.make({ prompt: "a lighthouse at dusk" })

describe("OpenAIClient with azure", () => {
  it.effect("builds an AzureOpenAI client on {endpoint}/openai, retries off, labelled azure-openai", () =>
    Effect.gen(function*() {
      const service = yield* OpenAIClient.make({
        apiKey: Redacted.make(apiKey),
        azure: { endpoint: "https://ballast-eastus.openai.azure.com/", apiVersion }
      })
      expect(service.client).toBeInstanceOf(AzureOpenAI)
      expect(service.client.baseURL).toBe("https://ballast-eastus.openai.azure.com/openai")
      expect((service.client as AzureOpenAI).apiVersion).toBe(apiVersion)
      expect((service.client as AzureOpenAI).deploymentName).toBeUndefined()
      expect(service.client.maxRetries).toBe(0)
      expect(service.client.timeout).toBe(120_000)
      expect(service.provider).toBe("azure-openai")
      expect(String(service.apiKey)).not.toContain(apiKey)
      const labelled = yield* OpenAIClient.make({
        apiKey: Redacted.make(apiKey),
        azure: { endpoint: "https://ballast-eastus.openai.azure.com", apiVersion, deployment: "fixed" },
        provider: "azure-eastus",
        baseUrl: "http://ignored.invalid/v1"
      })
      expect(labelled.provider).toBe("azure-eastus")
      expect(labelled.client.baseURL).toBe("https://ballast-eastus.openai.azure.com/openai")
      expect((labelled.client as AzureOpenAI).deploymentName).toBe("fixed")
    }))

  it.effect("an OPENAI_BASE_URL in the environment neither overrides nor conflicts with the endpoint", () =>
    Effect.gen(function*() {
      const previous = process.env["OPENAI_BASE_URL"]
      process.env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
      const service = yield* OpenAIClient.make({
        apiKey: Redacted.make(apiKey),
        azure: { endpoint: "https://ballast-eastus.openai.azure.com", apiVersion }
      }).pipe(Effect.ensuring(Effect.sync(() => {
        if (previous === undefined) delete process.env["OPENAI_BASE_URL"]
        else process.env["OPENAI_BASE_URL"] = previous
      })))
      expect(service.client.baseURL).toBe("https://ballast-eastus.openai.azure.com/openai")
    }))

  it.scopedLive("generates an image on /openai/deployments/{model}/images/generations with the api-key header", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const images = yield* imagesAt(server.url)
      const result = yield* images.generate(request)
      expect(result.images).toHaveLength(1)
      expect(result.images[0]?.data).toEqual(pngBytes)
      expect(result.images[0]?.mimeType).toBe("image/png")
      expect(result).toMatchObject({ provider: "azure-openai", model: deployment })
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      const sent = requests[0]!
      expect(sent.api).toBe("openai-images")
      expect(sent.method).toBe("POST")
      expect(sent.path).toBe(`/openai/deployments/${deployment}/images/generations?api-version=${apiVersion}`)
      expect(sent.model).toBe(deployment)
      expect(sent.headers["api-key"]).toBe(apiKey)
      expect(sent.headers["authorization"]).toBeUndefined()
    }))

  it.scopedLive("a fixed deployment is addressed whatever the adapter's model", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const client = OpenAIClient.layer({
        apiKey: Redacted.make(apiKey),
        azure: { endpoint: server.url, apiVersion, deployment: "pinned" }
      })
      const images = yield* Effect.provide(
        ImageGenerator,
        OpenAIImageGenerator.layer({ model: "gpt-image-2" }).pipe(Layer.provide(client))
      )
      yield* images.generate(request)
      const [sent] = yield* server.requests
      expect(sent?.path).toBe(`/openai/deployments/pinned/images/generations?api-version=${apiVersion}`)
      expect(sent?.model).toBe("pinned")
    }))

  it.scopedLive("a 503 is Overloaded after exactly one request, and the key appears in no error", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(deployment, ["overloaded", "unauthorized"])
      const images = yield* imagesAt(server.url)
      const overloaded = yield* Effect.flip(images.generate(request))
      expect(overloaded._tag).toBe("Overloaded")
      expect(overloaded).toMatchObject({ provider: "azure-openai", model: deployment })
      expect(yield* server.requests).toHaveLength(1)
      const unauthorized = yield* Effect.flip(images.generate(request))
      expect(unauthorized._tag).toBe("Unauthorized")
      expect(yield* server.requests).toHaveLength(2)
      for (const error of [overloaded, unauthorized]) {
        expect(error.message).not.toContain(apiKey)
        expect(JSON.stringify(error)).not.toContain(apiKey)
        expect(String(error)).not.toContain(apiKey)
      }
    }))

  it.scopedLive("chat completions go to the deployment too", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const text = yield* Effect.provide(
        TextGenerator,
        OpenAITextGenerator.layer({ model: "chat-eastus" }).pipe(Layer.provide(azureClient(server.url)))
      )
      const answer = yield* text.generate(TextRequest.make({ messages: [{ role: "user", content: "hi" }] }))
      expect(answer.text).toBe("Hello from the fault server.")
      const [sent] = yield* server.requests
      expect(sent?.api).toBe("openai-chat")
      expect(sent?.path).toBe(`/openai/deployments/chat-eastus/chat/completions?api-version=${apiVersion}`)
      expect(sent?.headers["api-key"]).toBe(apiKey)
    }))

  it.scopedLive("two regions are two clients, each on its own endpoint", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(deployment, ["overloaded", "ok"])
      const eastUs = yield* imagesAt(`${server.url}/eastus`, { provider: "azure-eastus" })
      const westEurope = yield* imagesAt(`${server.url}/westeurope/`, { provider: "azure-westeurope" })
      const failed = yield* Effect.flip(eastUs.generate(request))
      expect(failed).toMatchObject({ _tag: "Overloaded", provider: "azure-eastus" })
      const result = yield* westEurope.generate(request)
      expect(result.provider).toBe("azure-westeurope")
      expect((yield* server.requests).map((r) => r.path)).toEqual([
        `/eastus/openai/deployments/${deployment}/images/generations?api-version=${apiVersion}`,
        `/westeurope/openai/deployments/${deployment}/images/generations?api-version=${apiVersion}`
      ])
    }))
})
