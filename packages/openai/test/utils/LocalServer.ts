/**
 * A minimal scripted HTTP server on 127.0.0.1 (port 0) for the adapter tests:
 * it answers each request with the next scripted reply (or a default), records
 * what it received and whether the client went away before the answer.
 */
import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: unknown
  aborted: boolean
}

export type Reply =
  | {
    readonly status: number
    readonly body: string | object
    readonly headers?: Readonly<Record<string, string>>
  }
  | { readonly hang: true }

export interface LocalServer {
  /** The base URL the SDK should use, ending in `/v1`. */
  readonly baseUrl: string
  readonly received: Array<Received>
  /** Queues replies for the next requests, in order. */
  readonly script: (...replies: ReadonlyArray<Reply>) => void
}

/** A 1×1 transparent PNG. */
export const pngBytes = Uint8Array.from(Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64"
))

export const imagesOk = (count = 1, extra: object = {}): Reply => ({
  status: 200,
  body: {
    created: 1763769600,
    data: Array.from({ length: count }, () => ({ b64_json: Buffer.from(pngBytes).toString("base64") })),
    ...extra
  }
})

export const openAIError = (status: number, error: object, headers: Record<string, string> = {}): Reply => ({
  status,
  body: JSON.stringify({ error }, null, 2),
  headers: { "content-type": "application/json", ...headers }
})

const send = (res: Http.ServerResponse, reply: Exclude<Reply, { hang: true }>) => {
  const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
  res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
  res.end(text)
}

export const start = (defaultReply: Reply = imagesOk()): Effect.Effect<LocalServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; local: LocalServer }>((resume) => {
      const received: Array<Received> = []
      const queue: Array<Reply> = []
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8")
          let body: unknown = raw
          try {
            body = raw.length > 0 ? JSON.parse(raw) : undefined
          } catch {
            // keep the raw text
          }
          const record: Received = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, aborted: false }
          received.push(record)
          res.on("close", () => {
            if (!res.writableFinished) record.aborted = true
          })
          const reply = queue.shift() ?? defaultReply
          if (!("hang" in reply)) send(res, reply)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({
          server,
          local: {
            baseUrl: `http://127.0.0.1:${port}/v1`,
            received,
            script: (...replies) => {
              queue.push(...replies)
            }
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ local }) => local))

/** Waits (in real time) until a condition holds, for at most `ms`. */
export const eventually = (condition: () => boolean, ms = 5_000): Effect.Effect<void, Error> =>
  Effect.async<void, Error>((resume) => {
    const started = Date.now()
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer)
        resume(Effect.void)
      } else if (Date.now() - started > ms) {
        clearInterval(timer)
        resume(Effect.fail(new Error("condition not met in time")))
      }
    }, 10)
    return Effect.sync(() => clearInterval(timer))
  })
