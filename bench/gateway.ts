/**
 * The gateway under HTTP load, on loopback: what it adds to a call, how many
 * calls a second it carries, and how it holds thousands of slow calls at once.
 *
 *   pnpm bench:gateway                                   # from the repository root
 *   BENCH_SECONDS=5 BENCH_IN_FLIGHT=1000 pnpm bench:gateway   # quicker, noisier
 *   BENCH_CPU_PROF=/tmp/prof pnpm bench:gateway          # + V8 CPU profiles of the gateway children (one per thread)
 *   BENCH_HEAP_SNAPSHOT=/tmp/heap pnpm bench:gateway     # + a heap snapshot of the slow child with all in flight
 *                                                        #   (writing it inflates the RSS figures of that run)
 *   BENCH_SLOW_MS=60000 pnpm bench:gateway               # a slower upstream for step 3 (default 20 s)
 *
 * This process runs the load generator (autocannon, programmatic) and the
 * `FaultServer` standing in for OpenAI; the gateway runs in a child process
 * (this same file with `--child <fault server url>`), so that its RSS
 * (`/proc/<pid>/status` VmRSS / VmHWM) is its own. The child's gateway serves
 * one public model, `gpt-image-2`, with one OpenAI route to the fault server:
 * default retry, breaker, deadline and health probes. The public model has the
 * upstream's name, so the direct and the gateway runs send the same body.
 *
 * 1. Added latency: `POST /v1/images/generations`, fault server answering `ok`
 *    at once, direct vs through the gateway, at 1 and at 10 connections
 *    (warm-up, then BENCH_SECONDS each). Latencies are taken per response from
 *    autocannon's `response` event (µs resolution; its own histogram is in
 *    whole ms), percentiles over every 2xx.
 * 2. Peak requests/s through the gateway at 50 and 100 connections, pipelining 1.
 * 3. BENCH_IN_FLIGHT (5,000) concurrent requests through a fresh gateway child
 *    to a fault server answering after 20 s (plain `http.request`s, an agent
 *    with unlimited sockets): errors and non-2xx, how many were held at the
 *    fault server at once (arrived less than 20 s ago), and the child's RSS
 *    and heap when all of them are. The child's open-files limit is raised
 *    with `ulimit -n` as far as the hard limit allows (it needs ~2 per request).
 *
 * This prints figures, it is not a test: nothing here passes or fails.
 */
import { Gateway, GatewayConfig, VirtualKeys } from "@ballast/gateway"
import { FaultServer } from "@ballast/testing"
import autocannon from "autocannon"
import { Cause, ConfigProvider, Effect, Exit, Fiber, Scope } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"

const MODEL = "gpt-image-2"
const KEY = "ballast-bench"
const KEY_ENV = "BALLAST_BENCH_OPENAI_API_KEY"
const READY = "BALLAST_BENCH_GATEWAY "

// ---------------------------------------------------------------------------
// The child: a gateway in front of the fault server at argv[3]
// ---------------------------------------------------------------------------

const MEMORY = "BALLAST_BENCH_MEMORY "

// On SIGUSR2 the child prints its `process.memoryUsage()`: what of its RSS is JS heap and what is not.
const answerMemory = () =>
  process.on("SIGUSR2", () => {
    process.stdout.write(`${MEMORY}${JSON.stringify(process.memoryUsage())}\n`)
  })

// A bare child, started as the gateway child is (node with tsx's loader, same limits) but importing nothing:
// the floor of the gateway child's RSS.
const BARE = `process.on("SIGUSR2", () => process.stdout.write("${MEMORY}" + JSON.stringify(process.memoryUsage()) + "\\n"));` +
  `process.stdout.write("${READY}" + JSON.stringify({ port: 0, pid: process.pid }) + "\\n");` +
  `setInterval(() => {}, 1 << 30); process.once("SIGTERM", () => process.exit(0));`

