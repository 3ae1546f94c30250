/**
 * The gateway under HTTP load, on loopback: what it adds to a call, how many
 * calls a second it carries, and how it holds thousands of slow calls at once.
 *
 *   pnpm bench:gateway                                   # from the repository root
 *   BENCH_SECONDS=5 BENCH_IN_FLIGHT=1000 pnpm bench:gateway   # quicker, noisier
 *   BENCH_CPU_PROF=/tmp/prof pnpm bench:gateway          # + V8 CPU profiles of the gateway children
 *   BENCH_HEAP_SNAPSHOT=/tmp/heap pnpm bench:gateway     # + a heap snapshot of the slow child with all in flight
 *                                                        #   (writing it inflates the RSS figures of that run)
 *   BENCH_SLOW_MS=60000 pnpm bench:gateway               # a slower upstream for step 3 (default 20 s)
 *   BENCH_NODE_FLAGS="--max-semi-space-size=32" pnpm bench:gateway   # node flags for the gateway children
 *   BENCH_RUNTIME=tsx pnpm bench:gateway                 # the child from the TypeScript sources under tsx instead
 *
 * This process runs the load generator (autocannon, programmatic) and the
 * `FaultServer` standing in for OpenAI; the gateway runs in a child process,
 * as production runs it: the production bundle (`packages/gateway/scripts/build.mjs`,
 * built at the start into a temporary directory) under plain `node`, as
 * `ballast.mjs serve --config <file>`, so that its RSS (`/proc/<pid>/status`
 * VmRSS / VmHWM) and CPU time (`/proc/<pid>/stat` utime + stime, read before
 * and after each run and divided by the run's requests) are its own. The only
 * addition is a preload (`node --import`) that prints the child's pid and
 * runtime once and its `process.memoryUsage()` on SIGUSR2. The configuration
 * serves one public model, `gpt-image-2`, with one OpenAI route to the fault
 * server: default retry, breaker, deadline and health probes. The public model
 * has the upstream's name, so the direct and the gateway runs send the same body.
 *
 * 0. The floor: a bare child started the same way (plain node, the preload)
 *    that imports nothing; its RSS.
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
 * CPU time per request is far steadier than requests/s on a shared machine:
 * requests/s drops whenever another process takes a core, the CPU a request
 * costs changes much less. CPU profiles point into `ballast.mjs` (not
 * minified, so they read as they are). With BENCH_RUNTIME=tsx no bundle is
 * built: the child runs `src/bin/ballast.ts` under this process's tsx loader,
 * for a comparison in the same sitting.
 *
 * This prints figures, it is not a test: nothing here passes or fails.
 */
import { VirtualKeys } from "@ballast/gateway"
import { FaultServer } from "@ballast/testing"
import autocannon from "autocannon"
import { Effect, Exit, Scope } from "effect"
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath, pathToFileURL } from "node:url"

const MODEL = "gpt-image-2"
const KEY = "ballast-bench"
const KEY_ENV = "BALLAST_BENCH_OPENAI_API_KEY"

// ---------------------------------------------------------------------------
// The child: `ballast serve --config` in front of the fault server, or the bare floor
// ---------------------------------------------------------------------------

const CHILD = "BALLAST_BENCH_CHILD "
const MEMORY = "BALLAST_BENCH_MEMORY "
const LISTENING = /^ballast gateway listening on (http:\/\/\S+)$/

// Preloaded into every child (`node --import`): its pid and runtime once, its `process.memoryUsage()` on SIGUSR2
// — what of its RSS is JS heap and what is not.
const PROBE = `process.on("SIGUSR2", () => process.stdout.write("${MEMORY}" + JSON.stringify(process.memoryUsage()) + "\\n"));\n` +
  `process.stdout.write("${CHILD}" + JSON.stringify({ pid: process.pid, version: process.version, execArgv: process.execArgv }) + "\\n");\n`

// The bare child imports nothing: the floor of the gateway child's RSS.
const BARE = `setInterval(() => {}, 1 << 30); process.once("SIGTERM", () => process.exit(0));`

// The gateway configuration the child serves.
const gatewayConfig = (faultServerUrl: string) => ({
  server: { host: "127.0.0.1", port: 0, shutdownTimeout: "1 second" },
  keys: [{ name: "bench", sha256: VirtualKeys.hash(KEY) }],
  providers: { openai: { kind: "openai", baseUrl: `${faultServerUrl}/v1`, apiKeyEnv: KEY_ENV } },
  models: { [MODEL]: { pipeline: { routes: { openai: { provider: "openai", model: MODEL } }, plan: [{ route: "openai" }] } } }
})

