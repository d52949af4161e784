import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

/**
 * A period of a key's history the endpoint may have dropped before any poll saw it: the newest
 * report stored for the key before a poll (gap_from) and the oldest report that poll returned
 * (gap_to), found when the poll returned as many reports as the endpoint gives for a key.
 */
export interface CoverageGapTable {
  id: ColumnType<string, never, never>
  tracker_id: string
  hashed_adv_key: string
  gap_from: Date
  gap_to: Date
  /** Reports the poll returned for the key. */
  reports_returned: number
  /** How many reports per key the endpoint gives, as the importer knew it then. */
  endpoint_limit: number
  import_run_id: string | null
  detected_at: Generated<Date>
}

export type CoverageGap = Selectable<CoverageGapTable>
export type NewCoverageGap = Insertable<CoverageGapTable>
