/**
 * The dashboard in a real browser: Debian's headless Chromium (driven by
 * `playwright-core`) opens `/dashboard` for a live demo gateway (port 0), over
 * a fault server scripted on top of `outage-2h`. The page loads, its charts
 * draw, and the figures shown for `gemini-pro` move when the fault server
 * starts failing it. Everything waits on the page's state (`waitForFunction`):
 * no fixed sleeps, no wall-clock thresholds.
 *
 * Chromium must be at /usr/bin/chromium (`.ci/run` installs it); without it
 * this test fails and says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { Demo } from "@ballast/gateway"
import { Effect, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import { type Browser, chromium, type Page } from "playwright-core"

// The page's DOM as far as the functions run in it use it (this project is typed without the DOM library).
interface PageElement {
  readonly textContent: string | null
  readonly getAttribute: (name: string) => string | null
  readonly querySelector: (selectors: string) => PageElement | null
}
interface PageCanvas {
  readonly width: number
  readonly height: number
  readonly dataset: Readonly<Record<string, string | undefined>>
  readonly getContext: (kind: "2d") => { readonly getImageData: (x: number, y: number, w: number, h: number) => { readonly data: Uint8ClampedArray } }
}
declare const document: {
  readonly querySelector: (selectors: string) => PageElement | null
  readonly querySelectorAll: (selectors: string) => Iterable<PageCanvas>
}

const executablePath = "/usr/bin/chromium"
const pro = "gemini-3-pro-image-preview"

const launch = Effect.acquireRelease(
  Effect.suspend(() =>
    Fs.existsSync(executablePath)
      ? Effect.promise(() => chromium.launch({ executablePath, args: ["--no-sandbox"] }))
      : Effect.dieMessage(
        `Chromium is missing at ${executablePath}: install Debian's package (\`apt-get install -y --no-install-recommends chromium\`; .ci/run does it) to run the dashboard test`
      )
  ),
  (browser: Browser) => Effect.promise(() => browser.close())
)

const generate = (url: string, prompt: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${Demo.key}`, "content-type": "application/json", "x-ballast-allow-description": "true" },
      body: JSON.stringify({ model: pro, prompt, size: "1024x1024" })
    })
    await response.arrayBuffer()
    return { status: response.status, route: response.headers.get("x-ballast-route") }
  })

// The latest figure the page shows for a route, as text.
const shown = (page: Page, route: string, field: string) =>
  Effect.promise(() =>
    page.locator(`[data-model="${pro}"] [data-route="${route}"] [data-field="${field}"]`).textContent()
  )

// How many pixels of each chart of a route are painted, and how many samples it drew.
const charts = (page: Page, route: string) =>
  Effect.promise(() =>
    page.evaluate(({ model, route }) =>
      [...document.querySelectorAll(`[data-model="${model}"] [data-route="${route}"] canvas`)].map(
        (canvas) => {
          const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data
          let painted = 0
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++
          return { chart: canvas.dataset["chart"], points: Number(canvas.dataset["points"]), painted }
        }
      ), { model: pro, route })
  )

describe("the dashboard in headless Chromium", () => {
  it.live("loads, draws its charts, and shows gemini-pro failing when the fault server fails it", () =>
    Effect.gen(function*() {
      const { faultServer, gateway } = yield* Demo.make({ port: 0, latencyScale: 0.001 })

      // Three images from gemini-pro (the router sends about 1% of requests to each fallback first, as canaries).
      yield* faultServer.script(pro, ["ok"])
      let fromPro = 0
      for (let take = 1; fromPro < 3; take++) {
        expect(take, "requests sent for three answers from gemini-pro").toBeLessThanOrEqual(30)
        const { route, status } = yield* generate(gateway.url, `a lighthouse at dusk, take ${take}`)
        expect(status).toBe(200)
        if (route === "gemini-pro") fromPro++
      }

      const browser = yield* launch
      const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1280, height: 900 } }))
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(error.message))
      yield* Effect.promise(() => page.goto(`${gateway.url}/dashboard`))
      expect(yield* Effect.promise(() => page.title())).toBe("Ballast dashboard")
      expect(yield* Effect.promise(() => page.locator("h1").textContent())).toBe("Ballast dashboard")
      expect(yield* Effect.promise(() => page.locator(`[data-model="${pro}"] h2`).textContent())).toBe(pro)
      const routes = yield* Effect.promise(() => page.locator(`[data-model="${pro}"] [data-route] h3`).allTextContents())
      expect(routes).toEqual(["gemini-pro", "gemini-flash", "gpt-image", "flux", "describe"])

      // The three successes reach the page: a success rate and a typical latency for gemini-pro, every chart drawn.
      // (The rate may be below 100%: the health probe made when the gateway started met outage-2h's 503.)
      yield* Effect.promise(() =>
        page.waitForFunction((model) => {
          const panel = document.querySelector(`[data-model="${model}"] [data-route="gemini-pro"]`)
          const field = (name: string) => panel?.querySelector(`[data-field="${name}"]`)?.textContent
          return field("successRate")?.endsWith("%") === true && field("latencyEwmaMs") !== "—" &&
            field("breaker") === "Closed"
        }, pro, { timeout: 0 })
      )
      const before = Number.parseFloat((yield* shown(page, "gemini-pro", "successRate")) ?? "")
      expect(before).toBeGreaterThanOrEqual(75)
      expect(yield* Effect.promise(() => page.locator("#updated").textContent())).not.toBe("not yet")
      const drawn = yield* charts(page, "gemini-pro")
      expect(drawn.map((c) => c.chart)).toEqual(["success", "latency", "breaker", "inFlight"])
      for (const chart of drawn) {
        expect(chart.points, chart.chart).toBeGreaterThan(0)
        expect(chart.painted, chart.chart).toBeGreaterThan(0)
      }

      // gemini-pro starts failing: its success rate drops and its breaker opens.
      yield* faultServer.script(pro, ["overloaded"])
      for (const i of [1, 2, 3]) {
        const { route } = yield* generate(gateway.url, `a lighthouse at dawn, take ${i}`)
        expect(route).not.toBe("gemini-pro")
      }
      yield* Effect.promise(() =>
        page.waitForFunction(({ before, model }) => {
          const panel = document.querySelector(`[data-model="${model}"] [data-route="gemini-pro"]`)
          const rate = panel?.querySelector(`[data-field="successRate"]`)?.getAttribute("data-value")
          return rate !== undefined && rate !== null && rate !== "" && Number(rate) * 100 < before &&
            panel?.querySelector(`[data-field="breaker"]`)?.textContent === "Open"
        }, { before, model: pro }, { timeout: 0 })
      )
      const after = Number.parseFloat((yield* shown(page, "gemini-pro", "successRate")) ?? "")
      expect(after).toBeLessThan(before)
      expect(yield* shown(page, "gemini-pro", "breaker")).toBe("Open")
      expect(errors).toEqual([])
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)), 60_000)
})
