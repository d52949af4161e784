import { type Database, sql, type Transaction } from '@tracker/db'

/** A report as rules read it. */
export interface RuleReport {
  timestamp: Date
  latitude: number
  longitude: number
  status: number | null
}

/**
 * Reports before the changed span that a re-evaluation reads first, to know the side the tracker was
 * on when the span starts: more than any rule's confirmations (at most 10) can hold back, so the
 * state machine has settled by the first changed report.
 */
export const WARM_UP_REPORTS = 30

/**
 * The tracker's reports from WARM_UP_REPORTS before `from` to its newest, in report-time order (ties
 * by key, so the order never depends on arrival). Reading to the newest matters: a report in the
 * middle can change every decision after it until the sides agree again.
 */
export async function reportsForEvaluation(
  trx: Transaction<Database>,
  trackerId: string,
  from: Date,
): Promise<RuleReport[]> {
  const warmUp = await sql<{ timestamp: Date }>`
    SELECT "timestamp" FROM location_reports
     WHERE tracker_id = ${trackerId} AND "timestamp" < ${from}
     ORDER BY "timestamp" DESC LIMIT 1 OFFSET ${WARM_UP_REPORTS - 1}`.execute(trx)
  const start = warmUp.rows[0]?.timestamp ?? new Date(0)
  const { rows } = await sql<RuleReport>`
    SELECT "timestamp", latitude, longitude, status FROM location_reports
     WHERE tracker_id = ${trackerId} AND "timestamp" >= ${start}
     ORDER BY "timestamp", hashed_adv_key`.execute(trx)
  return rows
}