// How the gateway child runs: the bundle under plain node (production), or the sources under this process's tsx.
type Runtime = "node" | "tsx"
const RUNTIME: Runtime = process.env["BENCH_RUNTIME"] === "tsx" ? "tsx" : "node"
const repository = fileURLToPath(new URL("..", import.meta.url))
const buildScript = join(repository, "packages/gateway/scripts/build.mjs")
const binSource = join(repository, "packages/gateway/src/bin/ballast.ts")

interface Bundle {
  readonly file: string
  readonly bytes: number
  readonly seconds: number
}

// Builds the production bundle into `dir` with the gateway's own build script.
const buildBundle = (dir: string): Promise<Bundle> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const { NODE_OPTIONS: _, ...env } = process.env
    execFile(process.execPath, [buildScript, "--outdir", dir, "--quiet"], { env }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`the gateway bundle did not build:\n${stderr}`))
      const file = join(dir, "ballast.mjs")
      resolve({ file, bytes: readFileSync(file).length, seconds: (Date.now() - started) / 1000 })
    })
  })

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

interface Setup {
  /** The temporary directory: the probe, the configurations, the bundle. */
  readonly dir: string
  readonly probe: string
  /** The production bundle; undefined with BENCH_RUNTIME=tsx. */
  readonly bundle: Bundle | undefined
}

interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** The gateway's URL; empty for the bare child. */
  readonly url: string
  readonly nofile: string
  /** What the child reported of itself: `process.version` and `process.execArgv`. */
  readonly runtime: { readonly version: string; readonly execArgv: ReadonlyArray<string> }
  /** The child's `process.memoryUsage()`, undefined when it does not answer within 5 s. */
  readonly memoryUsage: () => Promise<NodeJS.MemoryUsage | undefined>
}

const children = new Set<ChildProcess>()

// The gateway child in front of `faultServerUrl`, or the bare child when it is undefined.
const startChild = (setup: Setup, faultServerUrl: string | undefined, label: string): Promise<Child> =>
  new Promise((resolve, reject) => {
    const prof = process.env["BENCH_CPU_PROF"]
    const snapshot = process.env["BENCH_HEAP_SNAPSHOT"] // a directory: the slow child writes a heap snapshot with all in flight
    const nodeArgs = [
      // Under tsx this process's execArgv holds tsx's loader; plain node gets none.
      ...(RUNTIME === "tsx" ? process.execArgv : []),
      `--import=${pathToFileURL(setup.probe).href}`,
      ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []),
      ...(snapshot && label === "slow" ? ["--heapsnapshot-signal=SIGUSR1", `--diagnostic-dir=${snapshot}`] : []),
      // Deployment flags to try, e.g. BENCH_NODE_FLAGS="--max-semi-space-size=32".
      ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter((flag) => flag !== "") ?? [])
    ]
    let args: Array<string> = ["-e", BARE]
    if (faultServerUrl !== undefined) {
      const config = join(setup.dir, `gateway-${label}.json`)
      writeFileSync(config, JSON.stringify(gatewayConfig(faultServerUrl)))
      const bin = RUNTIME === "tsx" ? binSource : setup.bundle!.file
      args = [bin, "serve", "--config", config, "--log-format", "json"]
    }
    const quoted = [process.execPath, ...nodeArgs, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    // Raise the open-files limit as far as this shell may (the hard limit, when 65536 is above it).
    const script = `{ ulimit -n ${NOFILE} || ulimit -n "$(ulimit -Hn)"; } 2>/dev/null; exec ${quoted.join(" ")}`
    // Plain node runs with none of this process's NODE_OPTIONS; the provider key comes from the environment.
    const { NODE_OPTIONS: _, ...inherited } = process.env
    const env = { ...(RUNTIME === "tsx" ? process.env : inherited), [KEY_ENV]: "sk-bench" }
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"], env })
    children.add(child)
    child.once("exit", () => children.delete(child))
    let buffered = ""
    let reported: { pid: number; version: string; execArgv: Array<string> } | undefined
    let url = faultServerUrl === undefined ? "" : undefined
    let started = false
    const waiting: Array<(usage: NodeJS.MemoryUsage) => void> = []
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const lines = buffered.split("\n")
      buffered = lines.pop()!
      for (const line of lines) {
        if (line.startsWith(MEMORY)) waiting.shift()?.(JSON.parse(line.slice(MEMORY.length)) as NodeJS.MemoryUsage)
        if (line.startsWith(CHILD)) reported = JSON.parse(line.slice(CHILD.length))
        url ??= LISTENING.exec(line)?.[1]
      }
      if (started || reported === undefined || url === undefined) return
      started = true
      const { pid, ...runtime } = reported
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
      resolve({ process: child, pid, url, nofile, runtime, memoryUsage })
    })
    child.once("exit", (code) => reject(new Error(`gateway child exited early (code ${code})`)))
  })

