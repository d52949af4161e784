import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

/** The audit trail of deleted trackers: who deleted which tracker when, and what each tier lost. */
export interface TrackerDeletionTable {
  id: Generated<string>
  tracker_id: string
  tracker_name: string
  /** The hashed ids of the keys it had (never the private keys). */
  hashed_adv_keys: string[]
  /** Who asked: "api token NAME (ID)", "cli USER@HOST", ... */
  deleted_by: string
  deleted_at: ColumnType<Date, Date | string | undefined, never>
  reports_deleted: ColumnType<number, number, never>
  hourly_rows_deleted: ColumnType<number, number, never>
  daily_rows_deleted: ColumnType<number, number, never>
  history_rows_deleted: ColumnType<number, number, never>
  keys_deleted: number
}

export type TrackerDeletion = Selectable<TrackerDeletionTable>
export type NewTrackerDeletion = Insertable<TrackerDeletionTable>
