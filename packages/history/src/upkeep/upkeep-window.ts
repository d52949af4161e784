import { type Database, type Kysely, sql } from '@tracker/db'
import type { TimeWindow } from '../windows.ts'
import { expectedRows, type RowSource, type TrackerFilter, VALUE_COLUMNS, valueList } from './history-rows.ts'

export interface UpkeepCounts {
  /** Rows inserted or changed. */
  written: number
  /** Rows that the aggregates no longer have (a tier change, a purge, a dropped chunk). */
  removed: number
}

const changedValues = sql.raw(VALUE_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(', '))
const storedTuple = sql.raw(VALUE_COLUMNS.map((c) => `location_history.${c}`).join(', '))
const excludedTuple = sql.raw(VALUE_COLUMNS.map((c) => `EXCLUDED.${c}`).join(', '))

/**
 * Makes location_history equal to its sources (RowSource) for `trackers` in `window` (whole days),
 * in one statement: rows that are new or differ are written, rows the aggregates no longer have are
 * removed, and rows that are already right are left alone (not rewritten: other readers' snapshots,
 * row identity and the table's bloat stay as they are). Its cost follows the window and the trackers,
 * not the size of the history.
 */
export async function upkeepWindow(
  db: Kysely<Database>,
  window: TimeWindow,
  trackers: TrackerFilter,
  tierStart: Date,
  source: RowSource,
): Promise<UpkeepCounts> {
  const lo = sql`${window.from.toISOString()}::timestamptz`
  const hi = sql`${window.to.toISOString()}::timestamptz`
  const ids = trackers ? sql`AND lh.tracker_id = ANY(${[...trackers]}::uuid[])` : sql``
  // The comment names the statement in pg_stat_activity, whose query text is cut at 1 KB.
  const { rows } = await sql<{ written: number; removed: number }>`/* location_history upkeep */
    WITH expected AS MATERIALIZED (${expectedRows(window, trackers, tierStart, source)}),
    removed AS (
      DELETE FROM location_history lh
       WHERE lh."timestamp" >= ${lo} AND lh."timestamp" < ${hi} ${ids}
         AND NOT EXISTS (SELECT 1 FROM expected e
                          WHERE e.tracker_id = lh.tracker_id AND e.bucket_size = lh.bucket_size
                            AND e."timestamp" = lh."timestamp")
      RETURNING 1),
    written AS (
      INSERT INTO location_history (tracker_id, "timestamp", bucket_size, ${valueList})
      SELECT tracker_id, "timestamp", bucket_size, ${valueList} FROM expected
      ON CONFLICT ON CONSTRAINT location_history_key DO UPDATE SET ${changedValues}
       WHERE (${storedTuple}) IS DISTINCT FROM (${excludedTuple})
      RETURNING 1)
    SELECT (SELECT count(*) FROM written)::int AS written, (SELECT count(*) FROM removed)::int AS removed`.execute(
    db,
  )
  return { written: rows[0]!.written, removed: rows[0]!.removed }
}
