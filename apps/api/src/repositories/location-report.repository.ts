import type { Database, LocationReport } from '@tracker/db'
import { exactTime } from '@tracker/db'
import type { Kysely } from 'kysely'

export interface ReportPageQuery {
  trackerId: string
  from: Date
  to: Date | undefined
  after?: { timestamp: string; hashedAdvKey: string }
  limit: number
}

export type ReportPageRow = LocationReport & { cursor_time: string }

/** A tracker's raw reports newest first, by ("timestamp", hashed_adv_key). */
export async function selectReportPage(db: Kysely<Database>, q: ReportPageQuery): Promise<ReportPageRow[]> {
  let query = db
    .selectFrom('location_reports')
    .selectAll()
    .select(exactTime('timestamp').as('cursor_time'))
    .where('tracker_id', '=', q.trackerId)
    .where('timestamp', '>=', q.from)
    .orderBy('timestamp', 'desc')
    .orderBy('hashed_adv_key', 'desc')
    .limit(q.limit)
  if (q.to) query = query.where('timestamp', '<=', q.to)
  const after = q.after
  if (after) {
    query = query.where((eb) =>
      eb(
        eb.refTuple('timestamp', 'hashed_adv_key'),
        '<',
        eb.tuple(eb.val(after.timestamp).$castTo<Date>(), eb.val(after.hashedAdvKey)),
      ),
    )
  }
  return query.execute()
}

/**
 * A tracker's raw reports in [from, to], oldest first, the columns an export writes (not tracker_id,
 * which it knows, nor inserted_at): what an export reads, a page at a time.
 */
export function reportExportQuery(db: Kysely<Database>, q: { trackerId: string; from: Date; to: Date }) {
  return db
    .selectFrom('location_reports')
    .select([
      'timestamp',
      'hashed_adv_key',
      'latitude',
      'longitude',
      'horizontal_accuracy',
      'nearest_city',
      'confidence',
      'status',
      'published_at',
    ])
    .where('tracker_id', '=', q.trackerId)
    .where('timestamp', '>=', q.from)
    .where('timestamp', '<=', q.to)
    .orderBy('timestamp')
    .orderBy('hashed_adv_key')
}