const runChild = (faultServerUrl: string) => {
  answerMemory()
  const document = {
    server: { host: "127.0.0.1", port: 0, shutdownTimeout: "1 second" },
    keys: [{ name: "bench", sha256: VirtualKeys.hash(KEY) }],
    providers: { openai: { kind: "openai", baseUrl: `${faultServerUrl}/v1`, apiKeyEnv: KEY_ENV } },
    models: { [MODEL]: { pipeline: { routes: { openai: { provider: "openai", model: MODEL } }, plan: [{ route: "openai" }] } } }
  }
  const program = Effect.gen(function*() {
    const config = yield* GatewayConfig.decode(document)
    const gateway = yield* Gateway.make(config).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([[KEY_ENV, "sk-bench"]])))
    )
    process.stdout.write(`${READY}${JSON.stringify({ port: gateway.port, pid: process.pid })}\n`)
    return yield* Effect.never
  }).pipe(Effect.scoped)
  const fiber = Effect.runFork(program)
  fiber.addObserver((exit) => {
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`gateway child failed: ${String(exit.cause)}\n`)
      process.exit(1)
    }
  })
  // A normal exit (not death by signal), so that --cpu-prof writes its profile.
  process.once("SIGTERM", () => {
    Effect.runPromise(Fiber.interrupt(fiber)).finally(() => process.exit(0))
  })
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

const envInt = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

const SECONDS = envInt("BENCH_SECONDS", 10)
const WARMUP_SECONDS = envInt("BENCH_WARMUP_SECONDS", 3)
const IN_FLIGHT = envInt("BENCH_IN_FLIGHT", 5000)
const SLOW_MS = envInt("BENCH_SLOW_MS", 20_000)
const NOFILE = envInt("BENCH_NOFILE", 65536)

const body = JSON.stringify({ model: MODEL, prompt: "a lighthouse at dusk", size: "1024x1024" })

interface Child {
  readonly process: ChildProcess
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly nofile: string
  /** The child's `process.memoryUsage()`, undefined when it does not answer within 5 s. */
  readonly memoryUsage: () => Promise<NodeJS.MemoryUsage | undefined>
}

const children = new Set<ChildProcess>()

// The gateway child in front of `faultServerUrl`, or the bare child when it is undefined.
const startGateway = (faultServerUrl: string | undefined, label: string): Promise<Child> =>
  new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url)
    const prof = process.env["BENCH_CPU_PROF"]
    const snapshot = process.env["BENCH_HEAP_SNAPSHOT"] // a directory: the slow child writes a heap snapshot with all in flight
    const nodeArgs = [
      ...process.execArgv,
      ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []),
      ...(snapshot && label === "slow" ? ["--heapsnapshot-signal=SIGUSR1", `--diagnostic-dir=${snapshot}`] : [])
    ]
    const args = faultServerUrl === undefined ? ["-e", BARE] : [self, "--child", faultServerUrl]
    const quoted = [process.execPath, ...nodeArgs, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    // Raise the open-files limit as far as this shell may (the hard limit, when 65536 is above it).
    const script = `{ ulimit -n ${NOFILE} || ulimit -n "$(ulimit -Hn)"; } 2>/dev/null; exec ${quoted.join(" ")}`
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"], env: process.env })
    children.add(child)
    child.once("exit", () => children.delete(child))
    let buffered = ""
    const waiting: Array<(usage: NodeJS.MemoryUsage) => void> = []
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const lines = buffered.split("\n")
      buffered = lines.pop()!
      for (const line of lines) {
        if (line.startsWith(MEMORY)) waiting.shift()?.(JSON.parse(line.slice(MEMORY.length)) as NodeJS.MemoryUsage)
        if (!line.startsWith(READY)) continue
        const { pid, port } = JSON.parse(line.slice(READY.length)) as { pid: number; port: number }
        const limits = readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((l) => l.startsWith("Max open files"))
        const nofile = limits?.split(/\s{2,}/)[1] ?? "?"
        const memoryUsage = () =>
          Promise.race([
            new Promise<NodeJS.MemoryUsage | undefined>((resolve) => {
              waiting.push(resolve)
              process.kill(pid, "SIGUSR2")
            }),
            sleep(5_000).then(() => undefined)
          ])
        resolve({ process: child, pid, port, url: `http://127.0.0.1:${port}`, nofile, memoryUsage })
      }
    })
    child.once("exit", (code) => reject(new Error(`gateway child exited early (code ${code})`)))
  })

