import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DAY_MS,
  DEFAULT_RETENTION,
  HISTORY_REFRESHED_CHANNEL,
  HOUR_MS,
  refreshHistoryWindow,
} from '../src/index.ts'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const hourStart = (d: Date) => new Date(Math.floor(d.getTime() / HOUR_MS) * HOUR_MS)
const dayStart = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS)

async function historyOf(trackerId: string) {
  return database.db
    .selectFrom('location_history')
    .selectAll()
    .where('tracker_id', '=', trackerId)
    .orderBy('timestamp')
    .execute()
}

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
    const stored = await database.db
      .selectFrom('location_reports')
      .select('tracker_id')
      .where('hashed_adv_key', '=', key)
      .execute()
    expect(stored.map((r) => r.tracker_id)).toEqual([tracker.id, tracker.id])

    await sql`CALL refresh_continuous_aggregate('location_history_hourly', now() - interval '48 hours', now() + interval '1 hour')`.execute(
      database.db,
    )
    await sql`CALL refresh_continuous_aggregate('location_history_daily', now() - interval '7 days', now())`.execute(
      database.db,
    )
    await sql`REFRESH MATERIALIZED VIEW location_history`.execute(database.db)

    const history = await historyOf(tracker.id)
    expect(history).toEqual([
      expect.objectContaining({
        bucket_size: '1 day',
        timestamp: dayStart(older),
        latitude: 48.8566,
        longitude: 2.3522,
        nearest_city: 'Paris, FR',
        report_count: 1,
      }),
      expect.objectContaining({
        bucket_size: '1 hour',
        timestamp: hourStart(recent),
        latitude: 51.5074,
        longitude: -0.1278,
        nearest_city: 'London, GB',
        report_count: 1,
      }),
    ])
  })

  it('an insert for a key no tracker has is refused with an error that says so', async () => {
    await expect(
      sql`INSERT INTO location_reports (hashed_adv_key, "timestamp", latitude, longitude) VALUES ('test_key', now(), 1, 1)`.execute(
        database.db,
      ),
    ).rejects.toThrow(/no tracker has a key with hashed_adv_key test_key/)
  })
})

describe('bucket positions', () => {
  it('are the latest reported position in the bucket, never an average (across the antimeridian too)', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const base = hourStart(new Date(Date.now() - 5 * HOUR_MS))
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(key, new Date(base.getTime() + 5 * 60_000), {
          latitude: -17.8,
          longitude: 179.9,
          nearest_city: 'Suva, FJ',
          horizontal_accuracy: 5,
        }),
        reportRow(key, new Date(base.getTime() + 35 * 60_000), {
          latitude: -17.7,
          longitude: -179.9,
          nearest_city: 'Matei, FJ',
          horizontal_accuracy: 50,
        }),
      ])
      .execute()
    await refreshHistoryWindow(database, DEFAULT_RETENTION, {
      from: base,
      to: new Date(base.getTime() + HOUR_MS),
    })
    const [bucket] = await historyOf(tracker.id)
    expect(bucket).toMatchObject({
      timestamp: base,
      latitude: -17.7,
      longitude: -179.9,
      nearest_city: 'Matei, FJ',
      horizontal_accuracy: 50,
      best_accuracy: 5,
      report_count: 2,
    })
  })
})

describe('late reports into compressed chunks', () => {
  it('are stored once; inserting them again adds nothing', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const day = dayStart(new Date(Date.now() - 5 * DAY_MS))
    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(day.getTime() + HOUR_MS)))
      .execute()
    await sql`SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('location_reports', older_than => now() - interval '4 days') c`.execute(
      database.db,
    )
    const { rows: chunks } = await sql<{ is_compressed: boolean }>`
      SELECT is_compressed FROM timescaledb_information.chunks
       WHERE hypertable_name = 'location_reports' AND range_start <= ${day.toISOString()}::timestamptz AND range_end > ${day.toISOString()}::timestamptz`.execute(
      database.db,
    )
    expect(chunks).toEqual([{ is_compressed: true }])

    const late = reportRow(key, new Date(day.getTime() + 7 * HOUR_MS), {
      latitude: 40.4168,
      longitude: -3.7038,
    })
    const count = async () =>
      (
        await database.db
          .selectFrom('location_reports')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('tracker_id', '=', tracker.id)
          .executeTakeFirstOrThrow()
      ).n
    const first = await database.db
      .insertInto('location_reports')
      .values(late)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst()
    expect(first.numInsertedOrUpdatedRows).toBe(1n)
    expect(await count()).toBe(2)
    const again = await database.db
      .insertInto('location_reports')
      .values(late)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst()
    expect(again.numInsertedOrUpdatedRows).toBe(0n)
    expect(await count()).toBe(2)
    await expect(database.db.insertInto('location_reports').values(late).execute()).rejects.toThrow(
      /duplicate key/,
    )
  })
})

