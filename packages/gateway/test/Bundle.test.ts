/**
 * The production bundle: `scripts/build.mjs` builds `ballast.mjs` into a
 * temporary directory (never `dist/`, so parallel runs do not collide) and
 * plain `node` runs it — no tsx, no `NODE_OPTIONS`, from that directory — as
 * a deployment would. Servers bind 127.0.0.1 on a free port; each test stops
 * only the process it started, by its pid.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { SourceMap } from "node:module"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const buildScript = fileURLToPath(new URL("../scripts/build.mjs", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "ballast-bundle-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const bundleDir = join(dir, "bundle")
const bundle = join(bundleDir, "ballast.mjs")

// Plain node: without the NODE_OPTIONS of whatever started the tests (a loader there would hide a broken bundle).
const { NODE_OPTIONS: _, ...plainEnv } = process.env

const execNode = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = plainEnv) =>
  new Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: dir, env, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
  })

beforeAll(async () => {
  const { code, stderr } = await execNode([buildScript, "--outdir", bundleDir, "--quiet"])
  expect(code, stderr).toBe(0)
}, 120_000)

const run = (args: ReadonlyArray<string>) => Effect.promise(() => execNode([bundle, ...args]))

interface Served {
  readonly child: ChildProcess
  readonly pid: number
  readonly url: string
  readonly out: () => string
  /** Sends SIGTERM to this process and waits for its exit. */
  readonly stop: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

// `ballast serve ...args` from the bundle, once it prints where it listens; killed (by pid) if the test leaves it running.
const serve = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = plainEnv): Effect.Effect<Served, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, [bundle, "serve", ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })),
      (child) => Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
      })
    )
    let out = ""
    child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal }))
    )
    const url = yield* Effect.suspend(() => {
      const match = /^ballast gateway listening on (\S+)$/m.exec(out)
      if (match !== null) return Effect.succeed(match[1]!)
      return child.exitCode === null ? Effect.fail("not listening yet") : Effect.dieMessage(`serve exited early:\n${out}`)
    }).pipe(
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds"))),
      Effect.orDieWith(() => new Error(`serve did not print its URL:\n${out}`))
    )
    const pid = child.pid!
    const stop = Effect.promise(() => {
      process.kill(pid, "SIGTERM")
      return exited
    })
    return { child, pid, url, out: () => out, stop }
  })

describe("the production bundle", () => {
  it.live("--version and --help exit 0", () =>
    Effect.gen(function*() {
      const version = yield* run(["--version"])
      expect(version.code, version.stderr).toBe(0)
      expect(version.stdout.trim()).toBe("0.1.0")
      const help = yield* run(["--help"])
      expect(help.code, help.stderr).toBe(0)
      for (const command of ["simulate", "validate-config", "routes", "generate", "serve"]) {
        expect(help.stdout).toContain(command)
      }
    }))

  it.live("serve --demo --port 0 listens, answers GET /health and exits 0 on SIGTERM", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--demo", "--port", "0"])
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const health = yield* Effect.promise(() => fetch(`${served.url}/health`))
      expect(health.status).toBe(200)
      expect(yield* served.stop).toEqual({ code: 0, signal: null })
    }).pipe(Effect.scoped))

  // Tracing.ts imports the OpenTelemetry SDK with import() only when an endpoint is set: the bundle must carry it.
  it.live("with OTEL_EXPORTER_OTLP_ENDPOINT, serve exports its spans and flushes them on SIGTERM", () =>
    Effect.gen(function*() {
      const posted: Array<{ readonly path: string; readonly body: string }> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((request, response) => {
            let body = ""
            request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
            request.on("end", () => {
              posted.push({ path: request.url ?? "", body })
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      const collector = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const served = yield* serve(["--demo", "--port", "0"], { ...plainEnv, OTEL_EXPORTER_OTLP_ENDPOINT: collector })
      const answer = yield* Effect.promise(() =>
        fetch(`${served.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer ballast-demo" },
          body: JSON.stringify({ model: "gpt-5.2", messages: [{ role: "user", content: "hello" }] })
        })
      )
      expect(answer.status).toBe(200)
      expect(yield* served.stop, served.out()).toEqual({ code: 0, signal: null })
      expect(posted.map((p) => p.path)).toContain("/v1/traces")
      expect(posted.map((p) => p.body).join("\n")).toContain(`"ballast.request"`)
    }).pipe(Effect.scoped))

  it.effect("the source map leads back to the gateway's TypeScript", () =>
    Effect.sync(() => {
      const lines = readFileSync(bundle, "utf8").split("\n")
      const line = lines.findIndex((text) => text.includes("ballast gateway listening on"))
      expect(line).toBeGreaterThan(0)
      const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, "utf8")))
      const entry = map.findEntry(line, lines[line]!.indexOf("ballast gateway listening on"))
      expect("originalSource" in entry ? entry.originalSource : undefined).toMatch(/packages\/gateway\/src\/cli\/Serve\.ts$/)
    }))

  // better-sqlite3 (a native addon) comes through @ballast/batch → @effect/sql-sqlite-node: under pnpm it is in
  // no node_modules above the gateway, let alone above a temporary directory.
  it.live("the native external better-sqlite3 is linked beside the bundle and loads from there", () =>
    Effect.gen(function*() {
      expect(readFileSync(bundle, "utf8")).toMatch(/^import \S+ from "better-sqlite3";$/m)
      expect(existsSync(join(bundleDir, "node_modules", "better-sqlite3", "package.json"))).toBe(true)
      const manifest = JSON.parse(readFileSync(join(bundleDir, "package.json"), "utf8"))
      expect(Object.keys(manifest.dependencies)).toEqual(["better-sqlite3"])
      const status = yield* run(["batch", "status", "--db", join(dir, "jobs.db"), "--json"])
      expect(status.code, status.stderr).toBe(0)
      expect(JSON.parse(status.stdout)).toMatchObject({ queued: 0, succeeded: 0 })
    }))
})
