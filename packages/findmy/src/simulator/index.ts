export { CITIES, type City } from './cities.ts'
export {
  type FailurePlan,
  type FailureRates,
  failNext,
  failRandomly,
  type SimulatedFailure,
  type SimulatedRequestInfo,
} from './failures.ts'
export {
  type Corruption,
  type NetworkOptions,
  type NetworkStats,
  PAGE_SIZE,
  type ServedReport,
  SimulatedNetwork,
  type SimulatedReport,
  type SimulatedTrackerInput,
} from './network.ts'
export {
  type RecordedRequest,
  type RunningSimulator,
  type SimulatorOptions,
  type SimulatorStats,
  startSimulator,
} from './server.ts'
export { simulatedTrackers, toAccessoriesJson } from './tracker-keys.ts'