describe('update_nearest_city', () => {
  it('reaches location_history in both tiers once the refresh it asks for has run', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const recent = new Date(Date.now() - 3 * HOUR_MS)
    const older = new Date(Date.now() - 4 * DAY_MS)
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(key, recent, { nearest_city: null }),
        reportRow(key, older, { nearest_city: 'Berlin, DE' }),
      ])
      .execute()
    await refreshHistoryWindow(database, DEFAULT_RETENTION, { from: older, to: new Date() })

    const notifications: string[] = []
    const listener = await database.listen('refresh_location_history', {
      onNotification: (p) => notifications.push(p),
    })
    try {
      const { rows } = await sql<{
        changed: number
      }>`SELECT update_nearest_city(${key}, ${older.toISOString()}::timestamptz, now(), 'Potsdam, DE') AS changed`.execute(
        database.db,
      )
      expect(rows[0]!.changed).toBe(2)
      await expect.poll(() => notifications.length).toBeGreaterThan(0)
    } finally {
      await listener.close()
    }
    const asked = JSON.parse(notifications.at(-1)!) as { from: string; to: string; reason: string }
    expect(asked.reason).toBe('nearest_city')
    expect(new Date(asked.from).getTime()).toBeLessThanOrEqual(older.getTime())
    expect(new Date(asked.to).getTime()).toBeGreaterThan(recent.getTime())

    await refreshHistoryWindow(database, DEFAULT_RETENTION, {
      from: new Date(asked.from),
      to: new Date(asked.to),
    })
    const history = await historyOf(tracker.id)
    expect(history.map((h) => [h.bucket_size, h.nearest_city])).toEqual([
      ['1 day', 'Potsdam, DE'],
      ['1 hour', 'Potsdam, DE'],
    ])
  })

  it('migrate_nearest_city_data fills missing cities from geocoded reports at the same place', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const t = new Date(Date.now() - 6 * HOUR_MS)
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(key, t, { latitude: 41.3874, longitude: 2.1686, nearest_city: 'Barcelona, ES' }),
        reportRow(key, new Date(t.getTime() + 60_000), {
          latitude: 41.3871,
          longitude: 2.1689,
          nearest_city: null,
        }),
        reportRow(key, new Date(t.getTime() + 120_000), {
          latitude: 10.5,
          longitude: 20.5,
          nearest_city: null,
        }),
      ])
      .execute()
    const { rows } = await sql<{ changed: number }>`SELECT migrate_nearest_city_data() AS changed`.execute(
      database.db,
    )
    expect(rows[0]!.changed).toBe(1)
    const cities = await database.db
      .selectFrom('location_reports')
      .select('nearest_city')
      .where('tracker_id', '=', tracker.id)
      .orderBy('timestamp')
      .execute()
    expect(cities.map((c) => c.nearest_city)).toEqual(['Barcelona, ES', 'Barcelona, ES', null])
  })
})

describe('notifications', () => {
  it('an insert into location_reports notifies refresh_location_history with the hour it touched', async () => {
    const tracker = await insertTracker(database.db)
    const payloads: string[] = []
    const listener = await database.listen('refresh_location_history', {
      onNotification: (p) => payloads.push(p),
    })
    const at = new Date(Date.now() - 30 * 60_000)
    try {
      await database.db
        .insertInto('location_reports')
        .values(reportRow(tracker.hashedAdvKeys[0]!, at))
        .execute()
      await expect.poll(() => payloads.length).toBeGreaterThan(0)
    } finally {
      await listener.close()
    }
    const window = JSON.parse(payloads[0]!) as { from: string; to: string }
    expect(new Date(window.from)).toEqual(hourStart(at))
    expect(new Date(window.to)).toEqual(new Date(hourStart(at).getTime() + HOUR_MS))
  })

  it('a batch whose rows were all duplicates sends none', async () => {
    const tracker = await insertTracker(database.db)
    const row = reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 60_000))
    await database.db.insertInto('location_reports').values(row).execute()
    const payloads: string[] = []
    const listener = await database.listen('refresh_location_history', {
      onNotification: (p) => payloads.push(p),
    })
    try {
      await database.db
        .insertInto('location_reports')
        .values(row)
        .onConflict((oc) => oc.doNothing())
        .execute()
      await sql`SELECT pg_notify('refresh_location_history', 'marker')`.execute(database.db)
      await expect.poll(() => payloads).toContain('marker')
    } finally {
      await listener.close()
    }
    expect(payloads).toEqual(['marker'])
  })

  it('every refresh says so on location_history_refreshed, for readers that keep answers', async () => {
    const payloads: { object: string; from?: string; to?: string }[] = []
    const listener = await database.listen(HISTORY_REFRESHED_CHANNEL, {
      onNotification: (p) => payloads.push(JSON.parse(p)),
    })
    const now = new Date()
    try {
      await refreshHistoryWindow(database, DEFAULT_RETENTION, {
        from: new Date(now.getTime() - 2 * HOUR_MS),
        to: now,
      })
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
    expect(new Date(payloads[0]!.from!)).toEqual(hourStart(new Date(now.getTime() - 2 * HOUR_MS)))
  })
})
