/**
 * The configuration of a gateway process: where it listens, the virtual keys
 * callers present (stored as SHA-256 digests), the providers it calls (their
 * keys read from the environment as `Redacted`), and the public model names it
 * serves, each backed by a `PipelineConfig` — an image pipeline, or a text
 * pipeline (`kind: text`) served on the chat wire — and, optionally, the batch
 * queue it serves at `/v1/batches` (and works through). Read from JSON or YAML; every
 * problem is reported with its path (`models.image.pipeline.plan[1].route`).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Capabilities, PipelineConfig } from "@ballast/core"
import { Duration, Effect, Either, Option, Predicate, Schema } from "effect"
import * as YAML from "yaml"
import { type Issue, parseIssues } from "./internal/issues.js"

const Name = Schema.String.pipe(Schema.nonEmptyString({ message: () => "must not be empty" }))

/**
 * The default body limit: 25 MB (reference images arrive base64-encoded).
 *
 * @since 0.1.0
 */
export const defaultBodyLimit = 25 * 1024 * 1024

/**
 * Where and how the gateway listens. `bodyLimit` is in bytes; a larger body
 * is answered `413`. On shutdown, in-flight requests get `shutdownTimeout` to
 * finish before they are interrupted.
 *
 * @since 0.1.0
 */
export const ServerSettings = Schema.Struct({
  host: Schema.optionalWith(Name, { default: () => "127.0.0.1", exact: true }),
  port: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 65535)), { default: () => 8080, exact: true }),
  bodyLimit: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => defaultBodyLimit, exact: true }),
  shutdownTimeout: Schema.optionalWith(PipelineConfig.DurationInput, { default: () => Duration.seconds(30), exact: true })
})

/**
 * @since 0.1.0
 */
export type ServerSettings = typeof ServerSettings.Type

/**
 * A virtual key: its name (for logs and limits), the lowercase hex SHA-256 of
 * the key itself, and an optional per-key request limit.
 *
 * @since 0.1.0
 */
export const VirtualKey = Schema.Struct({
  name: Name,
  sha256: Schema.String.pipe(
    Schema.pattern(/^[0-9a-fA-F]{64}$/, { message: () => "must be the 64 hex digits of the key's SHA-256" })
  ),
  requestsPerMinute: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { exact: true })
})

/**
 * @since 0.1.0
 */
export type VirtualKey = typeof VirtualKey.Type

/**
 * A provider endpoint a route's `provider` label names: its wire (`google`,
 * `openai`, or `openai-compatible` for Flux / Stable Diffusion / Groq servers),
 * an optional base URL, the environment variable holding its API key, and a
 * per-call timeout.
 *
 * @since 0.1.0
 */
export const ProviderSettings = Schema.Struct({
  kind: Schema.Literal("google", "openai", "openai-compatible"),
  baseUrl: Schema.optionalWith(Name, { exact: true }),
  apiKeyEnv: Name,
  timeout: Schema.optionalWith(PipelineConfig.DurationInput, { exact: true })
})

/**
 * @since 0.1.0
 */
export type ProviderSettings = typeof ProviderSettings.Type

/**
 * The batch queue the gateway serves at `/v1/batches`: its database (a SQLite
 * file, or a `postgres://` URL — or `dbEnv`, the environment variable holding
 * one, when the URL carries a password) and where images are written
 * (default: beside a SQLite file, `ballast-batch-images` for PostgreSQL). With
 * `worker`, the gateway also works through the queue inside the off-peak
 * window (or at once with `ignoreWindow`), on `model`'s pipeline made for
 * batch work (full quality only: no description rung, no degradation); without
 * it, `ballast batch work` processes do.
 *
 * @since 0.1.0
 */
export const BatchSettings = Schema.Struct({
  db: Schema.optionalWith(Name, { exact: true }),
  dbEnv: Schema.optionalWith(Name, { exact: true }),
  images: Schema.optionalWith(Name, { exact: true }),
  worker: Schema.optionalWith(
    Schema.Struct({
      model: Schema.optionalWith(Name, { exact: true }),
      concurrency: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 4, exact: true }),
      ignoreWindow: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true })
    }),
    { exact: true }
  )
}).pipe(
  Schema.filter((batch) =>
    (batch.db === undefined) !== (batch.dbEnv === undefined) || "give exactly one of db (a SQLite file or URL) and dbEnv"
  )
)

