import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** Battery level decoded from the report status byte, when the firmware reports it. */
export type BatteryLevel = 'ok' | 'medium' | 'low' | 'critical'

export interface TrackerTable {
  id: Generated<string>
  name: string
  /** false once deactivated: no further imports, kept for its history. */
  is_active: Generated<boolean>
  deactivated_at: Date | null
  last_seen_at: Date | null
  last_latitude: number | null
  last_longitude: number | null
  last_nearest_city: string | null
  battery_level: BatteryLevel | null
  created_at: ColumnType<Date, Date | string | undefined, never>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export type Tracker = Selectable<TrackerTable>
export type NewTracker = Insertable<TrackerTable>
export type TrackerUpdate = Updateable<TrackerTable>
