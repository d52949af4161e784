import { randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DAY_MS,
  type Database,
  HOUR_MS,
  type NewLocationReport,
  REFRESH_REQUEST_CHANNEL,
} from '../src/index.ts'
import { createTestDatabase, hashedAdvKey, reportRow, type TestDatabase } from '../src/testing/index.ts'

// update_nearest_city and migrate_nearest_city_data on compressed chunks, with the session's
// decompression limit far below the data they rewrite. The embedded engine enforces the limit like
// a server does (the control test shows it); on a server the same tests run in a fresh database.

const LIMIT_SETTING = 'timescaledb.max_tuples_decompressed_per_dml_transaction'
const LOW_LIMIT = 50

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
  // A server's scheduler would run the compression policy on its own and recompress what a test
  // has just decompressed; the tests compress explicitly instead.
  await sql`SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL`.execute(
    database.db,
  )
})
afterAll(() => database?.close())

const dayStart = (ms: number) => new Date(Math.floor(ms / DAY_MS) * DAY_MS)
const hourStart = (d: Date) => new Date(Math.floor(d.getTime() / HOUR_MS) * HOUR_MS)
const plusMinutes = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000)

// Three daily chunks old enough to be compressed, and a recent one that stays uncompressed.
const now = Date.now()
const day0 = dayStart(now - 7 * DAY_MS)
const day1 = new Date(day0.getTime() + DAY_MS)
const day2 = new Date(day0.getTime() + 2 * DAY_MS)
const recent = new Date(now - DAY_MS)

/** `count` reports of one key spread evenly over a day, the first `offset` minutes in (offset < step). */
function dayOfReports(
  key: string,
  day: Date,
  count: number,
  overrides: Partial<NewLocationReport> = {},
  offset = 5,
): NewLocationReport[] {
  const step = Math.floor((24 * 60) / count)
  return Array.from({ length: count }, (_, i) =>
    reportRow(key, plusMinutes(day, offset + i * step), overrides),
  )
}

async function compressOldChunks() {
  await sql`SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('location_reports', older_than => now() - interval '4 days') c`.execute(
    database.db,
  )
}

async function chunks() {
  const { rows } = await sql<{
    chunk_schema: string
    chunk_name: string
    range_start: Date
    is_compressed: boolean
  }>`
    SELECT chunk_schema, chunk_name, range_start, is_compressed FROM timescaledb_information.chunks
     WHERE hypertable_name = 'location_reports' ORDER BY range_start`.execute(database.db)
  return rows
}

/**
 * Per tracker, on which of the three compressed days some of its rows have been decompressed (an
 * UPDATE moves whole batches into the chunk's own table, which ONLY reads alone).
 */
async function decompressedDays(trackers: Record<string, Tracker>): Promise<Record<string, boolean[]>> {
  const found = new Set<string>()
  for (const chunk of await chunks()) {
    if (!chunk.is_compressed) continue
    const { rows } = await sql<{ tracker_id: string }>`
      SELECT DISTINCT tracker_id FROM ONLY ${sql.id(chunk.chunk_schema, chunk.chunk_name)}`.execute(
      database.db,
    )
    for (const row of rows) found.add(`${chunk.range_start.toISOString()} ${row.tracker_id}`)
  }
  return Object.fromEntries(
    Object.entries(trackers).map(([name, t]) => [
      name,
      [day0, day1, day2].map((day) => found.has(`${day.toISOString()} ${t.id}`)),
    ]),
  )
}
const NONE = [false, false, false]

interface Tracker {
  id: string
  hashedAdvKeys: string[]
}

/** Trackers with the given keys (insertTracker makes random ones). */
async function insertTrackers(keysOfEach: string[][]): Promise<Tracker[]> {
  const trackers = await database.db
    .insertInto('trackers')
    .values(keysOfEach.map((_, i) => ({ name: `tracker ${i}` })))
    .returning('id')
    .execute()
  const keys = trackers.flatMap((t, i) =>
    keysOfEach[i]!.map((key) => ({
      tracker_id: t.id,
      hashed_adv_key: key,
      private_key_encrypted: Buffer.from('not-a-real-sealed-key-used-in-tests'),
    })),
  )
  await database.db.insertInto('tracker_keys').values(keys).execute()
  return trackers.map((t, i) => ({ id: t.id, hashedAdvKeys: keysOfEach[i]! }))
}

const rowKey = (key: string, at: Date) => `${key} ${at.toISOString()}`

/** Every report's city, by key and time. */
async function cities(): Promise<Map<string, string | null>> {
  const rows = await database.db
    .selectFrom('location_reports')
    .select(['hashed_adv_key', 'timestamp', 'nearest_city'])
    .execute()
  return new Map(rows.map((r) => [rowKey(r.hashed_adv_key, r.timestamp), r.nearest_city]))
}

