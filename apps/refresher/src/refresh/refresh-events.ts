import type { RefreshedObject, TimeWindow } from '@tracker/db'

export type RefreshObject = RefreshedObject

export type RefreshOutcomeLabel =
  | 'refreshed'
  | 'skipped_concurrent'
  | 'skipped_outside_safe_window'
  | 'failed'
  | 'cancelled'

/** What asked for a refresh; logged and passed to hooks so a refresh can be traced to its cause. */
export type RefreshTrigger = 'notification' | 'late_window' | 'catch_up' | 'periodic' | 'manual' | 'retry'

/** One refresh statement (or its skip) of one object. */
export interface RefreshEvent {
  object: RefreshObject
  outcome: RefreshOutcomeLabel
  trigger: RefreshTrigger
  /** The notification batch, periodic cycle or command the refresh belongs to. */
  runId: string
  window: TimeWindow | null
  durationMs: number
  finishedAt: Date
  error?: Error
}

export type PeriodicOutcome =
  | 'refreshed'
  | 'not_due'
  | 'locked_elsewhere'
  | 'lock_unavailable'
  | 'failed'
  | 'cancelled'

/** One check of the periodic path by one replica. */
export interface PeriodicCycleEvent {
  outcome: PeriodicOutcome
  /** The clock reading the decision was based on (Redis TIME with Redis, else the local clock). */
  checkedAt: Date
  error?: Error
}

/** Observers for tests and embedding apps; they must not throw. */
export interface RefresherHooks {
  onRefresh?(event: RefreshEvent): void
  onPeriodicCycle?(event: PeriodicCycleEvent): void
}
