export { type CommandResult, check, rebuild, refreshAll } from './commands.ts'
export {
  describeConfig,
  parseRefresherEnv,
  type RefresherConfig,
  RefresherConfigError,
  refresherEnvSchema,
} from './env.ts'
export type { HealthReport } from './http/health-server.ts'
export { RefresherMetrics } from './http/refresher-metrics.ts'
export {
  type LastRefreshStore,
  MemoryLastRefreshStore,
  RedisLastRefreshStore,
} from './periodic/last-refresh-store.ts'
export type { PeriodicCycleEvent, PeriodicHooks, PeriodicOutcome } from './periodic/periodic-events.ts'
export {
  type RefresherDependencies,
  type RefresherHealth,
  type RefresherHooks,
  type RunningRefresher,
  startRefresher,
} from './refresher.ts'
