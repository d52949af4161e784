import { randomBytes } from 'node:crypto'
import {
  type AggregateName,
  DAILY_AGGREGATE,
  HOURLY_AGGREGATE,
  periodicRefreshWindow,
  type RetentionConfig,
  type TrackerDatabase,
} from '@tracker/db'
import type { Logger } from 'pino'
import { RefresherMetrics } from '../http/refresher-metrics.ts'
import type { RefreshEvent } from './refresh-events.ts'
import { RefreshRunner } from './refresh-runner.ts'
import { detectAggregateSupport } from './timescale-detection.ts'

export interface RefreshAllResult {
  /** False when any refresh failed or was cancelled; a concurrent skip is not a failure. */
  ok: boolean
  events: RefreshEvent[]
}

/**
 * The seed's troubleshooting step as one command: location_history_hourly over its periodic window,
 * location_history_daily over its, then location_history (only location_history without
 * TimescaleDB). Every step is attempted even when an earlier one fails.
 */
export async function refreshAll(options: {
  database: TrackerDatabase
  retention: RetentionConfig
  statementTimeoutMs: number
  logger: Logger
  signal?: AbortSignal
}): Promise<RefreshAllResult> {
  const { database, logger } = options
  const signal = options.signal ?? new AbortController().signal
  const events: RefreshEvent[] = []
  const runner = new RefreshRunner({
    database,
    logger,
    metrics: new RefresherMetrics(),
    statementTimeoutMs: options.statementTimeoutMs,
    hooks: { onRefresh: (event) => events.push(event) },
  })
  const context = { trigger: 'manual' as const, runId: randomBytes(4).toString('hex'), signal }
  const support = await detectAggregateSupport(database)
  let ok = true
  const attempt = async (step: () => Promise<unknown>) => {
    try {
      await step()
    } catch {
      ok = false // logged by the runner
    }
  }
  if (support.enabled) {
    const now = new Date()
    for (const aggregate of [HOURLY_AGGREGATE, DAILY_AGGREGATE] satisfies AggregateName[]) {
      const window = periodicRefreshWindow(options.retention, aggregate, now)
      await attempt(() => runner.refreshAggregate(aggregate, window, context))
    }
  } else {
    logger.warn({ reason: support.reason }, `continuous aggregates not refreshed: ${support.reason}`)
  }
  await attempt(() => runner.refreshLocationHistory(context))
  return { ok, events }
}
