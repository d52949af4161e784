import type { ColumnType, Selectable } from 'kysely'

/** A tracker's cadence in the adaptive polling mode. */
export interface TrackerPollingTable {
  tracker_id: string
  /** The adaptive interval (what the rule made of the last polls). */
  interval_seconds: number
  next_poll_at: Date
  last_poll_at: Date | null
  /** A fixed interval a user set (null: adaptive). */
  override_seconds: number | null
  updated_at: ColumnType<Date, Date | undefined, Date>
}

/** One request to the report endpoint (kept for an hour): the request budget's memory. */
export interface EndpointRequestLogTable {
  at: ColumnType<Date, Date, never>
}

export type TrackerPolling = Selectable<TrackerPollingTable>