/**
 * @since 0.1.0
 */
export type BatchSettings = typeof BatchSettings.Type

const ModelInput = Schema.Struct({
  aliases: Schema.optionalWith(Schema.Array(Name), { default: () => [], exact: true }),
  pipeline: Schema.Unknown
})

const Document = Schema.Struct({
  server: Schema.optionalWith(ServerSettings, { default: () => Schema.decodeSync(ServerSettings)({}), exact: true }),
  keys: Schema.Array(VirtualKey).pipe(
    Schema.filter((keys) => keys.length > 0 || "must list at least one key (the gateway never runs open)")
  ),
  providers: Schema.Record({ key: Schema.String, value: ProviderSettings }),
  models: Schema.Record({ key: Schema.String, value: ModelInput }).pipe(
    Schema.filter((models) => Object.keys(models).length > 0 || "must define at least one model")
  ),
  batch: Schema.optionalWith(BatchSettings, { exact: true })
})

/**
 * A public model: its aliases and the pipeline that serves it.
 *
 * @since 0.1.0
 */
export interface ModelSettings {
  readonly aliases: ReadonlyArray<string>
  readonly pipeline: PipelineConfig.PipelineConfig
}

/**
 * A validated gateway configuration.
 *
 * @since 0.1.0
 */
export interface GatewayConfig {
  readonly server: ServerSettings
  readonly keys: ReadonlyArray<VirtualKey>
  readonly providers: Readonly<Record<string, ProviderSettings>>
  readonly models: Readonly<Record<string, ModelSettings>>
  readonly batch?: BatchSettings | undefined
}

/**
 * One problem in a gateway configuration: where and what.
 *
 * @since 0.1.0
 */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/**
 * A gateway configuration could not be read, parsed or validated. `message`
 * lists every issue, one per line, as `path: problem`.
 *
 * @since 0.1.0
 */
export class GatewayConfigError extends Schema.TaggedError<GatewayConfigError>("@ballast/gateway/GatewayConfigError")(
  "GatewayConfigError",
  {
    message: Schema.String,
    issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
  }
) {}

