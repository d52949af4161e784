import { setTimeout as sleep } from 'node:timers/promises'
import { type Database, type Kysely, REFRESH_REQUEST_CHANNEL, sql } from '@tracker/db'
import { ChangeSet, parseHistoryChange } from '@tracker/history'
import type { BenchContext } from '../context.ts'
import { benchRun, type SeededTracker } from '../history-seed.ts'
import { median, round } from '../stats.ts'
import {
  type EngineStatement,
  type HistoryStage,
  insertOneReport,
  lateHour,
  type SampleKind,
  statementOf,
} from './freshness.ts'

/** The baseline: location_history as it was kept before the history engine, in the bench database only. */
const FULL_VIEW = 'bench_full_history'

export interface ChangeUpkeep {
  trackerId: string
  /** engine.applyChanges of the change the report's notification announced, wall time. */
  applyMs: number
  /** Its statements: location_history's upkeep (the aggregates get the change at the periodic refresh). */
  statements: EngineStatement[]
}

export interface UpkeepStats {
  n: number
  medianMs: number
  /** Median of the location_history statement alone. */
  locationHistoryMs: number
  /** Median of the aggregate refreshes' sum (0 for recent reports: above the watermarks). */
  aggregatesMs: number
}

export interface UpkeepMeasurement {
  changes: Record<SampleKind, ChangeUpkeep[]>
  stats: Record<SampleKind, UpkeepStats>
  /** The old full refresh: REFRESH MATERIALIZED VIEW CONCURRENTLY of the whole history, each after a round's changes. */
  fullRefreshMs: number[]
  fullRefreshMedianMs: number
  /** CREATE MATERIALIZED VIEW of the baseline (its first fill, no diff) and its unique index. */
  fullViewCreateMs: number
  /** Rows of the baseline view and of location_history after the last full refresh (the same changes made visible). */
  fullViewRows: number
  locationHistoryRows: number
  /**
   * The periodic refresh after the round's changes (engine.refreshPeriodic, at most hourly): where
   * the late reports reach the aggregates, each invalidated hour and day recomputed for every tracker.
   */
  periodicRefresh: { ms: number; statements: EngineStatement[] }
}

export function upkeepStats(changes: readonly ChangeUpkeep[]): UpkeepStats {
  const part = (c: ChangeUpkeep, aggregates: boolean) =>
    c.statements
      .filter((s) => (s.object === 'location_history') !== aggregates)
      .reduce((sum, s) => sum + s.durationMs, 0)
  return {
    n: changes.length,
    medianMs: round(median(changes.map((c) => c.applyMs))),
    locationHistoryMs: round(median(changes.map((c) => part(c, false)))),
    aggregatesMs: round(median(changes.map((c) => part(c, true)))),
  }
}

/**
 * The upkeep's cost per change, against the old full refresh. Each round: one recent report (this
 * hour, above the aggregates' watermarks) and one late report (about 36 hours old, below them) of
 * two other trackers than the freshness subject are inserted; each one's notification, as the insert
 * trigger sent it, becomes a ChangeSet that the bench's engine applies (`engine.applyChanges`,
 * timed); then, in the first `fullRefreshes` rounds, the baseline view is refreshed whole
 * (`REFRESH MATERIALIZED VIEW CONCURRENTLY`, timed): the same changes made visible the old way.
 * Last, the periodic refresh that brings the late reports into the aggregates (timed).
 */
