/**
 * The live dashboard: `GET /dashboard` is one self-contained HTML page (inline
 * CSS and JavaScript, charts drawn by hand on `<canvas>`, nothing fetched from
 * elsewhere) that polls `GET /dashboard/data` — a `Timeline`'s samples as
 * JSON — every one to two seconds and draws, per route of every model: success
 * rate and degraded share, p50 and p95 latency, the breaker state
 * as a band over time, and calls in flight; every latest figure is also shown
 * as text.
 *
 * Like `/health` and `/metrics`, these endpoints need no key: they show route
 * names, states and figures, never a prompt, an image or a secret.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Context, Duration, Effect, Layer, Option, Schema, type Scope } from "effect"
import * as Http from "node:http"
import * as Timeline from "./Timeline.js"

/**
 * The body of `GET /dashboard/data`: the sampler's interval (ms), the most
 * samples the timeline keeps, every model's routes, and the samples, oldest
 * first (only those after `?since=<epoch ms>` when given).
 *
 * @since 0.1.0
 */
export const Data = Schema.Struct({
  intervalMs: Schema.Number,
  capacity: Schema.Number,
  models: Schema.Array(Timeline.ModelInfo),
  samples: Schema.Array(Timeline.Sample)
})

/**
 * @since 0.1.0
 */
export type Data = typeof Data.Type

/**
 * The data the page polls: the timeline's samples, all of them or only those
 * taken after `since` (epoch ms).
 *
 * @since 0.1.0
 */
export const data = (timeline: Timeline.Timeline.Service, since?: number): Effect.Effect<Data> =>
  Effect.map(timeline.samples(since), (samples) => ({
    intervalMs: Duration.toMillis(timeline.interval),
    capacity: timeline.capacity,
    models: timeline.models,
    samples
  }))

const noStore = { "cache-control": "no-store" }

/**
 * The dashboard's endpoints as an `HttpApi` group: `GET /dashboard` (the
 * page) and `GET /dashboard/data` (JSON; `?since=<epoch ms>` for the samples
 * after a moment — anything but a number is a 400 naming `since`). The
 * gateway serves it in its `GatewayApi`; `Api` and `serve` serve it alone.
 *
 * @since 0.1.0
 */
export class Group extends HttpApiGroup.make("dashboard")
  .add(
    HttpApiEndpoint.get("page", "/dashboard")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/html; charset=utf-8" }))
  )
  .add(
    HttpApiEndpoint.get("data", "/dashboard/data")
      .setUrlParams(Schema.Struct({
        since: Schema.optional(Schema.NumberFromString.annotations({ description: "epoch milliseconds" }))
      }))
      .addSuccess(Data)
  )
{}

/**
 * The dashboard alone, as an `HttpApi` (what `serve` serves).
 *
 * @since 0.1.0
 */
export class Api extends HttpApi.make("ballast-dashboard").add(Group) {}

/**
 * What the dashboard shows: a timeline, or an effect that yields one — e.g.
 * `Deferred.await` of a timeline made once the gateway it watches exists.
 *
 * @since 0.1.0
 */
export type Source = Timeline.Timeline.Service | Effect.Effect<Timeline.Timeline.Service>

/**
 * The implementation of `Group` for any `HttpApi` that contains it
 * (`HttpApiBuilder.group(api, "dashboard", Dashboard.handlers(source))`).
 * Given an effect, each data request runs it to find the timeline (so a
 * request made before it exists waits for it). Both answers carry
 * `cache-control: no-store`.
 *
 * @since 0.1.0
 */
export const handlers = (source: Source) => {
  const timeline = Effect.isEffect(source) ? source : Effect.succeed(source)
  return <E, P, R>(
    group: HttpApiBuilder.Handlers<E, P, R, HttpApiGroup.HttpApiGroup.Endpoints<typeof Group>>
  ) =>
    group
      .handle("page", () => Effect.succeed(HttpServerResponse.html(page).pipe(HttpServerResponse.setHeaders(noStore))))
      .handle("data", ({ urlParams }) =>
        HttpApp.appendPreResponseHandler((_, response) => Effect.succeed(HttpServerResponse.setHeaders(response, noStore))).pipe(
          Effect.zipRight(Effect.flatMap(timeline, (t) => data(t, urlParams.since)))
        ))
}

