/**
 * @since 0.1.0
 */
export * as FakeProvider from "./FakeProvider.js"
export { Answer } from "./FakeProvider.js"
export * as Scenario from "./Scenario.js"
export * as Simulation from "./Simulation.js"
export * as SimulationTable from "./SimulationTable.js"
export * as Strategies from "./Strategies.js"
export * as VirtualTime from "./VirtualTime.js"
export * as FaultServer from "./FaultServer.js"
