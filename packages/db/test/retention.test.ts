import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clipRefreshWindow,
  DAILY_AGGREGATE,
  DAY_MS,
  DEFAULT_RETENTION,
  HOUR_MS,
  HOURLY_AGGREGATE,
  RetentionConfigError,
  refreshHistoryWindow,
  refreshPeriodic,
  retentionConfigFromEnv,
  retentionConflicts,
  safeLateHorizonMs,
} from '../src/index.ts'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '../src/testing/index.ts'

describe('the retention configuration', () => {
  it('defaults are consistent and keep every report the endpoint still serves (7 days)', () => {
    expect(retentionConflicts(DEFAULT_RETENTION)).toEqual([])
    expect(DEFAULT_RETENTION.rawRetentionMs).toBeGreaterThanOrEqual(8 * DAY_MS)
    expect(safeLateHorizonMs(DEFAULT_RETENTION)).toBeGreaterThanOrEqual(7 * DAY_MS)
  })

  it("rejects the seed's numbers (raw kept 2 days, daily refreshed over 7) and says which values conflict", () => {
    expect(() => retentionConfigFromEnv({ RAW_RETENTION: '2 days' })).toThrow(RetentionConfigError)
    try {
      retentionConfigFromEnv({ RAW_RETENTION: '2 days' })
    } catch (error) {
      const conflicts = (error as RetentionConfigError).conflicts
      expect(
        conflicts.some(
          (c) => c.includes('DAILY_REFRESH_WINDOW=7 days') && c.includes('RAW_RETENTION=2 days'),
        ),
      ).toBe(true)
      expect(
        conflicts.some(
          (c) => c.includes('HOURLY_REFRESH_WINDOW=2 days') && c.includes('RAW_RETENTION=2 days'),
        ),
      ).toBe(true)
    }
  })

  it('requires a margin of one raw chunk plus one bucket', () => {
    // 7 days + 1 day chunk + 1 day bucket = 9 days: exactly enough, one hour less is not.
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawRetentionMs: 9 * DAY_MS })).toEqual([])
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawRetentionMs: 9 * DAY_MS - HOUR_MS })).toHaveLength(1)
    // A 3-day raw chunk: 7 + 3 + 1 = 11 days > 10.
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawChunkIntervalMs: 3 * DAY_MS })).toHaveLength(1)
  })

  it('names the variable of a malformed duration', () => {
    expect(() => retentionConfigFromEnv({ DAILY_RETENTION: 'forever' })).toThrow(
      /DAILY_RETENTION: "forever" is not a duration/,
    )
  })

  it('clips refresh windows to whole buckets inside the safe range', () => {
    const now = new Date('2026-11-21T12:34:00Z')
    const old = { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-11-21T12:00:00Z') }
    // Daily: raw retention 10 days - 1 day chunk - 1 day bucket = 8 days back, rounded up to a whole day.
    expect(clipRefreshWindow(DEFAULT_RETENTION, DAILY_AGGREGATE, old, now)).toEqual({
      from: new Date('2026-11-14T00:00:00Z'),
      to: new Date('2026-11-22T00:00:00Z'),
    })
    // Hourly: no further back than its 48-hour refresh window.
    expect(clipRefreshWindow(DEFAULT_RETENTION, HOURLY_AGGREGATE, old, now)).toEqual({
      from: new Date('2026-11-19T13:00:00Z'),
      to: new Date('2026-11-21T12:00:00Z'),
    })
    const tooOld = { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-10-02T00:00:00Z') }
    expect(clipRefreshWindow(DEFAULT_RETENTION, DAILY_AGGREGATE, tooOld, now)).toBeNull()
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

  it('drop raw chunks by retention, run every configured refresh: no daily row changes', async () => {
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
    // Materialize everything while the raw data is all there.
    await sql`CALL refresh_continuous_aggregate('location_history_daily', NULL, now())`.execute(database.db)
    const before = await dailyRows()
    expect(before.length).toBeGreaterThanOrEqual(30)

    // Retention drops raw chunks older than 10 days; then every refresh the system can run.
    await sql`SELECT drop_chunks('location_reports', older_than => now() - ${`${DEFAULT_RETENTION.rawRetentionMs / 1000} seconds`}::interval)`.execute(
      database.db,
    )
    const { rows: left } = await sql<{
      oldest: Date
    }>`SELECT min("timestamp") AS oldest FROM location_reports`.execute(database.db)
    expect(left[0]!.oldest.getTime()).toBeGreaterThan(now - DEFAULT_RETENTION.rawRetentionMs - DAY_MS)

    const { rows: jobs } = await sql<{ job_id: number }>`
      SELECT job_id FROM timescaledb_information.jobs
       WHERE proc_name IN ('policy_refresh_continuous_aggregate', 'policy_retention', 'policy_compression') ORDER BY job_id`.execute(
      database.db,
    )
    for (const job of jobs) await sql`CALL run_job(${job.job_id})`.execute(database.db)
    await refreshPeriodic(database, DEFAULT_RETENTION)
    await refreshHistoryWindow(database, DEFAULT_RETENTION, {
      from: new Date(now - 60 * DAY_MS),
      to: new Date(now),
    })

    expect(await dailyRows()).toEqual(before)
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
