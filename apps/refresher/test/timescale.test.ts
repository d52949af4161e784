import { DAY_MS, DEFAULT_RETENTION, HOUR_MS, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { aggregateWatermark, DAILY_TIER, periodicRefreshWindow } from '@tracker/history'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { check, type RunningRefresher, rebuild, refreshAll } from '../src/index.ts'
import { Recorder, startSettledRefresher, testLogger } from './helpers/refresher-harness.ts'

// On TimescaleDB: the embedded engine by default, unchanged on a real server with TEST_DATABASE_URL.
// Real migrations, so the insert trigger sends the notifications and the aggregates are real.

let database: TestDatabase
let locks: InProcessLockService
let refresher: RunningRefresher
const recorder = new Recorder()

beforeAll(async () => {
  database = await createTestDatabase()
  locks = new InProcessLockService()
  refresher = await startSettledRefresher({ database, locks, hooks: recorder, outcome: 'refreshed' })
})

afterAll(async () => {
  await refresher?.stop()
  await locks?.close()
  await database?.close()
})

const hourStart = (ms: number) => new Date(Math.floor(ms / HOUR_MS) * HOUR_MS)
const dayStart = (ms: number) => new Date(Math.floor(ms / DAY_MS) * DAY_MS)

/** Aggregate refreshes a notification caused (the periodic refresh alone refreshes the aggregates). */
const aggregateRefreshesFromNotifications = () =>
  recorder.refreshes
    .filter((e) => e.object !== 'location_history' && e.trigger === 'notification')
    .map((e) => [e.object, e.outcome])

function historyOf(trackerId: string) {
  return database.db
    .selectFrom('location_history')
    .select(['bucket_size', 'timestamp', 'latitude', 'report_count'])
    .where('tracker_id', '=', trackerId)
    .orderBy('timestamp')
    .execute()
}

describe('the refresher on TimescaleDB', () => {
  it('at start refreshes hourly (48 h), then daily (7 days), then location_history, under the in-process lock', async () => {
    expect(refresher.history.aggregates.enabled).toBe(true)
    const periodic = recorder.refreshes.filter((e) => e.trigger === 'periodic')
    expect(periodic.map((e) => [e.object, e.outcome])).toEqual([
      ['location_history_hourly', 'refreshed'],
      ['location_history_daily', 'refreshed'],
      ['location_history', 'refreshed'],
    ])
    const [hourly, daily] = periodic
    const reach = (e: typeof hourly) => e!.window!.to.getTime() - e!.window!.from.getTime()
    // The configured window in whole buckets, ending where the current hour starts (that hour
    // fills in real time: materializing it would make every report in it late).
    expect(reach(hourly)).toBeGreaterThan(DEFAULT_RETENTION.hourlyRefreshWindowMs - 2 * HOUR_MS)
    expect(reach(hourly)).toBeLessThanOrEqual(DEFAULT_RETENTION.hourlyRefreshWindowMs)
    expect(hourly!.window!.to.getTime()).toBe(Math.floor(hourly!.finishedAt.getTime() / HOUR_MS) * HOUR_MS)
    expect(daily!.window!.from).toEqual(
      periodicRefreshWindow(DEFAULT_RETENTION, DAILY_TIER, daily!.finishedAt)!.from,
    )
    expect(refresher.health()).toMatchObject({
      status: 'ok',
      aggregates: 'enabled',
      periodic: { lockBackend: 'in-process', lastRefreshStore: 'memory' },
      refreshes: {
        location_history: { lastSuccessAt: expect.any(String) },
        location_history_hourly: { lastSuccessAt: expect.any(String) },
        location_history_daily: { lastSuccessAt: expect.any(String) },
      },
    })
    expect(await refresher.checkPeriodic()).toBe('not_due')
  })

  it('a report inserted (the insert notifies) appears in location_history', async () => {
    const tracker = await insertTracker(database.db)
    const at = new Date(Date.now() - 10 * 60_000)
    await database.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, at))
      .execute()
    await expect
      .poll(() => historyOf(tracker.id), { timeout: 10_000 })
      .toEqual([
        { bucket_size: '1 hour', timestamp: hourStart(at.getTime()), latitude: 52.52, report_count: 1 },
      ])
  })

  it('a late report below the hourly watermark appears at once, not at the next hourly refresh, refreshing no aggregate', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const hour = hourStart(Date.now() - 3 * HOUR_MS)
    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour.getTime() + 5 * 60_000), { latitude: 10 }))
      .execute()
    await expect.poll(() => historyOf(tracker.id), { timeout: 10_000 }).toHaveLength(1)
    // Materialize that hour: from now on, rows arriving for it are below the watermark.
    await sql`CALL refresh_continuous_aggregate('location_history_hourly', ${hour.toISOString()}::timestamptz, ${new Date(hour.getTime() + HOUR_MS).toISOString()}::timestamptz)`.execute(
      database.db,
    )
    const watermark = await aggregateWatermark(database.db, 'location_history_hourly')
    expect(watermark!.getTime()).toBeGreaterThan(hour.getTime())

    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour.getTime() + 40 * 60_000), { latitude: 20 }))
      .execute()
    await expect
      .poll(() => historyOf(tracker.id), { timeout: 10_000 })
      .toEqual([{ bucket_size: '1 hour', timestamp: hour, latitude: 20, report_count: 2 }])
    // Only location_history was kept for it: a refresh of that hour would recompute it for every tracker.
    expect(aggregateRefreshesFromNotifications()).toEqual([])
  })

  it('a late report days old, below the daily watermark, appears at once in the daily tier, refreshing no aggregate', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const day = dayStart(Date.now() - 3 * DAY_MS)
    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(day.getTime() + 2 * HOUR_MS), { latitude: 30 }))
      .execute()
    await expect.poll(() => historyOf(tracker.id), { timeout: 10_000 }).toHaveLength(1)
    await sql`CALL refresh_continuous_aggregate('location_history_daily', ${day.toISOString()}::timestamptz, ${new Date(day.getTime() + DAY_MS).toISOString()}::timestamptz)`.execute(
      database.db,
    )

    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(day.getTime() + 9 * HOUR_MS), { latitude: 40 }))
      .execute()
    await expect
      .poll(() => historyOf(tracker.id), { timeout: 10_000 })
      .toEqual([{ bucket_size: '1 day', timestamp: day, latitude: 40, report_count: 2 }])
    expect(aggregateRefreshesFromNotifications()).toEqual([])
  })

  it('refresh-all refreshes hourly, daily and location_history once', async () => {
    const result = await refreshAll({
      database,
      retention: DEFAULT_RETENTION,
      statementTimeoutMs: 60_000,
      logger: testLogger,
    })
    expect(result.ok).toBe(true)
    expect(result.events.map((e) => e.object)).toEqual([
      'location_history_hourly',
      'location_history_daily',
      'location_history',
    ])
    expect(result.events.every((e) => e.outcome === 'refreshed' || e.outcome === 'skipped_concurrent')).toBe(
      true,
    )
  })

  it('check finds what differs between location_history and the aggregates; rebuild repairs it', async () => {
    const options = { database, retention: DEFAULT_RETENTION, statementTimeoutMs: 60_000, logger: testLogger }
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const at = [Date.now() - 2 * HOUR_MS, Date.now() - 4 * DAY_MS]
    await database.db
      .insertInto('location_reports')
      .values(at.map((t) => reportRow(key, new Date(t))))
      .execute()
    await expect.poll(() => historyOf(tracker.id), { timeout: 10_000 }).toHaveLength(2)
    await expect.poll(() => refresher.health().refreshing).toBe(false)
    expect((await check(options)).ok).toBe(true)

    // Damage it as a stray hand-written statement would.
    await sql`UPDATE location_history SET latitude = 0 WHERE tracker_id = ${tracker.id} AND bucket_size = '1 day'`.execute(
      database.db,
    )
    await sql`DELETE FROM location_history WHERE tracker_id = ${tracker.id} AND bucket_size = '1 hour'`.execute(
      database.db,
    )
    const found = await check(options)
    expect(found.ok).toBe(false)
    expect(found.differences!.map((d) => [d.kind, d.trackerId, d.bucketSize])).toEqual([
      ['different', tracker.id, '1 day'],
      ['missing', tracker.id, '1 hour'],
    ])
    expect(found.differences![0]!.expected).toMatchObject({ latitude: 52.52 })
    expect(found.differences![0]!.stored).toMatchObject({ latitude: 0 })

    const repaired = await rebuild(options)
    expect(repaired.ok).toBe(true)
    expect(repaired.events.at(-1)?.rows).toMatchObject({ written: 2, removed: 0 })
    expect((await check(options)).ok).toBe(true)
  })
})
