import { type Database, type Kysely, sql } from '@tracker/db'
import type { TimeWindow } from '../windows.ts'
import {
  expectedRows,
  type RowSource,
  storedRows,
  type TrackerFilter,
  VALUE_COLUMNS,
} from './history-rows.ts'

export type DifferenceKind = 'missing' | 'extra' | 'different'

export interface HistoryDifference {
  kind: DifferenceKind
  trackerId: string
  timestamp: Date
  bucketSize: string
  /** What the aggregates say (null for an extra row). */
  expected: Record<string, unknown> | null
  /** What location_history holds (null for a missing row). */
  stored: Record<string, unknown> | null
}

const differs = sql.raw(VALUE_COLUMNS.map((c) => `e.${c} IS DISTINCT FROM s.${c}`).join(' OR '))

/**
 * Compares location_history with what its sources say (RowSource) for `window` (the tier boundary
 * at `tierStart`) and returns every difference: rows missing from location_history, rows it has that
 * the aggregates do not, rows whose values differ. Empty when they agree. For operators
 * (`npm run history -- check`) and for tests.
 */
export async function compareWithAggregates(
  db: Kysely<Database>,
  window: TimeWindow,
  trackers: TrackerFilter,
  tierStart: Date,
  source: RowSource,
  limit = 1000,
): Promise<HistoryDifference[]> {
  const { rows } = await sql<{
    kind: DifferenceKind
    tracker_id: string
    timestamp: Date
    bucket_size: string
    expected: Record<string, unknown> | null
    stored: Record<string, unknown> | null
  }>`
    SELECT CASE WHEN s.tracker_id IS NULL THEN 'missing' WHEN e.tracker_id IS NULL THEN 'extra' ELSE 'different' END AS kind,
           coalesce(e.tracker_id, s.tracker_id) AS tracker_id,
           coalesce(e."timestamp", s."timestamp") AS "timestamp",
           coalesce(e.bucket_size, s.bucket_size) AS bucket_size,
           CASE WHEN e.tracker_id IS NULL THEN NULL ELSE to_jsonb(e) END AS expected,
           CASE WHEN s.tracker_id IS NULL THEN NULL ELSE to_jsonb(s) END AS stored
      FROM (${expectedRows(window, trackers, tierStart, source)}) e
      FULL JOIN (${storedRows(window, trackers)}) s
        ON s.tracker_id = e.tracker_id AND s.bucket_size = e.bucket_size AND s."timestamp" = e."timestamp"
     WHERE e.tracker_id IS NULL OR s.tracker_id IS NULL OR ${differs}
     ORDER BY 2, 3, 4
     LIMIT ${limit}`.execute(db)
  return rows.map((r) => ({
    kind: r.kind,
    trackerId: r.tracker_id,
    timestamp: r.timestamp,
    bucketSize: r.bucket_size,
    expected: r.expected,
    stored: r.stored,
  }))
}
