import { DEFAULT_RETENTION, silentLogger, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  aggregateWatermark,
  ChangeSet,
  HistoryEngine,
  HOURLY_TIER_REACH_MS,
  hourlyTierStart,
  type RefreshEvent,
  selectHistory,
  WHOLE_HISTORY,
} from '../src/index.ts'
import {
  context,
  DAY_MS,
  dayStart,
  HOUR_MS,
  historyRows,
  hourStart,
  notificationFeed,
  openEngine,
  rowVersions,
  settle,
} from './helpers/engine-harness.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const historyOf = (trackerId: string) => historyRows(database, trackerId)

/** A tracker with one report an hour over the last `hours` hours (at minute 20). */
async function trackerWithHours(hours: number, now = Date.now()) {
  const tracker = await insertTracker(database.db)
  const key = tracker.hashedAdvKeys[0]!
  const rows = Array.from({ length: hours }, (_, i) =>
    reportRow(key, new Date(hourStart(now) - i * HOUR_MS + 20 * 60_000 - (i === 0 ? 30 * 60_000 : 0)), {
      latitude: 50 + i / 100,
    }),
  ).filter((r) => (r.timestamp as Date).getTime() <= now)
  await database.db.insertInto('location_reports').values(rows).execute()
  return { ...tracker, key, reports: rows.length }
}

describe('the tier boundary', () => {
  it('is midnight UTC of the day holding now - 24 h: the last 24 hours are hourly, a day is never split', () => {
    const at = (iso: string) => hourlyTierStart(new Date(iso)).toISOString()
    expect(at('2026-11-29T18:30:00Z')).toBe('2026-11-28T00:00:00.000Z')
    expect(at('2026-11-29T00:00:00Z')).toBe('2026-11-28T00:00:00.000Z')
    expect(at('2026-11-28T23:59:59Z')).toBe('2026-11-27T00:00:00.000Z')
    for (let h = 0; h < 72; h += 0.5) {
      const now = new Date(Date.UTC(2026, 10, 29) + h * HOUR_MS)
      const start = hourlyTierStart(now).getTime()
      expect(now.getTime() - start).toBeGreaterThanOrEqual(24 * HOUR_MS)
      expect(now.getTime() - start).toBeLessThan(HOURLY_TIER_REACH_MS)
      expect(start % DAY_MS).toBe(0)
    }
  })

  it('is the same rule as the database view location_history_view (location_history_tier_start)', async () => {
    const instants = Array.from(
      { length: 200 },
      (_, i) => new Date(Date.UTC(2026, 0, 1) + i * 7 * HOUR_MS + i * 61_000),
    )
    const { rows } = await sql<{ at: Date; start: Date }>`
      SELECT at, location_history_tier_start(at) AS start
        FROM unnest(${instants.map((d) => d.toISOString())}::timestamptz[]) AS at`.execute(database.db)
    for (const row of rows) expect(row.start.toISOString()).toBe(hourlyTierStart(row.at).toISOString())
  })
})

