import type { ColumnType, Insertable, Selectable } from 'kysely'

/** A decrypted Find My report: the `location_reports` hypertable, partitioned on `timestamp`. */
export interface LocationReportTable {
  hashed_adv_key: string
  timestamp: ColumnType<Date, Date | string, never>
  /** Filled from tracker_keys by a trigger when an insert leaves it out (the seed's manual test). */
  tracker_id: ColumnType<string, string | undefined, never>
  latitude: number
  longitude: number
  horizontal_accuracy: number | null
  confidence: number | null
  /** The raw status byte: battery level in bits 7-6 when bit 5 says it is reported. */
  status: number | null
  nearest_city: string | null
  published_at: Date | null
  inserted_at: ColumnType<Date, Date | string | undefined, never>
}

export type LocationReport = Selectable<LocationReportTable>
export type NewLocationReport = Insertable<LocationReportTable>
