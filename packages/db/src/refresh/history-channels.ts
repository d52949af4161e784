import { type Kysely, sql } from 'kysely'
import type { Database } from '../schema/database.ts'

/**
 * Asks the refresher to refresh a window: sent by the insert trigger on location_reports (one
 * notification per touched hour), update_nearest_city and the importer. Payload: {"from","to"}
 * (`history_change_payload`). The API's refresh mutation sends a request on it too, with an id the
 * refresher answers on HISTORY_REFRESHED_CHANNEL (packages/history, refresh-requests.ts).
 */
export const REFRESH_REQUEST_CHANNEL = 'refresh_location_history'

/**
 * Says that a refresh changed what a history query may answer: an aggregate materialized a window
 * (late reports below its watermark become visible) or location_history was rebuilt. Readers that
 * keep answers (the API's history cache) drop them. A channel of its own: on the request channel
 * every refresh would ask for another one. The refresher's answers to refresh requests come here
 * too (`"object": "refresh_request"`, the request's id, its outcome).
 */
export const HISTORY_REFRESHED_CHANNEL = 'location_history_refreshed'

export async function notifyHistoryRefreshed(
  session: Kysely<Database>,
  refreshed: { object: string; from?: Date; to?: Date },
): Promise<void> {
  const payload = JSON.stringify({
    object: refreshed.object,
    ...(refreshed.from ? { from: refreshed.from.toISOString() } : {}),
    ...(refreshed.to ? { to: refreshed.to.toISOString() } : {}),
  })
  await sql`SELECT pg_notify(${HISTORY_REFRESHED_CHANNEL}, ${payload})`.execute(session)
}

/**
 * A tracker's visible state changed (created, renamed, (de)activated, deleted, a new last position,
 * city or battery): sent by triggers on trackers, once per statement. Payload {"trackers": [ids]},
 * or {"all": true} when more than 100 changed at once. It carries no state: readers re-read.
 */
export const TRACKER_CHANGED_CHANNEL = 'tracker_changed'

export type TrackerChangedPayload = { trackers: string[] } | { all: true }

/** The payload of a tracker_changed notification; null when it is not one (say so, then re-read all). */
export function parseTrackerChanged(payload: string | undefined): TrackerChangedPayload | null {
  try {
    const parsed = JSON.parse(payload ?? '') as Record<string, unknown>
    if (parsed.all === true) return { all: true }
    if (Array.isArray(parsed.trackers) && parsed.trackers.every((id) => typeof id === 'string')) {
      return { trackers: parsed.trackers as string[] }
    }
  } catch {
    // Falls through: not a payload this migration's triggers write.
  }
  return null
}
