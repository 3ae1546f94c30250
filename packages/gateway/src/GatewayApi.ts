/**
 * The gateway's own endpoints — what operators, load balancers, scrapers and
 * the dashboard call — as an `HttpApi`: every answer described by a Schema,
 * and the whole API as an OpenAPI document at `GET /openapi.json`. They need
 * no key: they show route names, states and figures, never a prompt, an
 * image or a secret.
 *
 * - `GET /health`: the process is alive (`{"status":"ok"}`).
 * - `GET /ready`: every model has a usable route (a breaker that admits calls
 *   and health probes that do not say down) — `{"status":"ready"}`, or a 503
 *   `{"status":"not ready","reasons":[…]}` naming what is wrong.
 * - `GET /v1/routes`: per public model, each route's breaker state, health,
 *   router figures, whether it is usable; adaptive degradation; hedging.
 * - `GET /metrics`: the Prometheus text (`Metrics.prometheus`).
 * - `GET /dashboard`, `GET /dashboard/data`: the live dashboard (`Dashboard`).
 *
 * The generation endpoints (OpenAI and Gemini wire formats) are not part of
 * it: they must answer in each provider's own error shapes and read Gemini's
 * `{model}:generateContent` path segment, which `HttpApi`'s own error and path
 * grammar cannot express (see `Gateway`).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { CircuitBreaker, Degradation, Health, Hedge, Router } from "@ballast/core"
import { Schema } from "effect"
import * as Dashboard from "./Dashboard.js"

/**
 * The body of `GET /health`.
 *
 * @since 0.1.0
 */
export const Alive = Schema.Struct({ status: Schema.Literal("ok") })

/**
 * The body of `GET /ready` when every model has a usable route.
 *
 * @since 0.1.0
 */
export const Ready = Schema.Struct({ status: Schema.Literal("ready") })

/**
 * The body of `GET /ready`'s 503: one reason per model without a usable route.
 *
 * @since 0.1.0
 */
export const NotReady = Schema.Struct({
  status: Schema.Literal("not ready"),
  reasons: Schema.Array(Schema.String)
}).annotations(HttpApiSchema.annotations({ status: 503, description: "a model has no usable route" }))

/**
 * @since 0.1.0
 */
export type NotReady = typeof NotReady.Type

/**
 * One route of a model in `GET /v1/routes`: `kind` is the model's kind, or
 * `describe` for an image plan's text-description rung; `usable` means its
 * breaker admits calls and health probes do not say it is down; `breaker`,
 * `health` and `stats` are `null` for what the route does not have (no probe
 * watches it, no call reached it).
 *
 * @since 0.1.0
 */
export const RouteState = Schema.Struct({
  route: Schema.String,
  provider: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  kind: Schema.Literal("image", "text", "describe"),
  usable: Schema.Boolean,
  breaker: Schema.NullOr(CircuitBreaker.State),
  health: Schema.NullOr(Health.RouteHealth),
  stats: Schema.NullOr(Router.RouteStats)
})

/**
 * @since 0.1.0
 */
export type RouteState = typeof RouteState.Type

/**
 * One public model in `GET /v1/routes`.
 *
 * @since 0.1.0
 */
export const ModelState = Schema.Struct({
  model: Schema.String,
  kind: Schema.Literal("image", "text"),
  aliases: Schema.Array(Schema.String),
  routes: Schema.Array(RouteState),
  degradation: Schema.Array(Degradation.Status),
  hedges: Hedge.Stats
})

/**
 * @since 0.1.0
 */
export type ModelState = typeof ModelState.Type

/**
 * The body of `GET /v1/routes`.
 *
 * @since 0.1.0
 */
export const Routes = Schema.Struct({ models: Schema.Array(ModelState) })

/**
 * @since 0.1.0
 */
export type Routes = typeof Routes.Type

/**
 * Health, readiness, route states and metrics.
 *
 * @since 0.1.0
 */
export class StatusGroup extends HttpApiGroup.make("status")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Alive).annotate(OpenApi.Summary, "The process is alive"))
  .add(
    HttpApiEndpoint.get("ready", "/ready").addSuccess(Ready).addError(NotReady).annotate(
      OpenApi.Summary,
      "Every model has a usable route"
    )
  )
  .add(
    HttpApiEndpoint.get("routes", "/v1/routes").addSuccess(Routes).annotate(
      OpenApi.Summary,
      "Breaker state, health and figures of every route of every model"
    )
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .annotate(OpenApi.Summary, "Prometheus metrics")
  )
{}

/**
 * The gateway's admin API: `StatusGroup` and the dashboard (`Dashboard.Group`).
 *
 * @since 0.1.0
 */
export class AdminApi extends HttpApi.make("ballast")
  .add(StatusGroup)
  .add(Dashboard.Group)
  .annotate(OpenApi.Title, "Ballast gateway")
  .annotate(
    OpenApi.Description,
    "The gateway's own endpoints. Generation goes through the OpenAI (POST /v1/images/generations, " +
      "POST /v1/chat/completions) and Gemini (POST /v1beta/models/{model}:generateContent) wire formats."
  )
{}

/**
 * Where the gateway serves the OpenAPI document of `AdminApi`.
 *
 * @since 0.1.0
 */
export const openApiPath = "/openapi.json"