function changes(before: Map<string, string | null>, after: Map<string, string | null>) {
  return new Map([...after].filter(([key, city]) => before.get(key) !== city))
}

/** Runs `fn` on one session whose decompression limit is LOW_LIMIT. */
function withLowLimit<T>(fn: (session: Kysely<Database>) => Promise<T>): Promise<T> {
  return database.withSession(async (session) => {
    await sql`SELECT set_config(${LIMIT_SETTING}, ${String(LOW_LIMIT)}, false)`.execute(session)
    try {
      return await fn(session)
    } finally {
      await sql`RESET ${sql.raw(LIMIT_SETTING)}`.execute(session)
    }
  })
}

async function sessionLimit(session: Kysely<Database>) {
  const { rows } = await sql<{ limit: string }>`SELECT current_setting(${LIMIT_SETTING}) AS limit`.execute(
    session,
  )
  return Number(rows[0]!.limit)
}

interface RefreshRequest {
  from: string
  to: string
  trackers?: string[]
  reason?: string
}

/** What `fn` asked the refresher for on behalf of nearest_city (a marker closes the wait). */
async function nearestCityRequests<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; requests: RefreshRequest[] }> {
  const payloads: string[] = []
  const marker = `marker-${randomUUID()}`
  const listener = await database.listen(REFRESH_REQUEST_CHANNEL, { onNotification: (p) => payloads.push(p) })
  try {
    const result = await fn()
    await sql`SELECT pg_notify(${REFRESH_REQUEST_CHANNEL}, ${marker})`.execute(database.db)
    await expect.poll(() => payloads).toContain(marker)
    const requests = payloads
      .filter((p) => p !== marker)
      .map((p) => JSON.parse(p) as RefreshRequest)
      .filter((r) => r.reason === 'nearest_city')
    return { result, requests }
  } finally {
    await listener.close()
  }
}

/** One request, naming `trackers` (none: every tracker), for the hours that hold `times`. */
function expectOneRequest(requests: RefreshRequest[], trackers: string[] | undefined, times: Date[]) {
  const ms = times.map((t) => t.getTime())
  expect(requests).toHaveLength(1)
  expect(requests[0]!.trackers).toEqual(trackers)
  expect({ from: new Date(requests[0]!.from), to: new Date(requests[0]!.to) }).toEqual({
    from: hourStart(new Date(Math.min(...ms))),
    to: new Date(hourStart(new Date(Math.max(...ms))).getTime() + HOUR_MS),
  })
}

async function updateNearestCity(session: Kysely<Database>, key: string, from: Date, to: Date, city: string) {
  const { rows } = await sql<{ changed: number }>`
    SELECT update_nearest_city(${key}, ${from.toISOString()}::timestamptz, ${to.toISOString()}::timestamptz, ${city}) AS changed`.execute(
    session,
  )
  return rows[0]!.changed
}

async function migrateNearestCityData(session: Kysely<Database>) {
  const { rows } = await sql<{ changed: number }>`SELECT migrate_nearest_city_data() AS changed`.execute(
    session,
  )
  return rows[0]!.changed
}

