import { HISTORY_REFRESHED_CHANNEL, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { HistoryEngine } from '../src/index.ts'
import {
  context,
  DAY_MS,
  dayStart,
  HOUR_MS,
  historyRows,
  hourStart,
  notificationFeed,
  openEngine,
  settle,
} from './helpers/engine-harness.ts'

// The seed's operations and the history's layers, end to end through the engine, as the refresher runs it.

let database: TestDatabase
let engine: HistoryEngine
let feed: Awaited<ReturnType<typeof notificationFeed>>
beforeAll(async () => {
  database = await createTestDatabase()
  ;({ engine } = await openEngine(database))
  feed = await notificationFeed(database)
})
afterAll(async () => {
  await feed?.close()
  await database?.close()
})

/** What the refresher does with what was announced: one batch through the engine. */
async function applyAnnounced() {
  await settle(database, feed)
  await engine.applyChanges(feed.take(), context('notification'))
}

const historyOf = (trackerId: string) => historyRows(database, trackerId)

describe('the seed manual test: a report inserted with only hashed_adv_key', () => {
  it('gets its tracker and reaches location_history in the right bucket, at a reported position, with its city', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const recent = new Date(Date.now() - 2 * HOUR_MS - 17 * 60_000)
    const older = new Date(Date.now() - 3 * DAY_MS)
    // As the seed's operators type it (no tracker_id; latitude/longitude instead of PostGIS).
    await sql`INSERT INTO location_reports (hashed_adv_key, "timestamp", latitude, longitude, confidence, nearest_city)
              VALUES (${key}, ${recent.toISOString()}::timestamptz, 51.5074, -0.1278, 100, 'London, GB'),
                     (${key}, ${older.toISOString()}::timestamptz, 48.8566, 2.3522, 100, 'Paris, FR')`.execute(
      database.db,
    )
    // The seed's refresh step, verbatim; the insert's notification does the rest.
    await sql`CALL refresh_continuous_aggregate('location_history_hourly', NOW() - INTERVAL '1 hour', NOW() + INTERVAL '1 hour')`.execute(
      database.db,
    )
    await applyAnnounced()

    // The seed's check, verbatim (latitude/longitude columns instead of PostGIS).
    const { rows } = await sql<Record<string, unknown>>`
      SELECT t.name AS tracker_name, lh."timestamp", lh.longitude, lh.latitude, lh.nearest_city
        FROM location_history lh JOIN trackers t ON t.id = lh.tracker_id
       ORDER BY lh."timestamp" DESC LIMIT 5`.execute(database.db)
    expect(rows[0]).toMatchObject({ tracker_name: tracker.name, nearest_city: 'London, GB' })

    expect(await historyOf(tracker.id)).toEqual([
      expect.objectContaining({
        bucket_size: '1 day',
        timestamp: new Date(dayStart(older.getTime())),
        latitude: 48.8566,
        longitude: 2.3522,
        nearest_city: 'Paris, FR',
        report_count: 1,
      }),
      expect.objectContaining({
        bucket_size: '1 hour',
        timestamp: new Date(hourStart(recent.getTime())),
        latitude: 51.5074,
        longitude: -0.1278,
        nearest_city: 'London, GB',
        report_count: 1,
      }),
    ])
  })
})

describe('bucket positions', () => {
  it('are the latest reported position in the bucket, never an average (across the antimeridian too)', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const base = hourStart(Date.now() - 5 * HOUR_MS)
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(key, new Date(base + 5 * 60_000), {
          latitude: -17.8,
          longitude: 179.9,
          nearest_city: 'Suva, FJ',
          horizontal_accuracy: 5,
        }),
        reportRow(key, new Date(base + 35 * 60_000), {
          latitude: -17.7,
          longitude: -179.9,
          nearest_city: 'Matei, FJ',
          horizontal_accuracy: 50,
        }),
      ])
      .execute()
    await applyAnnounced()
    const [bucket] = await historyOf(tracker.id)
    expect(bucket).toMatchObject({
      timestamp: new Date(base),
      latitude: -17.7,
      longitude: -179.9,
      nearest_city: 'Matei, FJ',
      horizontal_accuracy: 50,
      best_accuracy: 5,
      report_count: 2,
    })
  })
})

describe('update_nearest_city', () => {
  it('reaches location_history in both tiers through the change it announces', async () => {
    const tracker = await insertTracker(database.db)
    const other = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const recent = new Date(Date.now() - 3 * HOUR_MS)
    const older = new Date(Date.now() - 4 * DAY_MS)
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(key, recent, { nearest_city: null }),
        reportRow(key, older, { nearest_city: 'Berlin, DE' }),
        reportRow(other.hashedAdvKeys[0]!, older, { nearest_city: 'Berlin, DE' }),
      ])
      .execute()
    await applyAnnounced()
    // Materialized: the city change lies below both watermarks.
    await engine.refreshAggregates({ from: older, to: new Date() }, context())

    const { rows } = await sql<{
      changed: number
    }>`SELECT update_nearest_city(${key}, ${older.toISOString()}::timestamptz, now(), 'Potsdam, DE') AS changed`.execute(
      database.db,
    )
    expect(rows[0]!.changed).toBe(2)
    await settle(database, feed)
    const changes = feed.take()
    expect(changes.trackers()).toEqual([tracker.id])
    await engine.applyChanges(changes, context('notification'))
    expect((await historyOf(tracker.id)).map((h) => [h.bucket_size, h.nearest_city])).toEqual([
      ['1 day', 'Potsdam, DE'],
      ['1 hour', 'Potsdam, DE'],
    ])
    expect((await historyOf(other.id)).map((h) => h.nearest_city)).toEqual(['Berlin, DE'])
    expect(await engine.check()).toEqual([])
  })
})

describe('location_history_refreshed', () => {
  it('every refresh and every upkeep that changed rows says so, for readers that keep answers', async () => {
    const tracker = await insertTracker(database.db)
    const payloads: { object: string; from?: string; to?: string }[] = []
    const listener = await database.listen(HISTORY_REFRESHED_CHANNEL, {
      onNotification: (p) => payloads.push(JSON.parse(p)),
    })
    const now = new Date()
    try {
      await database.db
        .insertInto('location_reports')
        .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(now.getTime() - 90 * 60_000)))
        .execute()
      await engine.refreshWindow({ from: new Date(now.getTime() - 30 * HOUR_MS), to: now }, context())
      await expect.poll(() => payloads.length).toBe(3)
    } finally {
      await listener.close()
    }
    expect(payloads.map((p) => p.object)).toEqual([
      'location_history_hourly',
      'location_history_daily',
      'location_history',
    ])
    // The aggregates say which window they materialized (whole buckets).
    expect(new Date(payloads[0]!.from!)).toEqual(new Date(hourStart(now.getTime() - 30 * HOUR_MS)))
    // Complete buckets only: the hour and the day still filling are left to real-time aggregation.
    expect(new Date(payloads[0]!.to!)).toEqual(new Date(hourStart(now.getTime())))
    expect(new Date(payloads[1]!.to!)).toEqual(new Date(dayStart(now.getTime())))
  })
})
