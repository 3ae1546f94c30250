/**
 * Ballast as a process: an OpenAI- and Gemini-compatible HTTP gateway in
 * front of resilient pipelines, and a demo that runs it against simulated
 * providers.
 *
 * @since 0.1.0
 */
export * as Cli from "./cli/Cli.js"
export * as Dashboard from "./Dashboard.js"
export * as Demo from "./Demo.js"
export * as Gateway from "./Gateway.js"
export * as GatewayApi from "./GatewayApi.js"
export * as GatewayConfig from "./GatewayConfig.js"
export * as Sizing from "./Sizing.js"
export * as Timeline from "./Timeline.js"
export * as Tracing from "./Tracing.js"
export * as Upstream from "./Upstream.js"
export * as VirtualKeys from "./VirtualKeys.js"
