import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import {
  AllRoutesFailed,
  BadRequest,
  createImageClient,
  GeneratedImage,
  type GenerationError,
  ImageGenerator,
  type ImageRequest,
  type ImageRequestInput,
  ImageResult,
  Overloaded,
  PipelineConfig,
  TextGenerator,
  Timeout
} from "../src/index.js"

// The client runs on the real clock: the fakes answer at once, and retries wait a millisecond.

const models = { pro: "gemini-3-pro-image-preview", flash: "gemini-3.1-flash-image-preview", text: "gpt-5.2" }

const overloaded = new Overloaded({ provider: "google", model: models.pro, message: "The model is overloaded." })

const png = GeneratedImage.make({ data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mimeType: "image/png" })

interface Fake {
  readonly layer: Layer.Layer<ImageGenerator>
  readonly requests: Array<ImageRequest>
}

/** A fake image provider answering call `i` (from 0) with `script(i)`: an error, or images. */
const fake = (model: string, script: (call: number) => GenerationError | "ok"): Fake => {
  const requests: Array<ImageRequest> = []
  const service = ImageGenerator.make({
    provider: "google",
    model,
    generate: (request) =>
      Effect.suspend(() => {
        const reply = script(requests.length)
        requests.push(request)
        return reply === "ok" ? Effect.succeed({ images: [png] }) : Effect.fail(reply)
      })
  })
  return { layer: Layer.succeed(ImageGenerator, service), requests }
}

/** A fake whose call never ends, reporting when it starts and when it is interrupted. */
const hanging = (model: string) => {
  let started: () => void = () => {}
  const state = {
    calls: 0,
    interrupted: 0,
    started: new Promise<void>((resolve) => {
      started = resolve
    })
  }
  const service = ImageGenerator.make({
    provider: "google",
    model,
    generate: () =>
      Effect.sync(() => {
        state.calls++
        started()
      }).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Effect.sync(() => state.interrupted++))
      )
  })
  return { layer: Layer.succeed(ImageGenerator, service), state }
}

const writer = TextGenerator.layer({
  provider: "openai",
  model: models.text,
  generate: () => Effect.succeed("A white lighthouse against an orange sky.")
})

const config = {
  routes: {
    pro: { provider: "google", model: models.pro },
    flash: { provider: "google", model: models.flash }
  },
  plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash" }],
  retry: { attempts: 3, initialDelay: "1 millis", maxDelay: "2 millis" },
  deadline: "10 seconds",
  // The live Random would send 1% of requests to flash first, as a canary: these tests follow the plan's order.
  routing: { canary: 0 }
}

