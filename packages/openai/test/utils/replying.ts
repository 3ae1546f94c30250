/**
 * A minimal HTTP server for the few cases the fault server cannot produce
 * (another `output_format`, unusable 200 bodies, a masked key echoed back, an
 * HTTP-date `retry-after`, a 529): it answers the replies in order (the last
 * one repeats) on 127.0.0.1 and counts the requests.
 */
import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface Reply {
  readonly status: number
  readonly body: string | object
  readonly headers?: Readonly<Record<string, string>>
}

export const replying = (
  ...replies: ReadonlyArray<Reply>
): Effect.Effect<{ readonly baseUrl: string; readonly count: () => number }, never, Scope.Scope> => {
  let count = 0
  return Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          const reply = replies[Math.min(count++, replies.length - 1)]!
          res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
          res.end(typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => ({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      count: () => count
    }))
  )
}