const stopChild = async (child: Child) => {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.process.once("exit", () => resolve()))
  process.kill(child.pid, "SIGTERM")
  const killed = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)])
  if (killed) {
    process.kill(child.pid, "SIGKILL")
    await exited
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

// A process's CPU time so far, user + system, in seconds: fields 14 and 15 of /proc/<pid>/stat (counted after the
// parenthesised command name, which may hold spaces).
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
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
  /** The gateway child's CPU time (user + system) over the run divided by its requests, in µs; NaN for direct runs. */
  readonly cpuPerRequest: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

// `gatewayPid`: the gateway child the requests go through, whose CPU time the run reads.
const load = (
  label: string,
  url: string,
  authorization: string,
  connections: number,
  seconds: number,
  gatewayPid?: number
): Promise<Load> =>
  new Promise((resolve, reject) => {
    const latencies: Array<number> = []
    const cpuBefore = gatewayPid === undefined ? Number.NaN : cpuSeconds(gatewayPid)
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
      const cpu = gatewayPid === undefined ? Number.NaN : cpuSeconds(gatewayPid) - cpuBefore
      latencies.sort((a, b) => a - b)
      resolve({
        label,
        requests: result.requests.total,
        rps: result.requests.total / (result.duration || seconds),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        cpuPerRequest: (cpu * 1e6) / result.requests.total
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
  const cpuBefore = cpuSeconds(child.pid)
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
  const cpuPerRequest = ((cpuSeconds(child.pid) - cpuBefore) * 1e6) / n
  agent.destroy()
  return { ...outcomes, peakRss, hwm, maxHeld, upstreamAll, cpuPerRequest, seconds: (Date.now() - started) / 1000 }
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
  const dir = mkdtempSync(join(os.tmpdir(), "ballast-bench-gateway-"))
  try {
    const probe = join(dir, "probe.mjs")
    writeFileSync(probe, PROBE)
    const bundle = RUNTIME === "node" ? await buildBundle(join(dir, "bundle")) : undefined
    const setup: Setup = { dir, probe, bundle }

    // --- the floor: a child started the same way, nothing imported
    const bare = await startChild(setup, undefined, "bare")
    await sleep(500)
    const rssBare = memoryOf(bare.pid).rss
    await stopChild(bare)

    // --- 1 and 2: the gateway in front of the fast fault server
    const gateway = await startChild(setup, fast.url, "fast")
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
        const pid = name === "gateway" ? gateway.pid : undefined
        runs[`${name}-${connections}`] = await load(`${name}, ${connections} conn`, url, auth, connections, SECONDS, pid)
      }
    }
    for (const connections of [50, 100]) {
      await load("warm-up", gateway.url, viaGateway, connections, WARMUP_SECONDS)
      runs[`peak-${connections}`] = await load(
        `gateway, ${connections} conn`,
        gateway.url,
        viaGateway,
        connections,
        SECONDS,
        gateway.pid
      )
    }
    const rssAfterLoad = memoryOf(gateway.pid)
    await stopChild(gateway)

    // --- 3: a fresh gateway in front of the slow fault server
    const slowGateway = await startChild(setup, slow.url, "slow")
    const rssSlowIdle = memoryOf(slowGateway.pid).rss
    const held = await hold(slowGateway, slow, IN_FLIGHT)
    await stopChild(slowGateway)
    const loadAfter = os.loadavg()

    // --- report
    const fmt = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "n/a"
    out.push(`Ballast gateway under load — loopback, POST /v1/images/generations, gateway in a child process`)
    out.push(`node ${process.version} (${process.platform}/${process.arch}), ${cpus.length} × ${cpus[0]?.model.trim() ?? "?"}, ${fmt(mb(os.totalmem()), 0)} MB`)
    out.push(`load average (1/5/15 min): before ${loadBefore.map((x) => fmt(x)).join(" ")}, after ${loadAfter.map((x) => fmt(x)).join(" ")}${loadBefore[0]! > cpus.length * 0.5 ? "  — busy machine, expect noise" : ""}`)
    const flags = gateway.runtime.execArgv.map((a) => a === `--import=${pathToFileURL(probe).href}` ? "--import=<probe>" : a)
    out.push(
      RUNTIME === "node"
        ? `gateway child: plain node ${gateway.runtime.version} running the production bundle ` +
          `(ballast.mjs, ${fmt(mb(bundle!.bytes), 1)} MB, built in ${fmt(bundle!.seconds, 1)} s) as \`serve --config\`; ` +
          `node flags: ${flags.join(" ")}`
        : `gateway child: node ${gateway.runtime.version} with tsx running packages/gateway/src/bin/ballast.ts as ` +
          `\`serve --config\` (BENCH_RUNTIME=tsx); node flags: ${flags.join(" ")}`
    )
    out.push(`open files: this process ${readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))?.split(/\s{2,}/)[1] ?? "?"}, gateway child ${slowGateway.nofile} (asked ${NOFILE})`)
    out.push(`${SECONDS} s per measurement after ${WARMUP_SECONDS} s warm-up; latency percentiles over every 2xx response (µs resolution)`)
    out.push(`CPU µs/req: the gateway child's user + system CPU time over the run (/proc/<pid>/stat) divided by the run's requests`)
    out.push("")
    out.push(`${"run".padEnd(22)}${"requests".padStart(10)}${"req/s".padStart(10)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"non-2xx".padStart(9)}${"errors".padStart(8)}${"CPU µs/req".padStart(12)}`)
    for (const r of Object.values(runs)) {
      const cpu = Number.isFinite(r.cpuPerRequest) ? fmt(r.cpuPerRequest, 0) : "—"
      out.push(`${r.label.padEnd(22)}${String(r.requests).padStart(10)}${fmt(r.rps, 0).padStart(10)}${fmt(r.p50, 3).padStart(9)}${fmt(r.p99, 3).padStart(9)}${String(r.non2xx).padStart(9)}${String(r.errors).padStart(8)}${cpu.padStart(12)}`)
    }
    const usage = (u: NodeJS.MemoryUsage | undefined) =>
      u === undefined ? "memoryUsage n/a" : `heap used ${fmt(mb(u.heapUsed), 1)} / total ${fmt(mb(u.heapTotal), 1)} MB, external ${fmt(mb(u.external), 1)} MB`
    out.push(
      `gateway RSS: ${fmt(mb(rssIdle), 1)} MB idle (${usage(usageIdle)}; a bare ${RUNTIME === "node" ? "plain-node" : "node+tsx"} child: ${fmt(mb(rssBare), 1)} MB), ` +
        `${fmt(mb(rssAfterLoad.rss), 1)} MB after runs 1–2 (peak ${fmt(mb(rssAfterLoad.hwm), 1)} MB)`
    )
    const statuses = [...held.statuses].map(([k, v]) => `${k}×${v}`).join(", ")
    out.push(
      `in flight: ${IN_FLIGHT} requests, upstream ${SLOW_MS / 1000} s: ${held.ok} 2xx, ${held.non2xx} non-2xx, ${held.errors} errors (${statuses}); ` +
        (held.upstreamAll
          ? `all ${IN_FLIGHT} held at the upstream at once ${fmt(held.upstreamAll.at / 1000, 1)} s after the first was sent; `
          : `at most ${held.maxHeld} held at the upstream at once (the first answers came back before the last arrived); `) +
        `RSS ${fmt(mb(rssSlowIdle), 1)} MB idle → ${held.upstreamAll ? fmt(mb(held.upstreamAll.rss), 1) : "n/a"} MB with all in flight, ` +
        `peak ${fmt(mb(Math.max(held.peakRss, held.hwm)), 1)} MB (${usage(held.upstreamAll?.usage)}); ` +
        `gateway CPU ${fmt(held.cpuPerRequest, 0)} µs/req; done in ${fmt(held.seconds, 1)} s`
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
    rmSync(dir, { recursive: true, force: true })
  }
  console.log(out.join("\n"))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