/**
 * `Api`'s routes for an `HttpLayerRouter`, implemented by `handlers(source)`.
 *
 * @since 0.1.0
 */
export const layer = (source: Source) =>
  HttpLayerRouter.addHttpApi(Api).pipe(Layer.provide(HttpApiBuilder.group(Api, "dashboard", handlers(source))))

const isRouteNotFound = (u: unknown) => typeof u === "object" && u !== null && "_tag" in u && u._tag === "RouteNotFound"

/**
 * Serves the dashboard alone on `host:port` (default 127.0.0.1, port 0 = a
 * free one) until the scope closes; other paths answer 404. The gateway
 * serves the same endpoints itself (`GatewayApi`).
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Dashboard, Demo, Timeline } from "@ballast/gateway"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const { gateway } = yield* Demo.make({ port: 0 })
 *   const timeline = yield* Timeline.make(gateway)
 *   const { url } = yield* Dashboard.serve(timeline)
 *   console.log(`${url}/dashboard`)
 * }))
 */
export const serve = (
  source: Source,
  options: { readonly host?: string | undefined; readonly port?: number | undefined } = {}
): Effect.Effect<{ readonly url: string; readonly port: number }, HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const context = yield* Layer.build(NodeHttpServer.layer(() => Http.createServer(), { port: options.port ?? 0, host }))
    const routed = yield* HttpLayerRouter.toHttpEffect(layer(source)).pipe(
      Effect.provide(context),
      Effect.provideService(Layer.CurrentMemoMap, yield* Layer.makeMemoMap)
    )
    const app = routed.pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.failureOption(cause)
        return Option.isSome(failure) && isRouteNotFound(failure.value)
          ? Effect.succeed(HttpServerResponse.text("Not found", { status: 404 }))
          : Effect.failCause(cause)
      })
    )
    const server = Context.get(context, HttpServer.HttpServer)
    yield* server.serve(app)
    const port = server.address._tag === "TcpAddress" ? server.address.port : options.port ?? 0
    return { url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, port }
  })

/**
 * The page served at `GET /dashboard`: one HTML document with its CSS and
 * JavaScript inline. It reads `<its own path>/data`.
 *
 * @since 0.1.0
 */
