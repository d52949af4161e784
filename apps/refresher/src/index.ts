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
export { RefresherStoppedError } from './refresh/coalesced-refresher.ts'
export { type RefreshAllResult, refreshAll } from './refresh/refresh-all.ts'
export type {
  PeriodicCycleEvent,
  PeriodicOutcome,
  RefreshEvent,
  RefresherHooks,
  RefreshObject,
  RefreshOutcomeLabel,
  RefreshTrigger,
} from './refresh/refresh-events.ts'
export { mergeWindows, parseRefreshPayload, REFRESH_CHANNEL } from './refresh/refresh-request.ts'
export { RefreshCancelledError } from './refresh/refresh-runner.ts'
export { type AggregateSupport, detectAggregateSupport } from './refresh/timescale-detection.ts'
export {
  type RefresherDependencies,
  type RefresherHealth,
  type RunningRefresher,
  startRefresher,
} from './refresher.ts'
