/**
 * How the gateway reaches providers: one keep-alive connection pool (an
 * undici `Agent`) and a `fetch` on it that the provider SDKs are given in
 * place of the global one.
 *
 * Why not the global `fetch`: it is undici too, but every call builds a WHATWG
 * `Request`, an `AbortSignal` with its transfer machinery and a streamed
 * `Response` body, which cost the gateway more CPU per request than the rest
 * of the request together and ~20 KB of memory per call in flight (see
 * `bench/gateway.ts` and the README). `Agent.request` is undici's own API;
 * this `fetch` hands the SDK a complete `Response` (buffered, or streamed for
 * `text/event-stream`) and keeps the global `fetch`'s contract where the SDKs
 * read it: an aborted call rejects with the signal's reason (an `AbortError`),
 * a network failure with `TypeError("fetch failed")` carrying the cause.
 * It does not follow redirects (provider APIs do not redirect).
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import { Readable } from "node:stream"
import { Agent, type Dispatcher } from "undici"

/**
 * @since 0.1.0
 */
export interface Options {
  /** How long an idle connection is kept for reuse. Default 30 seconds. */
  readonly keepAliveMillis?: number | undefined
  /** Connections per origin; unlimited by default (a gateway holds one call in flight per connection). */
  readonly connectionsPerOrigin?: number | undefined
}

/**
 * A connection pool and the `fetch` on it.
 *
 * @since 0.1.0
 */
export interface Upstream {
  /** Give it to the SDK clients: `OpenAIClient.make({ ..., fetch })`, `GeminiClient.make({ ..., fetch })`. */
  readonly fetch: typeof globalThis.fetch
}

/**
 * Opens the pool; closing the scope destroys it (aborting what is still in
 * flight: the gateway has drained by then).
 *
 * @since 0.1.0
 * @example
 * import { Effect, Redacted } from "effect"
 * import { OpenAIClient } from "@ballast/openai"
 * import { Upstream } from "@ballast/gateway"
 *
 * const client = Effect.gen(function*() {
 *   const upstream = yield* Upstream.make()
 *   return yield* OpenAIClient.make({ apiKey: Redacted.make("sk-..."), fetch: upstream.fetch })
 * })
 */
export const make = (options: Options = {}): Effect.Effect<Upstream, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        new Agent({
          keepAliveTimeout: options.keepAliveMillis ?? 30_000,
          connections: options.connectionsPerOrigin ?? null,
          // The SDK's timeout and the request's deadline bound every call; undici's own (300 s) would cut a
          // long generation short.
          headersTimeout: 0,
          bodyTimeout: 0
        })
      ),
      (agent) => Effect.promise(() => agent.destroy())
    ),
    (agent) => ({ fetch: fetchOn(agent) })
  )

const abortError = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("This operation was aborted", "AbortError")

type Body = NonNullable<Dispatcher.RequestOptions["body"]>

// What `fetch` accepts as a body, as undici's `request` takes it.
const bodyOf = (body: RequestInit["body"]): Body | undefined => {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string" || body instanceof Uint8Array) return body
  // The global FormData is Node's own undici's; this undici reads any FormData-like body.
  if (body instanceof FormData) return body as unknown as Body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof URLSearchParams) return body.toString()
  if (body instanceof ReadableStream) return Readable.fromWeb(body as import("node:stream/web").ReadableStream)
  if (body instanceof Blob) return Readable.fromWeb(body.stream() as import("node:stream/web").ReadableStream)
  throw new TypeError("Upstream.fetch: unsupported request body")
}

const headersOf = (headers: RequestInit["headers"]): Record<string, string> => {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  if (headers instanceof Headers || Array.isArray(headers)) {
    for (const [name, value] of headers) out[name.toLowerCase()] = value
    return out
  }
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = typeof value === "string" ? value : value.join(", ")
  }
  return out
}

const responseHeaders = (raw: Record<string, string | Array<string> | undefined>): Headers => {
  const headers = new Headers()
  for (const name in raw) {
    const value = raw[name]
    if (typeof value === "string") headers.append(name, value)
    else if (value !== undefined) for (const v of value) headers.append(name, v)
  }
  return headers
}

// Statuses whose response has no body (the `Response` constructor refuses one).
const bodiless = new Set([101, 103, 204, 205, 304])

const fetchOn = (agent: Agent): typeof globalThis.fetch => async (input, init) => {
  const request = input instanceof Request ? input : undefined
  const url = new URL(request?.url ?? String(input))
  const signal = init?.signal ?? request?.signal ?? undefined
  if (signal?.aborted) throw abortError(signal)
  let answer: Dispatcher.ResponseData
  try {
    const body = bodyOf(init?.body ?? undefined)
    answer = await agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: (init?.method ?? request?.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
      headers: headersOf(init?.headers ?? request?.headers),
      ...(body !== undefined ? { body } : {}),
      ...(signal !== undefined ? { signal } : {})
    })
  } catch (error) {
    if (signal?.aborted) throw abortError(signal)
    throw new TypeError("fetch failed", { cause: error })
  }
  const headers = responseHeaders(answer.headers)
  if (bodiless.has(answer.statusCode)) {
    answer.body.resume()
    return new Response(null, { status: answer.statusCode, headers })
  }
  // A stream is handed on as it arrives; anything else is read whole, which is cheaper than a web stream.
  if (headers.get("content-type")?.includes("text/event-stream")) {
    return new Response(Readable.toWeb(answer.body) as ReadableStream, { status: answer.statusCode, headers })
  }
  try {
    const bytes = await answer.body.arrayBuffer()
    return new Response(bytes, { status: answer.statusCode, headers })
  } catch (error) {
    if (signal?.aborted) throw abortError(signal)
    throw new TypeError("fetch failed", { cause: error })
  }
}