const line = (issue: ConfigIssue) => issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`

const configError = (issues: ReadonlyArray<ConfigIssue>, source?: string): GatewayConfigError => {
  const where = source === undefined ? "" : ` in ${source}`
  const message = issues.length === 1
    ? `Invalid gateway configuration${where}: ${line(issues[0]!)}`
    : `Invalid gateway configuration${where} (${issues.length} problems):\n${issues.map((i) => `  ${line(i)}`).join("\n")}`
  return new GatewayConfigError({ message, issues: issues.map(({ message, path }) => ({ path, message })) })
}

const decodeDocument = Schema.decodeUnknownEither(Document, { errors: "all", onExcessProperty: "error" })

// The wire a route's model needs: Gemini image models are sized by name, OpenAI-style ones in pixels; a
// text model from the table is served by a google provider only if it is a Gemini model (the OpenAI-compatible
// wires can front anything). A route that declares its own capabilities is taken at its word.
const kindProblem = (
  model: string,
  kind: ProviderSettings["kind"],
  capabilities: Capabilities.ModelCapabilities,
  declared: boolean
) => {
  if (!Capabilities.supports(capabilities, "image")) {
    return kind === "google" && !declared && capabilities.provider !== "google"
      ? `model "${model}" is not a Gemini model; a google provider cannot serve it`
      : undefined
  }
  const named = capabilities.sizing.kind === "named"
  if (kind === "google" && !named) return `model "${model}" is sized in pixels; a google provider cannot serve it`
  if (kind !== "google" && named) return `model "${model}" is sized by name (Gemini); a ${kind} provider cannot serve it`
  return undefined
}

const crossCheck = (
  providers: Readonly<Record<string, ProviderSettings>>,
  models: Readonly<Record<string, ModelSettings>>
): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  const known = Object.keys(providers)
  const names = new Map<string, string>()
  for (const name of Object.keys(models)) names.set(name, `models.${name}`)
  for (const [name, model] of Object.entries(models)) {
    model.aliases.forEach((alias, i) => {
      const taken = names.get(alias)
      if (taken !== undefined) {
        issues.push({ path: `models.${name}.aliases[${i}]`, message: `"${alias}" is already used by ${taken}` })
      } else names.set(alias, `models.${name}.aliases[${i}]`)
    })
    for (const [routeName, route] of Object.entries(model.pipeline.routes)) {
      const at = `models.${name}.pipeline.routes.${routeName}.provider`
      const provider = providers[route.provider]
      if (provider === undefined) {
        issues.push({
          path: at,
          message: `unknown provider "${route.provider}" (${
            known.length > 0 ? `known: ${known.join(", ")}` : "no providers are defined"
          })`
        })
        continue
      }
      const problem = kindProblem(
        route.model,
        provider.kind,
        PipelineConfig.capabilitiesOf(model.pipeline, routeName),
        route.capabilities !== undefined
      )
      if (problem !== undefined) issues.push({ path: at, message: problem })
    }
  }
  return issues
}

// The batch worker's model: the one named, which must be an image model, or else the only image model.
const batchModelProblem = (batch: BatchSettings | undefined, models: Readonly<Record<string, ModelSettings>>) => {
  if (batch?.worker === undefined) return []
  const images = Object.keys(models).filter((name) => models[name]!.pipeline.kind === "image")
  const named = batch.worker.model
  if (named === undefined) {
    return images.length === 1 ? [] : [{
      path: "batch.worker.model",
      message: images.length === 0
        ? "there is no image model to run batch jobs on"
        : `name the image model that runs batch jobs (one of: ${images.join(", ")})`
    }]
  }
  if (images.includes(named)) return []
  return [{
    path: "batch.worker.model",
    message: models[named] === undefined
      ? `unknown model "${named}" (image models: ${images.join(", ") || "none"})`
      : `"${named}" is a text model; batch jobs make images`
  }]
}

/**
 * The model a gateway's batch worker runs jobs on (`batch.worker.model`, or
 * the only image model), once the configuration is valid.
 *
 * @since 0.1.0
 */
export const batchModel = (config: GatewayConfig): string | undefined =>
  config.batch?.worker === undefined
    ? undefined
    : config.batch.worker.model ?? Object.keys(config.models).find((name) => config.models[name]!.pipeline.kind === "image")

const duplicates = (keys: ReadonlyArray<VirtualKey>): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  const seenNames = new Set<string>()
  const seenDigests = new Set<string>()
  keys.forEach((key, i) => {
    if (seenNames.has(key.name)) issues.push({ path: `keys[${i}].name`, message: `"${key.name}" is listed twice` })
    if (seenDigests.has(key.sha256.toLowerCase())) issues.push({ path: `keys[${i}].sha256`, message: "the same key is listed twice" })
    seenNames.add(key.name)
    seenDigests.add(key.sha256.toLowerCase())
  })
  return issues
}

/**
 * Decodes and validates a configuration already parsed into plain data: the
 * document's schema, each model's pipeline (issues under
 * `models.<name>.pipeline.…`), that every route names a defined provider of a
 * wire that can serve its model, and that aliases and keys are unique.
 *
 * @since 0.1.0
 * @example
 * import { GatewayConfig } from "@ballast/gateway"
 *
 * const config = GatewayConfig.decode({
 *   keys: [{ name: "app", sha256: "<hex sha-256 of the key>" }],
 *   providers: { google: { kind: "google", apiKeyEnv: "GEMINI_API_KEY" } },
 *   models: {
 *     "gemini-3-pro-image-preview": {
 *       pipeline: { routes: { pro: { provider: "google", model: "gemini-3-pro-image-preview" } }, plan: [{ route: "pro" }] }
 *     }
 *   }
 * })
 */
export const decode = (input: unknown): Effect.Effect<GatewayConfig, GatewayConfigError> =>
  Effect.gen(function*() {
    if (!Predicate.isRecord(input)) {
      return yield* Effect.fail(configError([{ path: "", message: "Expected a mapping with keys, providers and models" }]))
    }
    const decoded = decodeDocument(input)
    const issues: Array<ConfigIssue> = Either.match(decoded, {
      onLeft: (error) => parseIssues(error).map(({ message, path }: Issue) => ({ path, message })),
      onRight: () => []
    })
    // Each pipeline is decoded on its own, from the raw input, so its problems show even when others fail.
    const rawModels = Predicate.isRecord(input.models) ? input.models : {}
    const models: Record<string, ModelSettings> = {}
    for (const [name, raw] of Object.entries(rawModels)) {
      if (!Predicate.isRecord(raw) || !("pipeline" in raw)) continue
      const pipeline = yield* Effect.either(PipelineConfig.decode(raw.pipeline))
      if (Either.isLeft(pipeline)) {
        for (const issue of pipeline.left.issues) {
          issues.push({ path: `models.${name}.pipeline${issue.path === "" ? "" : `.${issue.path}`}`, message: issue.message })
        }
      } else {
        const aliases = Either.isRight(decoded) ? decoded.right.models[name]?.aliases ?? [] : []
        models[name] = { aliases, pipeline: pipeline.right }
      }
    }
    if (Either.isLeft(decoded) || issues.length > 0) return yield* Effect.fail(configError(issues))
    const document = decoded.right
    issues.push(
      ...duplicates(document.keys),
      ...crossCheck(document.providers, models),
      ...batchModelProblem(document.batch, models)
    )
    if (issues.length > 0) return yield* Effect.fail(configError(issues))
    return {
      server: document.server,
      keys: document.keys,
      providers: document.providers,
      models,
      ...(document.batch !== undefined ? { batch: document.batch } : {})
    }
  })

const syntaxIssue = (format: string, message: string): ConfigIssue => ({ path: "", message: `${format} syntax error: ${message}` })

/**
 * Parses a configuration from JSON or YAML text and validates it.
 *
 * @since 0.1.0
 */
export const parse = (text: string, format: "json" | "yaml"): Effect.Effect<GatewayConfig, GatewayConfigError> => {
  if (format === "json") {
    return Effect.try({ try: () => JSON.parse(text) as unknown, catch: (e) => configError([syntaxIssue("JSON", String(e))]) })
      .pipe(Effect.flatMap(decode))
  }
  const lineCounter = new YAML.LineCounter()
  const document = YAML.parseDocument(text, { lineCounter, prettyErrors: false })
  if (document.errors.length > 0) {
    return Effect.fail(configError(document.errors.map((error) => {
      const { col, line } = lineCounter.linePos(error.pos[0])
      return syntaxIssue("YAML", `${error.message} (line ${line}, column ${col})`)
    })))
  }
  return Effect.try({
    try: () => document.toJS({ maxAliasCount: 100 }) as unknown,
    catch: (e) => configError([syntaxIssue("YAML", String(e))])
  }).pipe(Effect.flatMap(decode))
}

const readProblem = (error: PlatformError): string =>
  error._tag === "SystemError" && error.reason === "NotFound" ? "file not found" : error.message

/**
 * Reads, parses and validates a configuration file (`.json`, `.yaml` or
 * `.yml`). Every error names the file.
 *
 * @since 0.1.0
 * @example
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { GatewayConfig } from "@ballast/gateway"
 *
 * const config = GatewayConfig.fromFile("gateway.yaml").pipe(Effect.provide(NodeContext.layer))
 */
export const fromFile = (path: string): Effect.Effect<GatewayConfig, GatewayConfigError, FileSystem.FileSystem> => {
  const extension = /\.(json|ya?ml)$/i.exec(path)?.[1]?.toLowerCase()
  const format = Option.fromNullable(extension).pipe(Option.map((e) => e === "json" ? "json" as const : "yaml" as const))
  if (Option.isNone(format)) {
    return Effect.fail(configError([{ path: "", message: `${path}: unknown format; use a .json, .yaml or .yml file` }], path))
  }
  return FileSystem.FileSystem.pipe(
    Effect.flatMap((fs) => fs.readFileString(path)),
    Effect.mapError((error) => configError([{ path: "", message: `${path}: ${readProblem(error)}` }], path)),
    Effect.flatMap((text) => parse(text, format.value)),
    Effect.mapError((error) => configError(error.issues, path))
  )
}
