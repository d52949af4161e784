import { type Kysely, sql } from 'kysely'
import type { CoverageGap, NewCoverageGap } from '../schema/coverage-gap.table.ts'
import type { Database } from '../schema/database.ts'

/**
 * Records gaps; a gap already recorded (same key and start: a run that found it again after a
 * crash before its commit could not have, but a second importer could) is kept once. Returns how
 * many were new.
 */
export async function recordCoverageGaps(
  db: Kysely<Database>,
  gaps: readonly NewCoverageGap[],
): Promise<number> {
  if (gaps.length === 0) return 0
  const rows = await db
    .insertInto('coverage_gaps')
    .values([...gaps])
    .onConflict((oc) => oc.constraint('coverage_gaps_once').doNothing())
    .returning('id')
    .execute()
  return rows.length
}

export interface CoverageRange {
  trackerId: string
  from: Date
  to: Date
}

/** A tracker's gaps that overlap [from, to), newest first. */
export function listCoverageGaps(
  db: Kysely<Database>,
  range: CoverageRange & { limit: number },
): Promise<CoverageGap[]> {
  return db
    .selectFrom('coverage_gaps')
    .selectAll()
    .where('tracker_id', '=', range.trackerId)
    .where('gap_to', '>', range.from)
    .where('gap_from', '<', range.to)
    .orderBy('gap_to', 'desc')
    .orderBy('id', 'desc')
    .limit(range.limit)
    .execute()
}

export interface TrackerCoverage {
  rangeMs: number
  /** The part of the range inside any gap (overlapping gaps, e.g. of two keys, counted once). */
  missingMs: number
  /** 1 - missing / range. */
  ratio: number
  gaps: number
}

/** How much of [from, to) no gap covers: the union of the tracker's gaps, clipped to the range. */
export async function trackerCoverage(db: Kysely<Database>, range: CoverageRange): Promise<TrackerCoverage> {
  const from = range.from.toISOString()
  const to = range.to.toISOString()
  const { rows } = await sql<{ missing_s: number; gaps: number }>`
    SELECT coalesce((SELECT sum(extract(epoch FROM upper(part) - lower(part)))
                       FROM unnest(range_agg(tstzrange(greatest(gap_from, ${from}::timestamptz),
                                                       least(gap_to, ${to}::timestamptz)))) AS part), 0)::float8 AS missing_s,
           count(*)::int AS gaps
      FROM coverage_gaps
     WHERE tracker_id = ${range.trackerId}::uuid AND gap_to > ${from}::timestamptz AND gap_from < ${to}::timestamptz`.execute(
    db,
  )
  const rangeMs = Math.max(0, range.to.getTime() - range.from.getTime())
  const missingMs = Math.round((rows[0]?.missing_s ?? 0) * 1000)
  return {
    rangeMs,
    missingMs,
    ratio: rangeMs === 0 ? 1 : 1 - missingMs / rangeMs,
    gaps: rows[0]?.gaps ?? 0,
  }
}

/** The most reports one key got in one answer over the last `runs` recorded runs (0: none yet). */
export async function recentMaxReportsPerKey(db: Kysely<Database>, runs = 20): Promise<number> {
  const { rows } = await sql<{ n: number | null }>`
    SELECT max(max_reports_per_key)::int AS n
      FROM (SELECT max_reports_per_key FROM import_runs ORDER BY started_at DESC LIMIT ${runs}) recent`.execute(
    db,
  )
  return rows[0]?.n ?? 0
}
