import { type Database, type Kysely, sql } from '@tracker/db'
import { notifyHistoryChange } from '@tracker/history'

/** A report ready to store: decrypted, validated, geocoded. */
export interface StorableReport {
  hashedAdvKey: string
  trackerId: string
  timestamp: Date
  latitude: number
  longitude: number
  horizontalAccuracy: number
  confidence: number
  status: number
  nearestCity: string | null
  publishedAt: Date | null
}

/**
 * Inserts one batch in one statement (and so one transaction): `unnest` keeps it to ten bind
 * parameters whatever the batch size (multi-row VALUES hits the 65535-parameter limit), and
 * ON CONFLICT DO NOTHING makes a report already stored a duplicate, not an error, also inside
 * compressed chunks. Returns how many rows were new.
 */
export async function insertReports(
  db: Kysely<Database>,
  reports: readonly StorableReport[],
): Promise<number> {
  if (reports.length === 0) return 0
  const column = <T>(pick: (r: StorableReport) => T) => reports.map(pick)
  const result = await sql`
    INSERT INTO location_reports
      (hashed_adv_key, "timestamp", tracker_id, latitude, longitude, horizontal_accuracy, confidence, status, nearest_city, published_at)
    SELECT * FROM unnest(
      ${column((r) => r.hashedAdvKey)}::text[],
      ${column((r) => r.timestamp.toISOString())}::timestamptz[],
      ${column((r) => r.trackerId)}::uuid[],
      ${column((r) => r.latitude)}::float8[],
      ${column((r) => r.longitude)}::float8[],
      ${column((r) => r.horizontalAccuracy)}::int4[],
      ${column((r) => r.confidence)}::int2[],
      ${column((r) => r.status)}::int2[],
      ${column((r) => r.nearestCity)}::text[],
      ${column((r) => r.publishedAt?.toISOString() ?? null)}::timestamptz[])
    ON CONFLICT DO NOTHING`.execute(db)
  return Number(result.numAffectedRows ?? 0n)
}

/**
 * Which of these (tracker, key, timestamp) triples are already stored, as "key|epoch ms". One
 * statement; the join follows the primary key (tracker_id, hashed_adv_key, timestamp).
 */
export async function knownReports(
  db: Kysely<Database>,
  candidates: readonly { trackerId: string; hashedAdvKey: string; timestamp: Date }[],
): Promise<Set<string>> {
  if (candidates.length === 0) return new Set()
  const { rows } = await sql<{ hashed_adv_key: string; timestamp: Date }>`
    SELECT r.hashed_adv_key, r."timestamp"
      FROM unnest(
        ${candidates.map((c) => c.trackerId)}::uuid[],
        ${candidates.map((c) => c.hashedAdvKey)}::text[],
        ${candidates.map((c) => c.timestamp.toISOString())}::timestamptz[]) AS c(tracker_id, hashed_adv_key, ts)
      JOIN location_reports r
        ON r.tracker_id = c.tracker_id AND r.hashed_adv_key = c.hashed_adv_key AND r."timestamp" = c.ts`.execute(
    db,
  )
  return new Set(rows.map((row) => `${row.hashed_adv_key}|${row.timestamp.getTime()}`))
}

/** Trackers per notification: within what `history_change_payload` lists before it falls back to the window alone. */
const TRACKERS_PER_SIGNAL = 150

/**
 * Tells the refresher which window and which trackers this run touched, so late reports reach
 * location_history without waiting for the hourly cycle (the insert trigger also notifies per
 * tracker and hour; this covers the whole run). Through the database's encoder, a notification per
 * 150 trackers: never the window alone, which would make the refresher look at every tracker.
 */
export async function signalRefresh(
  db: Kysely<Database>,
  window: { from: Date; to: Date },
  trackerIds: string[],
): Promise<void> {
  // `to` is exclusive for the refresher: one millisecond past the newest report keeps its bucket in.
  const to = new Date(window.to.getTime() + 1)
  for (let i = 0; i < trackerIds.length; i += TRACKERS_PER_SIGNAL) {
    const trackers = trackerIds.slice(i, i + TRACKERS_PER_SIGNAL)
    await notifyHistoryChange(db, { window: { from: window.from, to }, trackers }, 'import')
  }
}

/**
 * The newest stored report of each of `ids` at or after `since` (the endpoint's window: nothing older
 * can come back from it); keys with none are left out. location_reports is filtered by tracker_id too,
 * from the keys' trackers, because its compressed chunks are segmented by tracker_id.
 */
export async function newestStoredByKey(
  db: Kysely<Database>,
  ids: readonly string[],
  since: Date,
): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map()
  const { rows } = await sql<{ hashed_adv_key: string; newest: Date }>`
    SELECT r.hashed_adv_key, max(r."timestamp") AS newest
      FROM location_reports r
     WHERE r.tracker_id = ANY(ARRAY(SELECT k.tracker_id FROM tracker_keys k WHERE k.hashed_adv_key = ANY(${ids}::text[])))
       AND r.hashed_adv_key = ANY(${ids}::text[])
       AND r."timestamp" >= ${since.toISOString()}::timestamptz
     GROUP BY r.hashed_adv_key`.execute(db)
  return new Map(rows.map((r) => [r.hashed_adv_key, r.newest]))
}

/** Which of `ids` have a report stored newer than `since`: the keys expected to have reports. */
export async function keysWithReportsSince(
  db: Kysely<Database>,
  ids: readonly string[],
  since: Date,
): Promise<Set<string>> {
  const newest = await newestStoredByKey(db, ids, since)
  return new Set([...newest].filter(([, at]) => at > since).map(([key]) => key))
}