describe('update_nearest_city on compressed chunks', () => {
  // A holds two keys and 60 reports a day: one tracker's segment in one chunk alone exceeds the limit.
  // B's two keys sort either side of A's first key, so the batches' min/max of hashed_adv_key (an
  // orderby column) do not rule B's batches out of an UPDATE by that key: they must stay compressed.
  let a: Tracker
  let b: Tracker
  let c: Tracker
  const reports: NewLocationReport[] = []

  beforeAll(async () => {
    const key = (char: string) => `${char.repeat(43)}=`
    ;[a, b, c] = (await insertTrackers([
      [key('M'), hashedAdvKey()],
      [key('A'), key('z')],
      [hashedAdvKey()],
    ])) as [Tracker, Tracker, Tracker]
    for (const day of [day0, day1, day2]) {
      reports.push(...dayOfReports(a.hashedAdvKeys[0]!, day, 30))
      reports.push(...dayOfReports(a.hashedAdvKeys[1]!, day, 30, {}, 29))
      reports.push(...dayOfReports(b.hashedAdvKeys[0]!, day, 15))
      reports.push(...dayOfReports(b.hashedAdvKeys[1]!, day, 15, {}, 29))
      reports.push(...dayOfReports(c.hashedAdvKeys[0]!, day, 30))
    }
    for (const key of [...a.hashedAdvKeys, ...b.hashedAdvKeys, c.hashedAdvKeys[0]!]) {
      reports.push(...Array.from({ length: 5 }, (_, i) => reportRow(key, plusMinutes(recent, i * 10))))
    }
    await database.db.insertInto('location_reports').values(reports).execute()
    await compressOldChunks()
  })

  it('the reports sit in compressed chunks, none of them decompressed', async () => {
    const byDay = new Map((await chunks()).map((ch) => [ch.range_start.toISOString(), ch.is_compressed]))
    expect([day0, day1, day2].map((d) => byDay.get(d.toISOString()))).toEqual([true, true, true])
    expect(byDay.get(dayStart(recent.getTime()).toISOString())).toBe(false)
    expect(await decompressedDays({ a, b, c })).toEqual({ a: NONE, b: NONE, c: NONE })
  })

  it(`(control) with the limit at ${LOW_LIMIT}, the old bodies' single statements fail on this engine`, async () => {
    const before = await cities()
    await withLowLimit(async (session) => {
      expect(await sessionLimit(session)).toBe(LOW_LIMIT)
      // The old update_nearest_city: by key only, so A's batches and B's in the window.
      await expect(
        sql`UPDATE location_reports SET nearest_city = 'Potsdam, DE'
             WHERE hashed_adv_key = ${a.hashedAdvKeys[0]!}
               AND "timestamp" BETWEEN ${day1.toISOString()}::timestamptz AND ${day2.toISOString()}::timestamptz
               AND nearest_city IS DISTINCT FROM 'Potsdam, DE'`.execute(session),
      ).rejects.toThrow(/tuple decompression limit exceeded/)
      // The old migrate_nearest_city_data: the whole hypertable in one statement.
      await expect(
        sql`UPDATE location_reports SET nearest_city = 'Nowhere' WHERE nearest_city IS NULL`.execute(session),
      ).rejects.toThrow(/tuple decompression limit exceeded/)
    })
    expect(changes(before, await cities())).toEqual(new Map())
  })

  it('(engine) the limit counts what one statement decompresses, not what the transaction does', async () => {
    await withLowLimit(async (session) => {
      await sql`BEGIN`.execute(session)
      try {
        // 30 rows each, 60 together: over the limit only as a transaction.
        for (const tracker of [b, c]) {
          const result = await sql`
            UPDATE location_reports SET nearest_city = 'Potsdam, DE'
             WHERE tracker_id = ${tracker.id}
               AND "timestamp" >= ${day1.toISOString()}::timestamptz AND "timestamp" < ${day2.toISOString()}::timestamptz`.execute(
            session,
          )
          expect(result.numAffectedRows).toBe(30n)
        }
      } finally {
        await sql`ROLLBACK`.execute(session)
      }
    })
  })

  it('changes only that key’s rows in the window, decompresses only that tracker’s segments there, and asks for that tracker and window', async () => {
    const key = a.hashedAdvKeys[0]!
    const from = plusMinutes(day1, 5 * 60)
    const to = plusMinutes(day2, 12 * 60 + 5) // exactly a report: the window includes its ends
    const expected = reports
      .filter((r) => r.hashed_adv_key === key && r.timestamp >= from && r.timestamp <= to)
      .map((r) => r.timestamp as Date)
    expect(expected.at(-1)).toEqual(to)
    const before = await cities()

    const { result, requests } = await nearestCityRequests(() =>
      withLowLimit(async (session) => {
        const changed = await updateNearestCity(session, key, from, to, 'Potsdam, DE')
        // The function's own setting ends with it.
        expect(await sessionLimit(session)).toBe(LOW_LIMIT)
        return changed
      }),
    )

    expect(result).toBe(expected.length)
    expect(changes(before, await cities())).toEqual(
      new Map(expected.map((at) => [rowKey(key, at), 'Potsdam, DE'])),
    )
    expectOneRequest(requests, [a.id], expected)
    expect(await decompressedDays({ a, b, c })).toEqual({ a: [false, true, true], b: NONE, c: NONE })
  })

  it('changes nothing and asks for nothing when the rows already have that city', async () => {
    const before = await cities()
    const { result, requests } = await nearestCityRequests(() =>
      withLowLimit((session) =>
        updateNearestCity(
          session,
          a.hashedAdvKeys[0]!,
          plusMinutes(day1, 5 * 60),
          plusMinutes(day2, 12 * 60 + 5),
          'Potsdam, DE',
        ),
      ),
    )
    expect(result).toBe(0)
    expect(requests).toEqual([])
    expect(changes(before, await cities())).toEqual(new Map())
  })

  it('the seed’s single-timestamp form changes that one report in a compressed chunk', async () => {
    const key = a.hashedAdvKeys[1]!
    const at = plusMinutes(day0, 29 + 10 * 48)
    const before = await cities()
    const { result, requests } = await nearestCityRequests(() =>
      withLowLimit(async (session) => {
        const { rows } = await sql<{ changed: number }>`
          SELECT update_nearest_city(${key}, ${at.toISOString()}::timestamptz, 'Spandau, DE') AS changed`.execute(
          session,
        )
        return rows[0]!.changed
      }),
    )
    expect(result).toBe(1)
    expect(changes(before, await cities())).toEqual(new Map([[rowKey(key, at), 'Spandau, DE']]))
    expectOneRequest(requests, [a.id], [at])
  })
})

