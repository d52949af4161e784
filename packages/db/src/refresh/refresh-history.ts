import type { RetentionConfig } from '../config/retention.ts'
import type { TrackerDatabase } from '../connect/tracker-database.ts'
import { type AggregateName, DAILY_AGGREGATE, HOURLY_AGGREGATE } from '../storage-policies.ts'
import { type RefreshOutcome, refreshContinuousAggregate, refreshLocationHistory } from './refresh.ts'
import { clipRefreshWindow, periodicRefreshWindow, type TimeWindow } from './refresh-window.ts'

export type RefreshedObject = AggregateName | 'location_history'

export interface ObjectRefresh {
  object: RefreshedObject
  outcome: RefreshOutcome | 'skipped_outside_safe_window'
  window: TimeWindow | null
  durationMs: number
}

export interface RefreshOptions {
  /** statement_timeout for each refresh statement (the seed: 20 minutes). */
  statementTimeoutMs?: number
  now?: Date
  /** Skip the location_history refresh (when the caller refreshes it separately, coalesced). */
  skipLocationHistory?: boolean
}

// Hourly before daily: both read raw reports, and a reader of location_history sees the hourly tier
// for recent data first.
const ORDER: AggregateName[] = [HOURLY_AGGREGATE, DAILY_AGGREGATE]

async function refreshAggregates(
  database: TrackerDatabase,
  windows: Record<AggregateName, TimeWindow | null>,
  options: RefreshOptions,
): Promise<ObjectRefresh[]> {
  const results: ObjectRefresh[] = []
  for (const aggregate of ORDER) {
    const window = windows[aggregate]
    const started = performance.now()
    if (!window) {
      results.push({ object: aggregate, outcome: 'skipped_outside_safe_window', window, durationMs: 0 })
      continue
    }
    // Each refresh on its own connection, outside any transaction block.
    const outcome = await database.withSession(
      (session) => refreshContinuousAggregate(session, aggregate, window),
      {
        ...(options.statementTimeoutMs !== undefined
          ? { statementTimeoutMs: options.statementTimeoutMs }
          : {}),
      },
    )
    results.push({ object: aggregate, outcome, window, durationMs: performance.now() - started })
  }
  if (!options.skipLocationHistory) results.push(await refreshLocationHistoryTimed(database, options))
  return results
}

export async function refreshLocationHistoryTimed(
  database: TrackerDatabase,
  options: Pick<RefreshOptions, 'statementTimeoutMs'> = {},
): Promise<ObjectRefresh> {
  const started = performance.now()
  await database.withSession((session) => refreshLocationHistory(session), {
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
  })
  return {
    object: 'location_history',
    outcome: 'refreshed',
    window: null,
    durationMs: performance.now() - started,
  }
}

/**
 * Makes changes in `window` visible in every layer: both aggregates over the window (widened to whole
 * buckets, clipped to what retention leaves safe to refresh), then location_history.
 */
export function refreshHistoryWindow(
  database: TrackerDatabase,
  config: RetentionConfig,
  window: TimeWindow,
  options: RefreshOptions = {},
): Promise<ObjectRefresh[]> {
  const now = options.now ?? new Date()
  return refreshAggregates(
    database,
    {
      [HOURLY_AGGREGATE]: clipRefreshWindow(config, HOURLY_AGGREGATE, window, now),
      [DAILY_AGGREGATE]: clipRefreshWindow(config, DAILY_AGGREGATE, window, now),
    },
    options,
  )
}

/** The seed's periodic refresh: hourly over its window (48 h), daily over its window (7 days), then location_history. */
export function refreshPeriodic(
  database: TrackerDatabase,
  config: RetentionConfig,
  options: RefreshOptions = {},
): Promise<ObjectRefresh[]> {
  const now = options.now ?? new Date()
  return refreshAggregates(
    database,
    {
      [HOURLY_AGGREGATE]: periodicRefreshWindow(config, HOURLY_AGGREGATE, now),
      [DAILY_AGGREGATE]: periodicRefreshWindow(config, DAILY_AGGREGATE, now),
    },
    options,
  )
}
