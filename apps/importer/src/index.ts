export { AlertDeliveryMetrics, startAlertDeliverer } from './alerts/alert-deliverer.ts'
export {
  describeConfig,
  type ImporterConfig,
  ImporterConfigError,
  importerEnvSchema,
  parseImporterEnv,
} from './env.ts'
export { ImporterMetrics } from './http/importer-metrics.ts'
export { type ImporterDependencies, type RunningImporter, startImporter } from './importer.ts'
export {
  type PollingPlan,
  type PollSimulationResult,
  SimulatedClock,
  simulatePolling,
} from './polling/poll-simulation.ts'
export { latestRuns } from './run/import-run.repository.ts'
export { insertReports, type StorableReport } from './run/report-writer.ts'
export { type ImportOutcome, type ImportResult, type ReportSource, runImport } from './run/run-import.ts'
export { addTracker, importKeyFile, listTrackers } from './trackers/tracker-commands.ts'
