import { DAY_MS, DEFAULT_RETENTION, HOUR_MS, type Logger, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChangeSet,
  clipRefreshWindow,
  DAILY_TIER,
  HistoryEngine,
  HOURLY_TIER,
  periodicRefreshWindow,
  resolveRetention,
} from '../src/index.ts'
import { context, openEngine } from './helpers/engine-harness.ts'

describe('refresh windows', () => {
  it('of the periodic refresh end where the current bucket starts (it fills in real time)', () => {
    const now = new Date('2026-11-21T12:34:00Z')
    expect(periodicRefreshWindow(DEFAULT_RETENTION, HOURLY_TIER, now)).toEqual({
      from: new Date('2026-11-19T13:00:00Z'),
      to: new Date('2026-11-21T12:00:00Z'),
    })
    expect(periodicRefreshWindow(DEFAULT_RETENTION, DAILY_TIER, now)).toEqual({
      from: new Date('2026-11-14T00:00:00Z'),
      to: new Date('2026-11-21T00:00:00Z'),
    })
  })

  it('are clipped to whole buckets inside the range raw retention leaves safe', () => {
    const now = new Date('2026-11-21T12:34:00Z')
    const old = { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-11-21T12:00:00Z') }
    // Daily: raw retention 10 days - 1 day chunk - 1 day bucket = 8 days back, rounded up to a whole day.
    expect(clipRefreshWindow(DEFAULT_RETENTION, DAILY_TIER, old, now)).toEqual({
      from: new Date('2026-11-14T00:00:00Z'),
      to: new Date('2026-11-22T00:00:00Z'),
    })
    // Hourly: no further back than the hourly tier reaches (48 hours).
    expect(clipRefreshWindow(DEFAULT_RETENTION, HOURLY_TIER, old, now)).toEqual({
      from: new Date('2026-11-19T13:00:00Z'),
      to: new Date('2026-11-21T12:00:00Z'),
    })
    const tooOld = { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-10-02T00:00:00Z') }
    expect(clipRefreshWindow(DEFAULT_RETENTION, DAILY_TIER, tooOld, now)).toBeNull()
  })
})

describe('retention read from the database', () => {
  it('the stricter of configuration and database wins, and each difference is named', () => {
    const { effective, mismatches } = resolveRetention(DEFAULT_RETENTION, {
      rawRetentionMs: 9 * DAY_MS,
      rawChunkIntervalMs: 2 * DAY_MS,
      hourlyRetentionMs: DEFAULT_RETENTION.hourlyRetentionMs,
      dailyRetentionMs: null,
    })
    expect(effective.rawRetentionMs).toBe(9 * DAY_MS)
    expect(effective.rawChunkIntervalMs).toBe(2 * DAY_MS)
    expect(mismatches).toEqual([
      expect.stringMatching(/^RAW_RETENTION is 10 days but the database has 9 days \(using 9 days\)/),
      expect.stringMatching(/^RAW_CHUNK_INTERVAL is 1 day but the database has 2 days \(using 2 days\)/),
    ])
    // A database more generous than the configuration does not loosen it.
    expect(
      resolveRetention(DEFAULT_RETENTION, {
        rawRetentionMs: 30 * DAY_MS,
        rawChunkIntervalMs: null,
        hourlyRetentionMs: null,
        dailyRetentionMs: null,
      }).effective.rawRetentionMs,
    ).toBe(DEFAULT_RETENTION.rawRetentionMs)
  })
})

describe('retention never erases history', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(() => database?.close())

  const dailyRows = () =>
    database.db
      .selectFrom('location_history_daily')
      .select(['tracker_id', 'bucket', 'latitude', 'longitude', 'nearest_city', 'report_count'])
      .orderBy('tracker_id')
      .orderBy('bucket')
      .execute()
  const historyDays = () =>
    database.db
      .selectFrom('location_history')
      .select(['tracker_id', 'timestamp', 'latitude', 'longitude', 'nearest_city', 'report_count'])
      .where('bucket_size', '=', '1 day')
      .orderBy('tracker_id')
      .orderBy('timestamp')
      .execute()

  it('drop raw chunks by retention, run every refresh and upkeep the engine can run: no daily row changes', async () => {
    const { engine } = await openEngine(database)
    const tracker = await insertTracker(database.db, { keys: 2 })
    const now = Date.now()
    // 30 days of history, 6 reports a day alternating keys, positions moving east.
    const rows = Array.from({ length: 30 * 6 }, (_, i) =>
      reportRow(tracker.hashedAdvKeys[i % 2]!, new Date(now - 30 * DAY_MS + i * 4 * HOUR_MS), {
        latitude: 45 + i / 1000,
        longitude: -5 + i / 100,
        nearest_city: `City ${i}`,
      }),
    )
    await database.db.insertInto('location_reports').values(rows).execute()
    // Materialize everything while the raw data is all there, and build location_history from it.
    await sql`CALL refresh_continuous_aggregate('location_history_daily', NULL, now())`.execute(database.db)
    await engine.rebuild(context())
    const before = await dailyRows()
    const historyBefore = await historyDays()
    expect(before.length).toBeGreaterThanOrEqual(30)
    expect(historyBefore.length).toBeGreaterThanOrEqual(28)

    // Retention drops raw chunks older than 10 days; then every refresh the system can run.
    await sql`SELECT drop_chunks('location_reports', older_than => now() - ${`${DEFAULT_RETENTION.rawRetentionMs / 1000} seconds`}::interval)`.execute(
      database.db,
    )
    const { rows: left } = await sql<{
      oldest: Date
    }>`SELECT min("timestamp") AS oldest FROM location_reports`.execute(database.db)
    expect(left[0]!.oldest.getTime()).toBeGreaterThan(now - DEFAULT_RETENTION.rawRetentionMs - DAY_MS)

    // This project's policy jobs only (a server has jobs of its own).
    const { rows: jobs } = await sql<{ job_id: number }>`
      SELECT job_id FROM timescaledb_information.jobs
       WHERE hypertable_name = 'location_reports'
          OR hypertable_name IN (SELECT materialization_hypertable_name FROM timescaledb_information.continuous_aggregates
                                  WHERE view_name IN ('location_history_hourly', 'location_history_daily'))
       ORDER BY job_id`.execute(database.db)
    for (const job of jobs) await sql`CALL run_job(${job.job_id})`.execute(database.db)
    await engine.refreshPeriodic(context('periodic'))
    await engine.refreshWindow({ from: new Date(now - 60 * DAY_MS), to: new Date(now) }, context())
    const everything = new ChangeSet()
    everything.add({ window: { from: new Date(now - 60 * DAY_MS), to: new Date(now) }, trackers: null })
    await engine.applyChanges(everything, context('catch_up'))
    await engine.rebuild(context())

    expect(await dailyRows()).toEqual(before)
    expect(await historyDays()).toEqual(historyBefore)
    expect(await engine.check()).toEqual([])
  })

  it('(control) an unclipped refresh over the dropped range would have erased it', async () => {
    const before = await dailyRows()
    await sql`CALL refresh_continuous_aggregate('location_history_daily', NULL, now() - interval '12 days')`.execute(
      database.db,
    )
    const after = await dailyRows()
    expect(after.length).toBeLessThan(before.length)
  })
})

describe('a database whose policies differ from the configuration', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(() => database?.close())

  it('is read at start: the shorter raw retention is used, and the difference is logged as a warning', async () => {
    await sql`SELECT remove_retention_policy('location_reports')`.execute(database.db)
    await sql`SELECT add_retention_policy('location_reports', INTERVAL '9 days')`.execute(database.db)
    const warnings: string[] = []
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (_o, msg) => warnings.push(msg ?? '') }
    const engine = await HistoryEngine.open({ database, retention: DEFAULT_RETENTION, logger })
    expect(engine.retention.rawRetentionMs).toBe(9 * DAY_MS)
    expect(engine.retentionMismatches).toHaveLength(1)
    expect(warnings).toEqual([expect.stringMatching(/RAW_RETENTION is 10 days but the database has 9 days/)])
    // Refresh windows follow: the daily tier is refreshed no further back than 9 - 1 - 1 = 7 days.
    const now = new Date()
    expect(
      clipRefreshWindow(engine.retention, DAILY_TIER, { from: new Date(0), to: now }, now)!.from.getTime(),
    ).toBe(Math.ceil((now.getTime() - 7 * DAY_MS) / DAY_MS) * DAY_MS)
  })

  it('reports that daily history is being lost when the daily watermark falls behind the safe horizon', async () => {
    const { engine } = await openEngine(database)
    expect(await engine.historyRisk()).toMatchObject({ losing: false }) // nothing materialized yet
    const tracker = await insertTracker(database.db)
    const day = Math.floor((Date.now() - 20 * DAY_MS) / DAY_MS) * DAY_MS
    await database.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(day + HOUR_MS)))
      .execute()
    // Materialized up to 19 days ago, and no further...
    await sql`CALL refresh_continuous_aggregate('location_history_daily', ${new Date(day).toISOString()}::timestamptz, ${new Date(day + DAY_MS).toISOString()}::timestamptz)`.execute(
      database.db,
    )
    expect(await engine.historyRisk()).toMatchObject({
      dailyWatermark: new Date(day + DAY_MS),
      losing: false,
    })
    // ...while a report of 18 days ago waits in raw data, older than a refresh may safely reach.
    await database.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(day + 2 * DAY_MS + HOUR_MS)))
      .execute()
    expect(await engine.historyRisk()).toMatchObject({ losing: true })
    // Caught up: no longer losing.
    await engine.refreshPeriodic(context('periodic'))
    await sql`CALL refresh_continuous_aggregate('location_history_daily', ${new Date(day).toISOString()}::timestamptz, now())`.execute(
      database.db,
    )
    expect(await engine.historyRisk()).toMatchObject({ losing: false })
  })
})