describe('incremental upkeep of location_history', () => {
  it('builds the table on the first upkeep, in the tiers, equal to what the aggregates say', async () => {
    const { engine } = await openEngine(database)
    const tracker = await trackerWithHours(60)
    await engine.upkeep([], context())
    const rows = await historyOf(tracker.id)
    const tierStart = engine.tierStart()
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) {
      expect(row.bucket_size).toBe(row.timestamp >= tierStart ? '1 hour' : '1 day')
    }
    // Every report counted exactly once across the tiers.
    expect(rows.reduce((n, r) => n + Number(r.report_count), 0)).toBe(tracker.reports)
    expect(await engine.check()).toEqual([])
  })

  it("a change for one tracker rewrites only that tracker's rows, and only those that differ", async () => {
    const { engine } = await openEngine(database)
    const feed = await notificationFeed(database)
    try {
      const a = await trackerWithHours(30)
      const b = await trackerWithHours(30)
      await settle(database, feed)
      await engine.applyChanges(feed.take(), context('notification'))
      expect(await engine.check()).toEqual([])
      const before = { a: await rowVersions(database, a.id), b: await rowVersions(database, b.id) }

      const late = new Date(hourStart(Date.now()) - 5 * HOUR_MS + 50 * 60_000)
      await database.db
        .insertInto('location_reports')
        .values(reportRow(a.key, late, { latitude: 10, longitude: 20, nearest_city: 'Elsewhere' }))
        .execute()
      await settle(database, feed)
      const changes = feed.take()
      expect(changes.trackers()).toEqual([a.id])
      await engine.applyChanges(changes, context('notification'))

      const after = { a: await rowVersions(database, a.id), b: await rowVersions(database, b.id) }
      expect(after.b).toEqual(before.b)
      const rewritten = [...after.a]
        .filter(([key, version]) => before.a.get(key) !== version)
        .map(([key]) => key)
      expect(rewritten).toHaveLength(1)
      expect(rewritten[0]).toContain(
        new Date(hourStart(late.getTime())).toISOString().slice(0, 13).replace('T', ' '),
      )
      const hour = (await historyOf(a.id)).find((r) => r.timestamp.getTime() === hourStart(late.getTime()))
      expect(hour).toMatchObject({ latitude: 10, longitude: 20, nearest_city: 'Elsewhere', report_count: 2 })
      expect(await engine.check()).toEqual([])
    } finally {
      await feed.close()
    }
  })

  it('a late report below the watermarks reaches location_history at once; the aggregates get it at the periodic refresh, not per change', async () => {
    const events: RefreshEvent[] = []
    const engine = await HistoryEngine.open({
      database,
      retention: DEFAULT_RETENTION,
      logger: silentLogger,
      observers: [{ onRefresh: (e) => events.push(e) }],
    })
    const feed = await notificationFeed(database)
    try {
      const a = await trackerWithHours(40)
      const b = await trackerWithHours(40)
      await engine.refreshPeriodic(context('periodic'))
      await settle(database, feed)
      await engine.applyChanges(feed.take(), context('notification'))
      expect(await engine.check(WHOLE_HISTORY, null, 1000, 'materialized')).toEqual([])
      const watermark = await aggregateWatermark(database.db, 'location_history_hourly')
      // Three hours old: below the hourly watermark, inside the hourly tier at any time of day.
      const late = new Date(hourStart(Date.now()) - 3 * HOUR_MS + 45 * 60_000)
      expect(late < watermark!).toBe(true)

      await database.db
        .insertInto('location_reports')
        .values(reportRow(a.key, late, { latitude: -33, longitude: 151, nearest_city: 'Sydney, AU' }))
        .execute()
      await settle(database, feed)
      const seen = events.length
      await engine.applyChanges(feed.take(), context('notification'))
      // Only location_history's upkeep ran: refreshing the aggregates' hour and day would have
      // recomputed them for every tracker.
      expect(events.slice(seen).map((e) => [e.object, e.outcome])).toEqual([
        ['location_history', 'refreshed'],
      ])
      const point = (await historyOf(a.id)).find((r) => r.timestamp.getTime() === hourStart(late.getTime()))
      expect(point).toMatchObject({
        latitude: -33,
        longitude: 151,
        nearest_city: 'Sydney, AU',
        report_count: 2,
      })
      expect(await engine.check()).toEqual([])
      // Daily answers over the hourly tier's days see it too (rolled up from the hours).
      for (const bucketSize of ['1 hour', '1 day'] as const) {
        const points = await selectHistory(database.db, {
          trackerId: a.id,
          from: new Date(Date.now() - 3 * DAY_MS),
          to: new Date(),
          bucketSize,
          tierStart: engine.tierStart(),
          limit: 1000,
        })
        expect(points.reduce((n, p) => n + Number(p.report_count), 0)).toBe(a.reports + 1)
        if (bucketSize === '1 hour') expect(points.some((p) => p.latitude === -33)).toBe(true)
      }
      // The aggregates lag until the periodic refresh, which recomputes what the invalidation log names.
      const lagging = await engine.check(WHOLE_HISTORY, null, 1000, 'materialized')
      expect(lagging.map((d) => [d.trackerId, d.kind, d.timestamp.getTime()])).toEqual([
        [a.id, 'different', hourStart(late.getTime())],
      ])
      await engine.refreshPeriodic(context('periodic'))
      expect(await engine.check(WHOLE_HISTORY, null, 1000, 'materialized')).toEqual([])
      expect(await engine.check(WHOLE_HISTORY, [b.id])).toEqual([])
    } finally {
      await feed.close()
    }
  })

  it("moves the tier boundary by a day: that day's hours give way to one daily point, incrementally", async () => {
    const { engine, clock } = await openEngine(database)
    const tracker = await trackerWithHours(40)
    await engine.upkeep([{ window: WHOLE_HISTORY, trackers: [tracker.id] }], context())
    const oldStart = engine.tierStart()
    const untouchedBefore = await rowVersions(database, tracker.id)

    clock.advance(DAY_MS)
    const result = await engine.upkeep([], context('periodic'))
    expect(result.tierMoved).toBe(true)
    const newStart = engine.tierStart()
    expect(newStart.getTime() - oldStart.getTime()).toBe(DAY_MS)
    const rows = await historyOf(tracker.id)
    expect(rows.filter((r) => r.timestamp >= oldStart && r.timestamp < newStart)).toEqual([
      expect.objectContaining({ bucket_size: '1 day', timestamp: oldStart }),
    ])
    expect(rows.reduce((n, r) => n + Number(r.report_count), 0)).toBe(tracker.reports)
    // Rows outside the day that changed tier were not rewritten.
    const after = await rowVersions(database, tracker.id)
    for (const [key, version] of after) {
      const at = new Date(`${key.slice(key.indexOf(' ') + 1).replace(' ', 'T')}`)
      if (!(at >= oldStart && at < newStart) && untouchedBefore.has(key))
        expect(version).toBe(untouchedBefore.get(key))
    }
    expect(await engine.check()).toEqual([])
    // And a second upkeep the same day has nothing to do.
    expect(await engine.upkeep([], context())).toMatchObject({ written: 0, removed: 0, tierMoved: false })
  })

  it("keeps the seed's SQL working: location_history by name, joined with trackers", async () => {
    const { engine } = await openEngine(database)
    const tracker = await trackerWithHours(3)
    await engine.upkeep(
      [
        {
          window: {
            from: new Date(dayStart(Date.now()) - DAY_MS),
            to: new Date(dayStart(Date.now()) + DAY_MS),
          },
          trackers: [tracker.id],
        },
      ],
      context(),
    )
    const { rows } = await sql<{ tracker_name: string; latitude: number; timestamp: Date }>`
      SELECT t.name AS tracker_name, lh."timestamp", lh.latitude, lh.nearest_city
        FROM location_history lh JOIN trackers t ON t.id = lh.tracker_id
       WHERE t.id = ${tracker.id}
       ORDER BY lh."timestamp" DESC LIMIT 10`.execute(database.db)
    expect(rows[0]).toMatchObject({ tracker_name: tracker.name })
    const { rows: any } =
      await sql`SELECT * FROM location_history ORDER BY "timestamp" DESC LIMIT 10`.execute(database.db)
    expect(any.length).toBeGreaterThan(0)
  })
})

