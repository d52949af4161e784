import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client'

/** The API's metrics, on its own registry: several apps may share one process. */
export function createApiMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tracker_api_' })
  return {
    registry,
    requestDuration: new Histogram({
      name: 'tracker_api_graphql_request_duration_seconds',
      help: 'GraphQL requests by operation (type and root fields, never the client-chosen name) and HTTP status',
      labelNames: ['operation', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    errorsTotal: new Counter({
      name: 'tracker_api_graphql_errors_total',
      help: 'GraphQL errors returned, by extensions.code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    historyCacheLookups: new Counter({
      name: 'tracker_api_history_cache_lookups_total',
      help: 'History cache lookups by cache (page: history pages; response: whole history-only responses) and result: hit (kept answer), miss, bypass (change feed not connected)',
      labelNames: ['cache', 'result'] as const,
      registers: [registry],
    }),
    historyTruncatedTotal: new Counter({
      name: 'tracker_api_history_truncated_total',
      help: 'History results cut at their point limit',
      registers: [registry],
    }),
  }
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>