export async function measureUpkeep(
  ctx: BenchContext,
  stage: HistoryStage,
  runs: { changes: number; fullRefreshes: number },
): Promise<UpkeepMeasurement> {
  const { database } = stage.bench
  ctx.progress(
    `  baseline: ${FULL_VIEW}, a materialized view of location_history_view (the old location_history)`,
  )
  const t0 = performance.now()
  await sql`CREATE MATERIALIZED VIEW ${sql.raw(FULL_VIEW)} AS ${sql.raw(await fullViewQuery(database.db))}`.execute(
    database.db,
  )
  await sql`CREATE UNIQUE INDEX ${sql.raw(`${FULL_VIEW}_key`)} ON ${sql.raw(FULL_VIEW)} (tracker_id, bucket_size, "timestamp")`.execute(
    database.db,
  )
  const fullViewCreateMs = round(performance.now() - t0)

  const payloads: string[] = []
  const listener = await database.listen(REFRESH_REQUEST_CHANNEL, {
    onNotification: (payload) => payloads.push(payload),
  })
  const measurement: UpkeepMeasurement = {
    changes: { recent: [], late: [] },
    stats: { recent: upkeepStats([]), late: upkeepStats([]) },
    fullRefreshMs: [],
    fullRefreshMedianMs: Number.NaN,
    fullViewCreateMs,
    fullViewRows: 0,
    locationHistoryRows: 0,
    periodicRefresh: { ms: Number.NaN, statements: [] },
  }
  try {
    // Other trackers than the freshness subject (index 0), spread over the seed.
    const others = stage.seeded.slice(1)
    const pick = (k: number) => others[(k * 7_919) % others.length]!
    const late = lateHour(stage.now.getTime()) + 30 * 60_000
    const count = async (table: string) => {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.raw(table)}`.execute(
        database.db,
      )
      return Number(rows[0]?.n ?? 0)
    }
    ctx.progress(
      `  upkeep: ${runs.changes} recent and ${runs.changes} late changes, ${runs.fullRefreshes} full refresh(es) of the baseline`,
    )
    for (let i = 0; i < runs.changes; i++) {
      for (const kind of ['recent', 'late'] as const) {
        const tracker = pick(2 * i + (kind === 'late' ? 1 : 0))
        const timestamp = kind === 'recent' ? Date.now() : late + i * 1000
        await insertOneReport(stage, tracker, timestamp)
        const changes = await notifiedChange(payloads, tracker)
        const seen = stage.events.length
        const started = performance.now()
        await stage.engine.applyChanges(changes, benchRun('notification'))
        const applyMs = performance.now() - started
        measurement.changes[kind].push({
          trackerId: tracker.id,
          applyMs: round(applyMs),
          statements: stage.events.slice(seen).map(statementOf),
        })
      }
      if (i < runs.fullRefreshes) {
        const ms = await database.withSession(async (session) => {
          const started = performance.now()
          await sql`REFRESH MATERIALIZED VIEW CONCURRENTLY ${sql.raw(FULL_VIEW)}`.execute(session)
          return performance.now() - started
        })
        measurement.fullRefreshMs.push(round(ms))
        if (i === runs.fullRefreshes - 1) {
          // Both made the same changes visible: the same number of rows (a check on the bench itself).
          measurement.fullViewRows = await count(FULL_VIEW)
          measurement.locationHistoryRows = await count('location_history')
        }
      }
    }
    ctx.progress('  periodic refresh: the late reports into the aggregates')
    const seen = stage.events.length
    const started = performance.now()
    await stage.engine.refreshPeriodic(benchRun('periodic'))
    measurement.periodicRefresh = {
      ms: round(performance.now() - started),
      statements: stage.events.slice(seen).map(statementOf),
    }
  } finally {
    await listener.close()
    await sql`DROP MATERIALIZED VIEW IF EXISTS ${sql.raw(FULL_VIEW)}`.execute(database.db)
  }
  measurement.stats = {
    recent: upkeepStats(measurement.changes.recent),
    late: upkeepStats(measurement.changes.late),
  }
  measurement.fullRefreshMedianMs = round(median(measurement.fullRefreshMs))
  return measurement
}

/**
 * location_history_view's own query, with its tier rule inlined: `SELECT * FROM location_history_view`
 * cannot be materialized on PostgreSQL 17, whose CREATE and REFRESH MATERIALIZED VIEW run with
 * search_path = pg_catalog, pg_temp, where the body of the SQL function location_history_tier_start
 * does not find TimescaleDB's time_bucket. Inlined (resolved when the view is created, as the old
 * location_history's view was), the same rows, the same plan.
 */
async function fullViewQuery(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ definition: string }>`
    SELECT pg_get_viewdef('location_history_view'::regclass) AS definition`.execute(db)
  const definition = rows[0]!.definition.trim().replace(/;$/, '')
  const inlined = definition.replaceAll(
    'location_history_tier_start(now())',
    "time_bucket('1 day'::interval, now() - '24:00:00'::interval)",
  )
  if (inlined === definition)
    throw new Error(`location_history_view no longer calls location_history_tier_start(now()): ${definition}`)
  return inlined
}

/** The change the insert trigger announced for `tracker` (waits for its notification), as one ChangeSet. */
async function notifiedChange(payloads: string[], tracker: SeededTracker): Promise<ChangeSet> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const index = payloads.findIndex((p) => parseHistoryChange(p)?.trackers?.includes(tracker.id))
    if (index >= 0) {
      const change = parseHistoryChange(payloads.splice(index, 1)[0]!)!
      const changes = new ChangeSet()
      changes.add(change)
      return changes
    }
    if (Date.now() > deadline) throw new Error(`no notification named tracker ${tracker.id} within 30 s`)
    await sleep(1)
  }
}