export const page: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ballast dashboard</title>
<style>
  :root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  h1 { margin: 0 0 4px; font-size: 20px; }
  h2 { margin: 20px 0 4px; font-size: 17px; }
  h3 { margin: 0; font-size: 15px; }
  main { padding: 0 20px 20px; }
  .meta, .sub { color: var(--muted); margin: 0; }
  .routes { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; margin-top: 8px; }
  .route { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
  dt { color: var(--muted); }
  dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; }
  figure { margin: 8px 0 0; }
  figcaption { font-size: 12px; color: var(--muted); }
  canvas { display: block; width: 100%; height: 80px; }
  canvas.band { height: 14px; }
  .key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 3px 0 8px; vertical-align: -1px; }
  [data-state="Open"] { color: #cf222e; } [data-state="HalfOpen"] { color: #9a6700; } [data-state="Closed"] { color: #1a7f37; }
  #status { color: #cf222e; margin: 4px 0 0; min-height: 1em; }
</style>
</head>
<body>
<header>
  <h1>Ballast dashboard</h1>
  <p class="meta">Last update: <time id="updated" data-field="updated">not yet</time>
    · requests in flight at the gateway: <output id="inflight" data-field="inFlight">—</output>
    · sampled every <span id="interval">—</span></p>
  <p class="meta">Latency of the last 100 successful calls: <span class="key" style="background:#0969da"></span>p50
    <span class="key" style="background:#8250df"></span>p95 ·
    Breaker: <span class="key" style="background:#2da44e"></span>Closed <span class="key" style="background:#d4a72c"></span>HalfOpen
    <span class="key" style="background:#cf222e"></span>Open <span class="key" style="background:#6e7781"></span>Isolated</p>
  <p id="status" role="status" aria-live="polite"></p>
</header>
<main id="models" aria-busy="true"></main>
<script>
"use strict";
(() => {
  const dataUrl = location.pathname.replace(/\\/+$/, "") + "/data";
  const colors = { success: "#1a7f37", degraded: "#d4a72c", p50: "#0969da", p95: "#8250df", inFlight: "#57606a",
    Closed: "#2da44e", HalfOpen: "#d4a72c", Open: "#cf222e", Isolated: "#6e7781", none: "#d1d9e0" };
  let samples = [];
  let capacity = 450;
  let built = false;
  const panels = new Map();

  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const percent = (v) => v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%";
  const ms = (v) => v === null || v === undefined ? "—" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms";
  const fields = [
    ["successRate", "Success rate", percent],
    ["latencyP50Ms", "p50 latency", ms],
    ["latencyP95Ms", "p95 latency", ms],
    ["latencyEwmaMs", "Latency average (EWMA)", ms],
    ["breaker", "Breaker", (v) => v ?? "—"],
    ["health", "Health", (v) => v ?? "not probed"],
    ["degradedShare", "Degraded share of its answers (last minute)", percent],
    ["inFlight", "Calls in flight", (v) => String(v)]
  ];
  const charts = [
    ["success", "Success rate (green) and degraded share (amber), %"],
    ["latency", "Latency: p50 (blue) and p95 (purple)"],
    ["breaker", "Breaker state over time"],
    ["inFlight", "Calls in flight"]
  ];

  const build = (models) => {
    const main = document.getElementById("models");
    main.textContent = "";
    models.forEach((model, m) => {
      const section = el("section", { "data-model": model.model, "aria-labelledby": "model-" + m });
      section.append(el("h2", { id: "model-" + m }, model.model));
      const totals = el("p", { class: "meta", "data-field": "modelTotals" }, "No requests yet.");
      section.append(totals);
      const grid = el("div", { class: "routes" });
      const routes = new Map();
      model.routes.forEach((route, r) => {
        const id = "route-" + m + "-" + r;
        const article = el("article", { class: "route", "data-route": route.route, "aria-labelledby": id });
        article.append(el("h3", { id }, route.route));
        article.append(el("p", { class: "sub" }, [route.provider, route.model, route.kind].filter(Boolean).join(" · ")));
        const dl = el("dl");
        const values = {};
        for (const [key, label] of fields) {
          const dt = el("dt", { id: id + "-" + key }, label);
          const dd = el("dd", { "data-field": key, "aria-labelledby": id + "-" + key }, "—");
          dl.append(dt, dd);
          values[key] = dd;
        }
        article.append(dl);
        const canvases = {};
        for (const [key, caption] of charts) {
          const figure = el("figure");
          figure.append(el("figcaption", {}, caption));
          const canvas = el("canvas", { role: "img", "aria-label": route.route + ": " + caption, "data-chart": key,
            "data-points": "0", class: key === "breaker" ? "band" : "" });
          figure.append(canvas);
          article.append(figure);
          canvases[key] = canvas;
        }
        grid.append(article);
        routes.set(route.route, { values, canvases });
      });
      section.append(grid);
      main.append(section);
      panels.set(model.model, { totals, routes });
    });
    main.setAttribute("aria-busy", "false");
    built = true;
  };

  const prepare = (canvas) => {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(50, canvas.clientWidth), height = Math.max(10, canvas.clientHeight);
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx, width, height };
  };

  const timeRange = () => {
    const first = samples[0].at, last = samples[samples.length - 1].at;
    return [first, Math.max(last, first + 1)];
  };

  // Lines of [{ values: [number|null], color }] over the samples' times; nulls leave gaps.
  const lines = (canvas, series, maxOf, label) => {
    const { ctx, width, height } = prepare(canvas);
    const [t0, t1] = timeRange();
    const left = 4, right = width - 4, top = 12, bottom = height - 4;
    const max = maxOf(series);
    ctx.strokeStyle = colors.none; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(left, bottom + 0.5); ctx.lineTo(right, bottom + 0.5); ctx.stroke();
    ctx.fillStyle = "#59636e"; ctx.font = "10px system-ui, sans-serif"; ctx.fillText(label(max), left, 9);
    const x = (t) => left + (right - left) * (samples.length === 1 ? 1 : (t - t0) / (t1 - t0));
    const y = (v) => bottom - (bottom - top) * (max === 0 ? 0 : Math.min(1, v / max));
    let points = 0;
    for (const { values, color } of series) {
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
      let open = false;
      ctx.beginPath();
      values.forEach((v, i) => {
        if (v === null || v === undefined) { open = false; return; }
        points++;
        const px = x(samples[i].at), py = y(v);
        if (open) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        open = true;
        ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
      });
      ctx.stroke();
    }
    canvas.dataset.points = String(points);
  };

  const band = (canvas, states) => {
    const { ctx, width, height } = prepare(canvas);
    const [t0, t1] = timeRange();
    const x = (t) => (width - 1) * (samples.length === 1 ? 0 : (t - t0) / (t1 - t0));
    let points = 0;
    states.forEach((state, i) => {
      const from = x(samples[i].at);
      const to = i + 1 < samples.length ? x(samples[i + 1].at) : width;
      ctx.fillStyle = colors[state] || colors.none;
      ctx.fillRect(from, 0, Math.max(1, to - from), height);
      if (state) points++;
    });
    canvas.dataset.points = String(points);
  };

  const render = (inFlight) => {
    const latest = samples[samples.length - 1];
    document.getElementById("inflight").textContent = inFlight === null ? "—" : String(inFlight);
    const updated = document.getElementById("updated");
    updated.dateTime = new Date(latest.at).toISOString();
    updated.textContent = new Date(latest.at).toLocaleTimeString();
    // Counts are per interval: the text sums those of the last minute.
    const minute = samples.filter((s) => s.at > latest.at - 60000);
    const sum = (pick) => minute.reduce((total, s) => total + (pick(s) || 0), 0);
    for (const model of latest.models) {
      const panel = panels.get(model.model);
      if (!panel) continue;
      const ofModel = (s) => s.models.find((x) => x.model === model.model);
      const requests = sum((s) => ofModel(s)?.requests), degraded = sum((s) => ofModel(s)?.degraded);
      const failed = sum((s) => ofModel(s)?.failed);
      panel.totals.textContent = "Last minute: " + requests + " requests ended, " + degraded + " degraded (" +
        percent(requests === 0 ? null : degraded / requests) + "), " + failed + " failed.";
      for (const route of model.routes) {
        const view = panel.routes.get(route.route);
        if (!view) continue;
        const ofRoute = (s) => (ofModel(s)?.routes || []).find((x) => x.route === route.route);
        const answered = sum((s) => ofRoute(s)?.answered);
        const shown = { ...route, degradedShare: answered === 0 ? null : sum((s) => ofRoute(s)?.degraded) / answered };
        for (const [key, , format] of fields) {
          const dd = view.values[key];
          dd.textContent = format(shown[key]);
          dd.dataset.value = shown[key] === null || shown[key] === undefined ? "" : String(shown[key]);
          if (key === "breaker") dd.dataset.state = shown.breaker ?? "";
        }
        const history = samples.map((s) => (s.models.find((x) => x.model === model.model)?.routes || [])
          .find((x) => x.route === route.route) || null);
        const pick = (key) => history.map((h) => h === null ? null : h[key]);
        const asPercent = (values) => values.map((v) => v === null ? null : v * 100);
        lines(view.canvases.success, [
          { values: asPercent(pick("successRate")), color: colors.success },
          { values: asPercent(pick("degradedShare")), color: colors.degraded }
        ], () => 100, () => "100%");
        lines(view.canvases.latency, [
          { values: pick("latencyP50Ms"), color: colors.p50 },
          { values: pick("latencyP95Ms"), color: colors.p95 }
        ], (series) => Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null))), ms);
        band(view.canvases.breaker, pick("breaker"));
        lines(view.canvases.inFlight, [{ values: pick("inFlight"), color: colors.inFlight }],
          (series) => Math.max(1, ...series[0].values.filter((v) => v !== null)), (v) => "max " + v);
      }
    }
  };

  let pollMs = 2000;
  const poll = async () => {
    const status = document.getElementById("status");
    try {
      const since = samples.length > 0 ? "?since=" + samples[samples.length - 1].at : "";
      const response = await fetch(dataUrl + since, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      capacity = body.capacity;
      pollMs = Math.min(2000, Math.max(1000, body.intervalMs));
      document.getElementById("interval").textContent = (body.intervalMs / 1000) + " s";
      if (!built) build(body.models);
      samples = samples.concat(body.samples).slice(-capacity);
      if (samples.length > 0) render(samples[samples.length - 1].inFlight);
      status.textContent = "";
    } catch (error) {
      status.textContent = "Cannot read " + dataUrl + ": " + (error && error.message ? error.message : error) + "; retrying.";
    }
    setTimeout(poll, pollMs);
  };
  poll();
})();
</script>
</body>
</html>
`