describe('the read query', () => {
  it('counts every report in exactly one point and returns points in time order, for "1 hour" and "1 day"', async () => {
    const { engine } = await openEngine(database)
    const tracker = await trackerWithHours(70)
    await engine.upkeep([{ window: WHOLE_HISTORY, trackers: [tracker.id] }], context())
    const from = new Date(Date.now() - 4 * DAY_MS)
    const to = new Date(Date.now() + HOUR_MS)
    for (const bucketSize of ['1 hour', '1 day'] as const) {
      const rows = await selectHistory(database.db, {
        trackerId: tracker.id,
        from,
        to,
        bucketSize,
        tierStart: engine.tierStart(),
        limit: 1000,
      })
      expect(rows.reduce((n, r) => n + Number(r.report_count), 0)).toBe(tracker.reports)
      for (let i = 1; i < rows.length; i++) {
        expect(rows[i]!.timestamp.getTime()).toBeGreaterThan(rows[i - 1]!.timestamp.getTime())
        expect(rows[i]!.first_report_at.getTime()).toBeGreaterThan(rows[i - 1]!.last_report_at.getTime())
      }
    }
  })
})

describe('change sets', () => {
  it('keep one window per tracker and group trackers by day windows', () => {
    const changes = new ChangeSet()
    const day = (d: number) => new Date(Date.UTC(2026, 10, d))
    changes.add({ window: { from: day(20), to: new Date(day(20).getTime() + HOUR_MS) }, trackers: ['a'] })
    changes.add({ window: { from: day(28), to: new Date(day(28).getTime() + HOUR_MS) }, trackers: ['b'] })
    changes.add({ window: { from: day(20), to: new Date(day(20).getTime() + 2 * HOUR_MS) }, trackers: ['c'] })
    expect(changes.targets()).toEqual([
      { window: { from: day(20), to: day(21) }, trackers: ['a', 'c'] },
      { window: { from: day(28), to: day(29) }, trackers: ['b'] },
    ])
  })
})