const stopGateway = async (child: Child) => {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.process.once("exit", () => resolve()))
  process.kill(child.pid, "SIGTERM")
  const killed = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)])
  if (killed) {
    process.kill(child.pid, "SIGKILL")
    await exited
  }
}

const memoryOf = (pid: number): { rss: number; hwm: number } => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN)
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 }
}

const mb = (bytes: number) => bytes / 1024 / 1024

interface Load {
  readonly label: string
  readonly requests: number
  readonly rps: number
  readonly non2xx: number
  readonly errors: number
  readonly p50: number
  readonly p99: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const load = (label: string, url: string, authorization: string, connections: number, seconds: number): Promise<Load> =>
  new Promise((resolve, reject) => {
    const latencies: Array<number> = []
    const instance = autocannon({
      url: `${url}/v1/images/generations`,
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body,
      connections,
      pipelining: 1,
      duration: seconds
    }, (error, result) => {
      if (error) return reject(error)
      latencies.sort((a, b) => a - b)
      resolve({
        label,
        requests: result.requests.total,
        rps: result.requests.total / (result.duration || seconds),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99)
      })
    })
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
    })
  })

const once = (url: string, authorization: string) =>
  fetch(`${url}/v1/images/generations`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body
  }).then(async (response) => ({ status: response.status, route: response.headers.get("x-ballast-route"), text: await response.text() }))

// Holds `n` requests open through the gateway; resolves with their outcomes and the child's memory while all were in flight.
const hold = async (child: Child, slow: FaultServer.FaultServer, n: number) => {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
  const outcomes = { ok: 0, non2xx: 0, errors: 0, statuses: new Map<string, number>() }
  const note = (key: string) => outcomes.statuses.set(key, (outcomes.statuses.get(key) ?? 0) + 1)
  const started = Date.now()
  const pending = Array.from({ length: n }, () =>
    new Promise<void>((resolve) => {
      const request = http.request(`${child.url}/v1/images/generations`, {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, "content-length": Buffer.byteLength(body) }
      }, (response) => {
        response.resume()
        response.once("end", () => {
          const status = response.statusCode ?? 0
          if (status >= 200 && status < 300) outcomes.ok++
          else outcomes.non2xx++
          note(String(status))
          resolve()
        })
        response.once("error", () => {
          outcomes.errors++
          note("response error")
          resolve()
        })
      })
      request.once("error", (error: NodeJS.ErrnoException) => {
        outcomes.errors++
        note(error.code ?? error.message)
        resolve()
      })
      request.end(body)
    }))
  let peakRss = 0
  // Held at the upstream at time t: the POSTs that arrived there after t - SLOW_MS (each is answered SLOW_MS after it arrives).
  let maxHeld = 0
  let upstreamAll: { at: number; rss: number; usage: NodeJS.MemoryUsage | undefined } | undefined
  let done = false
  const all = Promise.all(pending).then(() => {
    done = true
  })
  while (!done) {
    const now = Date.now()
    const held = yield_(slow.requests).filter((r) => r.method === "POST" && r.at > now - SLOW_MS).length
    const { rss } = memoryOf(child.pid)
    peakRss = Math.max(peakRss, rss)
    maxHeld = Math.max(maxHeld, held)
    if (upstreamAll === undefined && held >= n) {
      upstreamAll = { at: now - started, rss, usage: await child.memoryUsage() }
      if (process.env["BENCH_HEAP_SNAPSHOT"]) process.kill(child.pid, "SIGUSR1")
    }
    await Promise.race([all, sleep(250)])
  }
  const { hwm } = memoryOf(child.pid)
  agent.destroy()
  return { ...outcomes, peakRss, hwm, maxHeld, upstreamAll, seconds: (Date.now() - started) / 1000 }
}

const yield_ = <A>(effect: Effect.Effect<A>): A => Effect.runSync(effect)