describe('migrate_nearest_city_data on compressed chunks', () => {
  const barcelona = { latitude: 41.3874, longitude: 2.1686 }
  const girona = { latitude: 41.9794, longitude: 2.8214 }
  const unknownPlace = { latitude: 10.5, longitude: 20.5 }

  it('fills missing cities from the latest geocoded report at the same place, segment by segment, and asks for the window and the trackers it changed', async () => {
    const [dKey, eKey, fKey, gKey] = [hashedAdvKey(), hashedAdvKey(), hashedAdvKey(), hashedAdvKey()]
    const [d, e, f, g] = (await insertTrackers([[dKey], [eKey], [fKey], [gKey]])) as [
      Tracker,
      Tracker,
      Tracker,
      Tracker,
    ]
    const rows = [
      // Barcelona geocoded twice: the later city name wins.
      ...dayOfReports(dKey, day0, 30, { ...barcelona, nearest_city: 'Barcelona, ES' }),
      ...dayOfReports(eKey, day2, 10, { ...barcelona, nearest_city: 'Barcelona, Spain' }),
      ...dayOfReports(dKey, day2, 30, { ...girona, nearest_city: 'Girona, ES' }),
      ...dayOfReports(gKey, day1, 30, { ...girona, nearest_city: 'Girona, ES' }),
      // To fill: 60 in one segment of one chunk (over the limit on their own), and some in each tier.
      ...dayOfReports(dKey, day1, 60, { ...barcelona, nearest_city: null }, 2),
      ...dayOfReports(fKey, day0, 20, { ...barcelona, nearest_city: null }, 11),
      ...dayOfReports(fKey, day2, 3, { ...girona, nearest_city: null }, 13),
      ...Array.from({ length: 5 }, (_, i) =>
        reportRow(fKey, plusMinutes(recent, 3 + i * 10), { ...barcelona, nearest_city: null }),
      ),
      // No geocoded report there: stays without a city, and its segment is left compressed.
      ...dayOfReports(eKey, day1, 30, { ...unknownPlace, nearest_city: null }, 17),
    ]
    await database.db.insertInto('location_reports').values(rows).execute()
    await compressOldChunks()
    const before = await cities()
    expect(await decompressedDays({ d, e, f, g })).toEqual({ d: NONE, e: NONE, f: NONE, g: NONE })

    const { result, requests } = await nearestCityRequests(() => withLowLimit(migrateNearestCityData))

    const toFill = rows.filter((r) => r.nearest_city === null && r.latitude !== unknownPlace.latitude)
    const filled = (r: NewLocationReport) =>
      r.latitude === girona.latitude ? 'Girona, ES' : 'Barcelona, Spain'
    expect(result).toBe(toFill.length)
    expect(changes(before, await cities())).toEqual(
      new Map(toFill.map((r) => [rowKey(r.hashed_adv_key, r.timestamp as Date), filled(r)])),
    )
    expectOneRequest(
      requests,
      [d.id, f.id].sort(),
      toFill.map((r) => r.timestamp as Date),
    )
    // Only segments holding rows to fill: D's on day 1, F's on days 0 and 2 (F's recent rows are
    // not compressed); E's rows without a known place and G's geocoded ones stay compressed.
    expect(await decompressedDays({ d, e, f, g })).toEqual({
      d: [false, true, false],
      e: NONE,
      f: [true, false, true],
      g: NONE,
    })
  })

  it('names no trackers when more than 150 changed (every tracker in the window), and then finds nothing left', async () => {
    const helsinki = { latitude: 60.1699, longitude: 24.9384 }
    const keys = (await insertTrackers(Array.from({ length: 151 }, () => [hashedAdvKey()]))).map(
      (t) => t.hashedAdvKeys[0]!,
    )
    await database.db
      .insertInto('location_reports')
      .values([
        reportRow(keys[0]!, plusMinutes(recent, 1), { ...helsinki, nearest_city: 'Helsinki, FI' }),
        ...keys.map((key, i) =>
          reportRow(key, plusMinutes(recent, 2 + (i % 60)), { ...helsinki, nearest_city: null }),
        ),
      ])
      .execute()

    const first = await nearestCityRequests(() => withLowLimit(migrateNearestCityData))
    expect(first.result).toBe(151)
    expectOneRequest(first.requests, undefined, [plusMinutes(recent, 2), plusMinutes(recent, 61)])
    expect(Object.keys(first.requests[0]!).sort()).toEqual(['from', 'reason', 'to'])

    const again = await nearestCityRequests(() => withLowLimit(migrateNearestCityData))
    expect(again.result).toBe(0)
    expect(again.requests).toEqual([])
  })
})