/** What a promise rejected with. */
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`)
    },
    (error: unknown) => error
  )

/** What a function threw. */
const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected a throw")
}

describe("createImageClient", () => {
  it("generate resolves an ImageResult with its provenance", async () => {
    const pro = fake(models.pro, (call) => call < 2 ? overloaded : "ok")
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    const result = await client.generate({ prompt: "a lighthouse at dusk", resolution: "4K", aspectRatio: "16:9" })
    expect(result).toBeInstanceOf(ImageResult)
    expect(result.images).toStrictEqual([png])
    expect([result.route, result.provider, result.model]).toStrictEqual(["pro", "google", models.pro])
    expect([result.resolution, result.requestedResolution, result.aspectRatio]).toStrictEqual(["4K", "4K", "16:9"])
    expect([result.degraded, result.attempts]).toStrictEqual([false, 3])
    expect(Duration.isDuration(result.latency)).toBe(true)
    expect(pro.requests.map((r) => r.resolution)).toStrictEqual(["4K", "4K", "4K"])
    await client.close()
  })

  it("accepts the plain form of a request: defaults, deadline in milliseconds, base64 reference images", async () => {
    const pro = fake(models.pro, () => "ok")
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    const result = await client.generate({
      prompt: "the same lighthouse at dawn",
      deadline: 5_000,
      referenceImages: [{ data: "iVBORw==", mimeType: "image/png" }]
    })
    expect([result.resolution, result.aspectRatio]).toStrictEqual(["1K", "1:1"])
    const received = pro.requests[0]!
    expect([received.resolution, received.aspectRatio, received.n]).toStrictEqual(["1K", "1:1", 1])
    expect(Option.map(Option.fromNullable(received.deadline), Duration.toMillis)).toStrictEqual(Option.some(5_000))
    expect(received.referenceImages?.[0]?.data).toStrictEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))
    await client.close()
  })

  it("falls back down the ladder and to a description", async () => {
    const client = createImageClient(
      {
        ...config,
        routes: { ...config.routes, writer: { provider: "openai", model: models.text } },
        plan: [...config.plan, { describe: "writer" }],
        // pro fails six times in a row here; the default breaker would open after five
        breaker: { consecutiveFailures: 10 }
      },
      {
        image: { pro: fake(models.pro, () => overloaded).layer, flash: fake(models.flash, () => overloaded).layer },
        text: { writer }
      }
    )
    const result = await client.generate({ prompt: "a lighthouse at dusk", resolution: "4K" })
    expect(result.description).toBe("A white lighthouse against an orange sky.")
    expect([result.resolution, result.degraded, result.route]).toStrictEqual(["description", true, "writer"])
    expect(result.attempts).toBe(3 + 3 + 3 + 1)
    await client.close()
  })

  it("rejects with the same tagged error classes as the Effect API", async () => {
    const client = createImageClient(config, {
      image: { pro: fake(models.pro, () => overloaded).layer, flash: fake(models.flash, () => overloaded).layer }
    })
    const error = await rejection(client.generate({ prompt: "a lighthouse at dusk", resolution: "2K" }))
    expect(error).toBeInstanceOf(AllRoutesFailed)
    if (!(error instanceof AllRoutesFailed)) return
    expect(error._tag).toBe("AllRoutesFailed")
    expect(error).toBeInstanceOf(Error)
    // every attempt's error, in order: three tries on each route
    expect(error.attempts.map((a) => `${a.route}@${a.resolution}`)).toStrictEqual([
      "pro@2K",
      "pro@2K",
      "pro@2K",
      "flash@2K",
      "flash@2K",
      "flash@2K"
    ])
    expect(error.attempts.every((a) => a.error instanceof Overloaded)).toBe(true)
    await client.close()
  })

  it("a provider's request-scoped BadRequest rejects as it is, without fallback", async () => {
    const invalid = new BadRequest({ provider: "google", model: models.pro, message: "invalid argument", scope: "request" })
    const flash = fake(models.flash, () => "ok")
    const client = createImageClient(config, {
      image: { pro: fake(models.pro, () => invalid).layer, flash: flash.layer }
    })
    expect(await rejection(client.generate({ prompt: "a lighthouse at dusk" }))).toBe(invalid)
    expect(flash.requests).toHaveLength(0)
    await client.close()
  })

  it("a bad request object rejects with BadRequest naming every bad field, before any provider call", async () => {
    const pro = fake(models.pro, () => "ok")
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    // what a JavaScript caller (or an untyped JSON body) can pass
    const untyped = (input: unknown) => input as ImageRequestInput
    const error = await rejection(
      client.generate(untyped({ prompt: "a lighthouse", resolution: "8K", n: 0, aspectRatio: "7:3" }))
    )
    expect(error).toBeInstanceOf(BadRequest)
    if (!(error instanceof BadRequest)) return
    expect([error._tag, error.scope, error.provider]).toStrictEqual(["BadRequest", "request", "ballast"])
    expect(error.message).toMatch(/^invalid request: /)
    expect(error.message).toContain("resolution: Expected \"1K\" | \"2K\" | \"4K\", actual \"8K\"")
    expect(error.message).toContain("n: Expected a number between 1 and 10, actual 0")
    expect(error.message).toContain("aspectRatio")

    const blank = await rejection(client.generate({ prompt: "   " }))
    expect(blank).toBeInstanceOf(BadRequest)
    expect((blank as BadRequest).message).toBe("invalid request: prompt: must not be blank")
    const missing = await rejection(client.generate(untyped({})))
    expect((missing as BadRequest).message).toContain("prompt")
    expect(pro.requests).toHaveLength(0)
    await client.close()
  })

  it("a bad configuration throws ConfigError synchronously, naming each path", () => {
    const providers = {
      image: { pro: fake(models.pro, () => "ok").layer, flash: fake(models.flash, () => "ok").layer }
    }
    const error = thrown(() =>
      createImageClient({ ...config, plan: [{ route: "pro" }, { route: "flahs" }], retry: { attempts: 0 } }, providers)
    )
    expect(error).toBeInstanceOf(PipelineConfig.ConfigError)
    if (!(error instanceof PipelineConfig.ConfigError)) return
    expect(error._tag).toBe("ConfigError")
    expect(error.issues.map((issue) => issue.path).sort()).toStrictEqual(["plan[1].route", "retry.attempts"])
    expect(error.message).toContain("plan[1].route: unknown route \"flahs\"")

    expect(thrown(() => createImageClient("routes: {}", providers))).toBeInstanceOf(PipelineConfig.ConfigError)
  })

  it("a route of the plan without a provider throws ConfigError synchronously", () => {
    const error = thrown(() =>
      createImageClient(
        {
          ...config,
          routes: { ...config.routes, writer: { provider: "openai", model: models.text } },
          plan: [...config.plan, { describe: "writer" }]
        },
        { image: { pro: fake(models.pro, () => "ok").layer } }
      )
    )
    expect(error).toBeInstanceOf(PipelineConfig.ConfigError)
    expect((error as PipelineConfig.ConfigError).issues).toStrictEqual([
      { path: "routes.flash", message: "no image provider was given for route \"flash\"" },
      { path: "routes.writer", message: "no text provider was given for route \"writer\"" }
    ])
  })

  it("aborting the signal rejects with AbortError and interrupts the provider call", async () => {
    const pro = hanging(models.pro)
    const flash = fake(models.flash, () => "ok")
    const client = createImageClient(config, { image: { pro: pro.layer, flash: flash.layer } })
    const controller = new AbortController()
    const pending = rejection(client.generate({ prompt: "a lighthouse at dusk" }, { signal: controller.signal }))
    await pro.state.started
    controller.abort()
    const error = await pending
    expect(error).toBeInstanceOf(DOMException)
    expect((error as DOMException).name).toBe("AbortError")
    expect(pro.state.interrupted).toBe(1)
    expect(flash.requests).toHaveLength(0)
    await client.close()
  })

  it("an abort with a reason rejects with that reason, as fetch does", async () => {
    const pro = hanging(models.pro)
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    const controller = new AbortController()
    const reason = new Error("the user left")
    const pending = rejection(client.generate({ prompt: "a lighthouse at dusk" }, { signal: controller.signal }))
    await pro.state.started
    controller.abort(reason)
    expect(await pending).toBe(reason)
    expect(pro.state.interrupted).toBe(1)
    await client.close()
  })

  it("an already aborted signal rejects with AbortError without calling a provider", async () => {
    const pro = fake(models.pro, () => "ok")
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    await client.generate({ prompt: "warm the client up" })
    const error = await rejection(client.generate({ prompt: "a lighthouse at dusk" }, { signal: AbortSignal.abort() }))
    expect((error as DOMException).name).toBe("AbortError")
    expect(pro.requests).toHaveLength(1)
    await client.close()
  })

  it("the deadline, in milliseconds, rejects with Timeout and interrupts the provider call", async () => {
    const pro = hanging(models.pro)
    const client = createImageClient(config, { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } })
    const error = await rejection(client.generate({ prompt: "a lighthouse at dusk", deadline: 30 }))
    expect(error).toBeInstanceOf(Timeout)
    expect((error as Timeout)._tag).toBe("Timeout")
    expect(pro.state.interrupted).toBe(1)
    await client.close()
  })

  it("pipeline() exposes the plan, breakers and budgets", async () => {
    const client = createImageClient(config, {
      image: { pro: fake(models.pro, () => "ok").layer, flash: fake(models.flash, () => "ok").layer }
    })
    const pipeline = await client.pipeline()
    expect(pipeline.stepsFor({ resolution: "4K", aspectRatio: "1:1" }).map((s) => s._tag === "Image" && s.resolution))
      .toStrictEqual(["4K", "2K", "4K"])
    expect([...pipeline.breakers.keys()].sort()).toStrictEqual(["flash", "pro"])
    await client.close()
  })

  it("close() releases the providers' resources, and the client refuses work afterwards", async () => {
    let released = 0
    const pro = fake(models.pro, () => "ok")
    const scoped = Layer.merge(pro.layer, Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => released++))))
    const client = createImageClient(config, { image: { pro: scoped, flash: fake(models.flash, () => "ok").layer } })
    await client.generate({ prompt: "a lighthouse at dusk" })
    expect(released).toBe(0)
    await client.close()
    expect(released).toBe(1)
    const error = await rejection(client.generate({ prompt: "a lighthouse at dusk" }))
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toBe("The image client is closed.")
    expect(await rejection(client.pipeline())).toBeInstanceOf(Error)
    expect(pro.requests).toHaveLength(1)
    await client.close() // closing twice is harmless
  })

  it("close() lets the requests in flight finish before releasing the providers", async () => {
    let released = 0
    let finish: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      finish = resolve
    })
    const slow = ImageGenerator.make({
      provider: "google",
      model: models.pro,
      generate: () => Effect.as(Effect.promise(() => gate), { images: [png] })
    })
    const scoped = Layer.merge(
      Layer.succeed(ImageGenerator, slow),
      Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => released++)))
    )
    const client = createImageClient(config, { image: { pro: scoped, flash: fake(models.flash, () => "ok").layer } })
    const inFlight = client.generate({ prompt: "a lighthouse at dusk" })
    await client.pipeline() // the providers are built and the request is running
    let closed = false
    const closing = client.close().then(() => {
      closed = true
    })
    // let every pending callback run: close must still be waiting for the request
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    expect([closed, released]).toStrictEqual([false, 0])
    expect(await rejection(client.generate({ prompt: "too late" }))).toBeInstanceOf(Error)
    finish()
    expect((await inFlight).route).toBe("pro")
    await closing
    expect([closed, released]).toStrictEqual([true, 1])
  })

  it("a client that never ran closes cleanly", async () => {
    const client = createImageClient(config, {
      image: { pro: fake(models.pro, () => "ok").layer, flash: fake(models.flash, () => "ok").layer }
    })
    await expect(client.close()).resolves.toBeUndefined()
  })

  it("every request goes through the same pipeline: a breaker opened by one is seen by the next", async () => {
    const pro = fake(models.pro, () => overloaded)
    const client = createImageClient(
      { ...config, retry: { attempts: 1 }, breaker: { consecutiveFailures: 3 } },
      { image: { pro: pro.layer, flash: fake(models.flash, () => "ok").layer } }
    )
    const results = []
    for (let i = 0; i < 5; i++) {
      results.push(await client.generate({ prompt: "a lighthouse at dusk", resolution: "2K" }))
    }
    expect(results.map((r) => [r.route, r.attempts])).toStrictEqual([
      ["flash", 2],
      ["flash", 2],
      ["flash", 2],
      ["flash", 1],
      ["flash", 1]
    ])
    expect(pro.requests).toHaveLength(3)
    await client.close()
  })
})
