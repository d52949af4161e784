import { type Database, type Kysely, sql, type Transaction } from '@tracker/db'

/**
 * alert_pending (what the evaluator has still to look at) and alert_tracker_state (the row an
 * evaluator locks per tracker).
 */

export interface ReportSpan {
  trackerId: string
  from: Date
  to: Date
}

/**
 * Queues the report-time span of new reports per tracker; call it in the transaction that inserts
 * them, so that a crash right after the insert still leaves the evaluation to do.
 */
export async function queueEvaluation(
  db: Kysely<Database> | Transaction<Database>,
  spans: readonly ReportSpan[],
) {
  if (spans.length === 0) return
  await db
    .insertInto('alert_pending')
    .values(spans.map((s) => ({ tracker_id: s.trackerId, from_ts: s.from, to_ts: s.to })))
    .execute()
}

/** The spans of a batch of reports, one per tracker. */
export function spansOf(reports: Iterable<{ trackerId: string; timestamp: Date }>): ReportSpan[] {
  const spans = new Map<string, ReportSpan>()
  for (const { trackerId, timestamp } of reports) {
    const span = spans.get(trackerId)
    if (!span) spans.set(trackerId, { trackerId, from: timestamp, to: timestamp })
    else {
      if (timestamp < span.from) span.from = timestamp
      if (timestamp > span.to) span.to = timestamp
    }
  }
  return [...spans.values()]
}

/** Trackers with queued work, the longest-waiting first. */
export async function trackersWithPendingWork(
  db: Kysely<Database>,
  limit: number,
  excluding: readonly string[] = [],
): Promise<string[]> {
  const rows = await db
    .selectFrom('alert_pending')
    .select('tracker_id')
    .$if(excluding.length > 0, (q) => q.where('tracker_id', 'not in', excluding))
    .groupBy('tracker_id')
    .orderBy(sql`min(id)`)
    .limit(limit)
    .execute()
  return rows.map((r) => r.tracker_id)
}

/**
 * Takes the tracker's evaluation lock for the rest of the transaction: another evaluator of the same
 * tracker, in this process or any other, waits here until this one commits. False when the tracker
 * is gone.
 */
export async function lockTrackerForEvaluation(
  trx: Transaction<Database>,
  trackerId: string,
): Promise<boolean> {
  await sql`
    INSERT INTO alert_tracker_state (tracker_id)
    SELECT id FROM trackers WHERE id = ${trackerId}
    ON CONFLICT (tracker_id) DO NOTHING`.execute(trx)
  const row = await trx
    .selectFrom('alert_tracker_state')
    .select('tracker_id')
    .where('tracker_id', '=', trackerId)
    .forUpdate()
    .executeTakeFirst()
  return row !== undefined
}

/** The tracker's queued spans (read under its lock), merged: ids to delete once evaluated. */
export async function takePendingSpan(
  trx: Transaction<Database>,
  trackerId: string,
): Promise<{ ids: string[]; from: Date; to: Date } | null> {
  const rows = await trx
    .selectFrom('alert_pending')
    .select(['id', 'from_ts', 'to_ts'])
    .where('tracker_id', '=', trackerId)
    .execute()
  if (rows.length === 0) return null
  return {
    ids: rows.map((r) => String(r.id)),
    from: new Date(Math.min(...rows.map((r) => r.from_ts.getTime()))),
    to: new Date(Math.max(...rows.map((r) => r.to_ts.getTime()))),
  }
}

export async function finishPending(trx: Transaction<Database>, trackerId: string, ids: readonly string[]) {
  if (ids.length > 0) await trx.deleteFrom('alert_pending').where('id', 'in', ids).execute()
  await trx
    .updateTable('alert_tracker_state')
    .set({ evaluated_at: sql<Date>`now()` })
    .where('tracker_id', '=', trackerId)
    .execute()
}