const main = async () => {
  const cpus = os.cpus()
  const loadBefore = os.loadavg()
  const scope = Effect.runSync(Scope.make())
  const fast = await Effect.runPromise(Scope.extend(FaultServer.make(), scope))
  const slow = await Effect.runPromise(Scope.extend(FaultServer.make(), scope))
  await Effect.runPromise(fast.script(MODEL, [{ fault: "ok", latency: 0 }]))
  await Effect.runPromise(slow.script(MODEL, [{ fault: "ok", latency: SLOW_MS }]))
  const direct = `Bearer sk-bench`
  const viaGateway = `Bearer ${KEY}`
  const out: Array<string> = []
  try {
    // --- the floor: node + tsx, nothing imported
    const bare = await startGateway(undefined, "bare")
    await sleep(500)
    const rssBare = memoryOf(bare.pid).rss
    await stopGateway(bare)

    // --- 1 and 2: the gateway in front of the fast fault server
    const gateway = await startGateway(fast.url, "fast")
    const sanity = await once(gateway.url, viaGateway)
    if (sanity.status !== 200 || sanity.route !== "openai") {
      throw new Error(`the gateway is not on the success path: ${sanity.status} ${sanity.text.slice(0, 300)}`)
    }
    const rssIdle = memoryOf(gateway.pid).rss
    const usageIdle = await gateway.memoryUsage()
    const runs: Record<string, Load> = {}
    for (const connections of [1, 10]) {
      for (const [name, url, auth] of [["direct", fast.url, direct], ["gateway", gateway.url, viaGateway]] as const) {
        await load("warm-up", url, auth, connections, WARMUP_SECONDS)
        runs[`${name}-${connections}`] = await load(`${name}, ${connections} conn`, url, auth, connections, SECONDS)
      }
    }
    for (const connections of [50, 100]) {
      await load("warm-up", gateway.url, viaGateway, connections, WARMUP_SECONDS)
      runs[`peak-${connections}`] = await load(`gateway, ${connections} conn`, gateway.url, viaGateway, connections, SECONDS)
    }
    const rssAfterLoad = memoryOf(gateway.pid)
    await stopGateway(gateway)

    // --- 3: a fresh gateway in front of the slow fault server
    const slowGateway = await startGateway(slow.url, "slow")
    const rssSlowIdle = memoryOf(slowGateway.pid).rss
    const held = await hold(slowGateway, slow, IN_FLIGHT)
    await stopGateway(slowGateway)
    const loadAfter = os.loadavg()

    // --- report
    const fmt = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "n/a"
    out.push(`Ballast gateway under load — loopback, POST /v1/images/generations, gateway in a child process`)
    out.push(`node ${process.version} (${process.platform}/${process.arch}), ${cpus.length} × ${cpus[0]?.model.trim() ?? "?"}, ${fmt(mb(os.totalmem()), 0)} MB`)
    out.push(`load average (1/5/15 min): before ${loadBefore.map((x) => fmt(x)).join(" ")}, after ${loadAfter.map((x) => fmt(x)).join(" ")}${loadBefore[0]! > cpus.length * 0.5 ? "  — busy machine, expect noise" : ""}`)
    out.push(`open files: this process ${readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))?.split(/\s{2,}/)[1] ?? "?"}, gateway child ${slowGateway.nofile} (asked ${NOFILE})`)
    out.push(`${SECONDS} s per measurement after ${WARMUP_SECONDS} s warm-up; latency percentiles over every 2xx response (µs resolution)`)
    out.push("")
    out.push(`${"run".padEnd(22)}${"requests".padStart(10)}${"req/s".padStart(10)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"non-2xx".padStart(9)}${"errors".padStart(8)}`)
    for (const r of Object.values(runs)) {
      out.push(`${r.label.padEnd(22)}${String(r.requests).padStart(10)}${fmt(r.rps, 0).padStart(10)}${fmt(r.p50, 3).padStart(9)}${fmt(r.p99, 3).padStart(9)}${String(r.non2xx).padStart(9)}${String(r.errors).padStart(8)}`)
    }
    const usage = (u: NodeJS.MemoryUsage | undefined) =>
      u === undefined ? "memoryUsage n/a" : `heap used ${fmt(mb(u.heapUsed), 1)} / total ${fmt(mb(u.heapTotal), 1)} MB, external ${fmt(mb(u.external), 1)} MB`
    out.push(
      `gateway RSS: ${fmt(mb(rssIdle), 1)} MB idle (${usage(usageIdle)}; a bare node+tsx child: ${fmt(mb(rssBare), 1)} MB), ` +
        `${fmt(mb(rssAfterLoad.rss), 1)} MB after runs 1–2 (peak ${fmt(mb(rssAfterLoad.hwm), 1)} MB)`
    )
    const statuses = [...held.statuses].map(([k, v]) => `${k}×${v}`).join(", ")
    out.push(
      `in flight: ${IN_FLIGHT} requests, upstream ${SLOW_MS / 1000} s: ${held.ok} 2xx, ${held.non2xx} non-2xx, ${held.errors} errors (${statuses}); ` +
        (held.upstreamAll
          ? `all ${IN_FLIGHT} held at the upstream at once ${fmt(held.upstreamAll.at / 1000, 1)} s after the first was sent; `
          : `at most ${held.maxHeld} held at the upstream at once (the first answers came back before the last arrived); `) +
        `RSS ${fmt(mb(rssSlowIdle), 1)} MB idle → ${held.upstreamAll ? fmt(mb(held.upstreamAll.rss), 1) : "n/a"} MB with all in flight, ` +
        `peak ${fmt(mb(Math.max(held.peakRss, held.hwm)), 1)} MB (${usage(held.upstreamAll?.usage)}); done in ${fmt(held.seconds, 1)} s`
    )
    out.push("")

    const added = (c: number, p: "p50" | "p99") => runs[`gateway-${c}`]![p] - runs[`direct-${c}`]![p]
    const verdict = (met: boolean) => (met ? "met" : "MISSED")
    const peak = Math.max(runs["peak-50"]!.rps, runs["peak-100"]!.rps)
    const peakClean = runs["peak-50"]!.non2xx + runs["peak-50"]!.errors + runs["peak-100"]!.non2xx + runs["peak-100"]!.errors === 0
    const inFlightMb = held.upstreamAll ? mb(Math.max(held.peakRss, held.hwm)) : Number.NaN
    const rows: Array<[string, string, string, string]> = [
      ["added p50, 1 conn", `${fmt(added(1, "p50"), 3)} ms`, "≤ 1 ms", verdict(added(1, "p50") <= 1)],
      ["added p99, 1 conn", `${fmt(added(1, "p99"), 3)} ms`, "≤ 2 ms", verdict(added(1, "p99") <= 2)],
      ["added p50, 10 conn", `${fmt(added(10, "p50"), 3)} ms`, "(no goal)", "—"],
      ["added p99, 10 conn", `${fmt(added(10, "p99"), 3)} ms`, "(no goal)", "—"],
      ["peak req/s (50/100 conn)", `${fmt(peak, 0)}${peakClean ? "" : " (with non-2xx/errors)"}`, "≥ 1,500", verdict(peak >= 1500 && peakClean)],
      [`${IN_FLIGHT} in flight, held at once`, `${held.maxHeld}`, `${IN_FLIGHT.toLocaleString("en")}`, IN_FLIGHT === 5000 ? verdict(held.upstreamAll !== undefined) : "not measured"],
      [`${IN_FLIGHT} in flight, errors`, `${held.non2xx + held.errors}`, IN_FLIGHT === 5000 ? "0 (of 5,000)" : "0 (goal is at 5,000)", IN_FLIGHT === 5000 && held.upstreamAll ? verdict(held.non2xx + held.errors === 0 && held.ok === IN_FLIGHT) : "not measured"],
      [`${IN_FLIGHT} in flight, peak RSS`, `${fmt(inFlightMb, 1)} MB`, "≤ 250 MB", IN_FLIGHT === 5000 && held.upstreamAll ? verdict(inFlightMb <= 250) : "not measured"]
    ]
    out.push(`${"figure".padEnd(28)}${"value".padStart(22)}  ${"goal".padEnd(22)}met?`)
    for (const [a, b, c, d] of rows) out.push(`${a.padEnd(28)}${b.padStart(22)}  ${c.padEnd(22)}${d}`)
  } finally {
    for (const child of children) if (child.pid !== undefined && child.exitCode === null) child.kill("SIGKILL")
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  console.log(out.join("\n"))
}

if (process.argv[2] === "--child") runChild(process.argv[3]!)
else {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
