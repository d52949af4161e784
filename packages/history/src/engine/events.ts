import type { AggregateName } from '@tracker/db'
import type { TimeWindow } from '../windows.ts'

export type RefreshObject = AggregateName | 'location_history'

export type RefreshOutcomeLabel =
  | 'refreshed'
  | 'skipped_concurrent'
  | 'skipped_outside_safe_window'
  | 'failed'
  | 'cancelled'

/** What asked for a refresh; logged and passed to observers so a refresh can be traced to its cause. */
export type RefreshTrigger = 'notification' | 'catch_up' | 'periodic' | 'manual' | 'retry'

/** One statement of the engine (an aggregate refresh or a location_history upkeep), or its skip. */
export interface RefreshEvent {
  object: RefreshObject
  outcome: RefreshOutcomeLabel
  trigger: RefreshTrigger
  /** The notification batch, periodic cycle or command the refresh belongs to. */
  runId: string
  window: TimeWindow | null
  durationMs: number
  finishedAt: Date
  /** location_history only: rows written and removed, trackers named (null: every tracker). */
  rows?: { written: number; removed: number; trackers: number | null; tierMoved: boolean }
  error?: Error
}

/** Observers for apps (metrics) and tests; they must not throw. */
export interface HistoryObserver {
  onRefresh?(event: RefreshEvent): void
}

/** Why a refresh runs, which run it belongs to (for following it in the logs), and how to cancel it. */
export interface RunContext {
  trigger: RefreshTrigger
  runId: string
  signal: AbortSignal
}

export class RefreshCancelledError extends Error {
  readonly code = 'REFRESH_CANCELLED'
}
