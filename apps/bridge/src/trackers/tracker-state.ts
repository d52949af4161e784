import type { BatteryLevel, Database, Kysely } from '@tracker/db'
import { sql } from '@tracker/db'

/** What the bridge publishes of one tracker: the trackers row, plus its last report's accuracy. */
export interface TrackerState {
  id: string
  name: string
  active: boolean
  lastSeenAt: Date | null
  latitude: number | null
  longitude: number | null
  nearestCity: string | null
  batteryLevel: BatteryLevel | null
  /** horizontal_accuracy (metres) of the report at last_seen_at; null when unknown. */
  accuracy: number | null
}

/** A position exists: the tracker was seen at least once. */
export function hasPosition(
  state: TrackerState,
): state is TrackerState & { lastSeenAt: Date; latitude: number; longitude: number } {
  return state.lastSeenAt !== null && state.latitude !== null && state.longitude !== null
}

/**
 * The trackers named (or every tracker), as they are now. The accuracy comes from the report the
 * last position was taken from (the trackers table does not keep it): the report of that tracker
 * at last_seen_at, found through the (tracker_id, timestamp) index, one lookup per tracker.
 */
export async function readTrackerStates(
  db: Kysely<Database>,
  ids: readonly string[] | 'all',
): Promise<TrackerState[]> {
  if (ids !== 'all' && ids.length === 0) return []
  const filter = ids === 'all' ? sql`` : sql`WHERE t.id = ANY(${[...ids]}::uuid[])`
  const { rows } = await sql<{
    id: string
    name: string
    is_active: boolean
    last_seen_at: Date | null
    last_latitude: number | null
    last_longitude: number | null
    last_nearest_city: string | null
    battery_level: BatteryLevel | null
    accuracy: number | null
  }>`
    SELECT t.id, t.name, t.is_active, t.last_seen_at, t.last_latitude, t.last_longitude,
           t.last_nearest_city, t.battery_level, r.horizontal_accuracy AS accuracy
      FROM trackers t
      LEFT JOIN LATERAL (
        SELECT horizontal_accuracy FROM location_reports
         WHERE tracker_id = t.id AND "timestamp" = t.last_seen_at
         ORDER BY horizontal_accuracy NULLS LAST
         LIMIT 1
      ) r ON true
      ${filter}
     ORDER BY t.id`.execute(db)
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    active: row.is_active,
    lastSeenAt: row.last_seen_at,
    latitude: row.last_latitude,
    longitude: row.last_longitude,
    nearestCity: row.last_nearest_city,
    batteryLevel: row.battery_level,
    accuracy: row.accuracy === null ? null : Number(row.accuracy),
  }))
}
