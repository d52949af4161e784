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
export interface PeriodicHooks {
  onPeriodicCycle?(event: PeriodicCycleEvent): void
}
