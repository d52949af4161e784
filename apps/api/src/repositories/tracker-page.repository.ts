import type { Database, Tracker, TrackerKey } from '@tracker/db'
import { exactTime } from '@tracker/db'
import { type Kysely, sql } from 'kysely'

export type TrackerStatusName = 'ACTIVE' | 'STALE' | 'LOST' | 'INACTIVE'

export interface TrackerPageQuery {
  status?: TrackerStatusName
  /** Seen at or after this: active. */
  activeSince: Date
  /** Last seen before this (or never): lost. */
  lostBefore: Date
  after?: { createdAt: string; id: string }
  /** Only these trackers (a token limited to them). */
  only?: readonly string[]
  limit: number
}

export type TrackerPageRow = Tracker & { cursor_time: string }

/** Trackers oldest first, by (created_at, id), with the status filter as SQL. */
export async function selectTrackerPage(
  db: Kysely<Database>,
  q: TrackerPageQuery,
): Promise<TrackerPageRow[]> {
  let query = db
    .selectFrom('trackers')
    .selectAll()
    .select(exactTime('created_at').as('cursor_time'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(q.limit)
  switch (q.status) {
    case 'INACTIVE':
      query = query.where('is_active', '=', false)
      break
    case 'ACTIVE':
      query = query.where('is_active', '=', true).where('last_seen_at', '>=', q.activeSince)
      break
    case 'STALE':
      query = query
        .where('is_active', '=', true)
        .where('last_seen_at', '<', q.activeSince)
        .where('last_seen_at', '>=', q.lostBefore)
      break
    case 'LOST':
      query = query
        .where('is_active', '=', true)
        .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', q.lostBefore)]))
      break
  }
  if (q.only)
    query = q.only.length > 0 ? query.where('id', 'in', [...q.only]) : query.where(sql<boolean>`false`)
  const after = q.after
  if (after) {
    query = query.where((eb) =>
      eb(
        eb.refTuple('created_at', 'id'),
        '>',
        eb.tuple(eb.val(after.createdAt).$castTo<Date>(), eb.val(after.id)),
      ),
    )
  }
  return query.execute()
}

export type TrackerKeyListRow = Pick<
  TrackerKey,
  'tracker_id' | 'hashed_adv_key' | 'is_active' | 'created_at' | 'readability'
>

/**
 * The keys of many trackers in one query (the Tracker.keys loader), never their sealed private keys:
 * whether each opens is what the importer recorded (the API cannot open them).
 */
export async function selectKeysOfTrackers(
  db: Kysely<Database>,
  trackerIds: readonly string[],
): Promise<TrackerKeyListRow[][]> {
  if (trackerIds.length === 0) return []
  const rows = await db
    .selectFrom('tracker_keys')
    .select(['tracker_id', 'hashed_adv_key', 'is_active', 'created_at', 'readability'])
    .where('tracker_id', 'in', [...new Set(trackerIds)])
    .orderBy('created_at')
    .orderBy('hashed_adv_key')
    .execute()
  const byTracker = new Map<string, TrackerKeyListRow[]>()
  for (const row of rows) {
    const list = byTracker.get(row.tracker_id) ?? []
    list.push(row)
    byTracker.set(row.tracker_id, list)
  }
  return trackerIds.map((id) => byTracker.get(id) ?? [])
}
