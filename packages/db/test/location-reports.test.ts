import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DAY_MS, HOUR_MS } from '../src/index.ts'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const hourStart = (d: Date) => new Date(Math.floor(d.getTime() / HOUR_MS) * HOUR_MS)
const dayStart = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS)

describe("inserts with only hashed_adv_key (the seed's manual test)", () => {
  it('an insert for a key no tracker has is refused with an error that says so', async () => {
    await expect(
      sql`INSERT INTO location_reports (hashed_adv_key, "timestamp", latitude, longitude) VALUES ('test_key', now(), 1, 1)`.execute(
        database.db,
      ),
    ).rejects.toThrow(/no tracker has a key with hashed_adv_key test_key/)
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
  it('an insert into location_reports notifies refresh_location_history with the hour and the tracker it touched', async () => {
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
    const change = JSON.parse(payloads[0]!) as { from: string; to: string; trackers: string[] }
    expect(new Date(change.from)).toEqual(hourStart(at))
    expect(new Date(change.to)).toEqual(new Date(hourStart(at).getTime() + HOUR_MS))
    expect(change.trackers).toEqual([tracker.id])
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
})
