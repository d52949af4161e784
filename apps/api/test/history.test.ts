import { insertTracker, reportRow } from '@tracker/db/testing'
import { refreshContinuousAggregate, hourlyTierStart as tierStartAt } from '@tracker/history'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, DAY, dayStart, HOUR, hourStart, rebuildHistory, type TestApi } from './helpers.ts'

// refreshLocationHistoryAggregates, which the refresher answers, is tested with a refresher in
// apps/stack/test/refresh-mutation.test.ts.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi()
})
afterAll(() => api?.close())

type Point = {
  timestamp: string
  resolution: 'HOUR' | 'DAY'
  bucketSize: string
  source: string
  reportCount: number
  location: { latitude: number; longitude: number }
  nearestCity: string | null
}

const POINT_FIELDS =
  'timestamp resolution bucketSize source reportCount nearestCity location { latitude longitude }'

async function insertReports(key: string, rows: { at: number; latitude?: number; city?: string }[]) {
  await api.database.db
    .insertInto('location_reports')
    .values(
      rows.map((r) =>
        reportRow(key, new Date(r.at), {
          latitude: r.latitude ?? 52.52,
          nearest_city: r.city ?? 'Berlin, DE',
        }),
      ),
    )
    .execute()
}

/** Materializes both aggregates over [from, to) and rebuilds location_history, as the refresher would. */
async function materialize(from: number, to: number) {
  await api.database.withSession(async (session) => {
    await refreshContinuousAggregate(session, 'location_history_hourly', {
      from: new Date(Math.max(from, hourStart(Date.now() - 48 * HOUR))),
      to: new Date(hourStart(to)),
    })
    await refreshContinuousAggregate(session, 'location_history_daily', {
      from: new Date(dayStart(from)),
      to: new Date(dayStart(to)),
    })
  })
  await rebuildHistory(api)
}

/** The start of the hourly tier now. */
async function hourlyTierStart(): Promise<number> {
  return tierStartAt(new Date()).getTime()
}

async function history(trackerId: string, from: number, to: number, bucketSize: string): Promise<Point[]> {
  const response = await api.gql(
    `query ($id: ID!, $from: DateTime!, $to: DateTime!, $size: String!) {
       locationHistoryAggregated(trackerId: $id, startTime: $from, endTime: $to, bucketSize: $size) { ${POINT_FIELDS} }
     }`,
    {
      variables: {
        id: trackerId,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        size: bucketSize,
      },
    },
  )
  expect(response.body.errors).toBeUndefined()
  return response.body.data!.locationHistoryAggregated as Point[]
}

const iso = (t: number) => new Date(t).toISOString()
const unique = (values: number[]) => [...new Set(values)].sort((a, b) => a - b)

describe("the seed's operations, verbatim", () => {
  it('locationHistoryAggregated (1 day over January 2025) returns daily points with their tracker', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Seed tracker' })
    const key = tracker.hashedAdvKeys[0]!
    await insertReports(key, [
      { at: Date.parse('2025-01-03T10:00:00Z'), city: 'Paris, FR', latitude: 48.85 },
      { at: Date.parse('2025-01-03T18:00:00Z'), city: 'Lyon, FR', latitude: 45.76 },
      { at: Date.parse('2025-01-20T08:30:00Z'), city: 'Berlin, DE' },
      { at: Date.parse('2025-02-02T08:30:00Z'), city: 'Outside, XX' },
    ])
    await api.database.withSession(async (session) => {
      await refreshContinuousAggregate(session, 'location_history_daily', {
        from: new Date('2025-01-01T00:00:00Z'),
        to: new Date('2025-03-01T00:00:00Z'),
      })
    })
    await rebuildHistory(api)

    const response = await api.gql(`
query {
  locationHistoryAggregated(trackerId: "${tracker.id}", startTime: "2025-01-01T00:00:00Z",
                            endTime: "2025-01-31T23:59:59Z", bucketSize: "1 day") {
    id timestamp location { latitude longitude } nearestCity
    tracker { id name currentStatus }
  }
}`)
    expect(response.status).toBe(200)
    expect(response.body.errors).toBeUndefined()
    const points = response.body.data!.locationHistoryAggregated as Record<string, unknown>[]
    expect(points).toEqual([
      {
        id: expect.any(String),
        timestamp: '2025-01-03T00:00:00.000Z',
        location: { latitude: 45.76, longitude: 13.405 },
        nearestCity: 'Lyon, FR',
        tracker: { id: tracker.id, name: 'Seed tracker', currentStatus: 'LOST' },
      },
      {
        id: expect.any(String),
        timestamp: '2025-01-20T00:00:00.000Z',
        location: { latitude: 52.52, longitude: 13.405 },
        nearestCity: 'Berlin, DE',
        tracker: { id: tracker.id, name: 'Seed tracker', currentStatus: 'LOST' },
      },
    ])
    expect(new Set(points.map((p) => p.id)).size).toBe(2)
  })
})

describe('bucket sizes across the 24-hour boundary', () => {
  let trackerId: string
  let reportTimes: number[]
  let newest: number

  beforeAll(async () => {
    const tracker = await insertTracker(api.database.db)
    trackerId = tracker.id
    const now = Date.now()
    reportTimes = [now - 29 * DAY, now - 3 * DAY, now - 26 * HOUR, now - 20 * HOUR, now - 2 * HOUR]
    await insertReports(
      tracker.hashedAdvKeys[0]!,
      reportTimes.map((at) => ({ at })),
    )
    await materialize(now - 30 * DAY, now)
    // After the refresh: location_history has not caught up with this one yet.
    newest = Date.now()
    await insertReports(tracker.hashedAdvKeys[0]!, [{ at: newest, city: 'Newest, DE' }])
  })

  it('"1 day": one daily point per day over the whole range, today included (from the aggregate)', async () => {
    const now = Date.now()
    const points = await history(trackerId, now - 30 * DAY, now, '1 day')
    const days = unique([...reportTimes, newest].map(dayStart))
    expect(points.map((p) => p.timestamp)).toEqual(days.map(iso))
    expect(points.every((p) => p.resolution === 'DAY' && p.bucketSize === '1 day')).toBe(true)
    const today = points.at(-1)!
    expect(today).toMatchObject({
      timestamp: iso(dayStart(now)),
      nearestCity: 'Newest, DE',
      source: 'CONTINUOUS_AGGREGATE',
    })
    // Days location_history holds are served from it.
    expect(points[0]!.source).toBe('LOCATION_HISTORY')
    expect(points.reduce((sum, p) => sum + p.reportCount, 0)).toBe(reportTimes.length + 1)
  })

  it('"1 hour": hourly points from midnight of the day holding now - 24 h, daily points before; each says which', async () => {
    const now = Date.now()
    // The tier boundary moves at midnight UTC: read it around the query, and ask again if it moved.
    let tierStart = await hourlyTierStart()
    let points = await history(trackerId, now - 30 * DAY, now, '1 hour')
    if ((await hourlyTierStart()) !== tierStart) {
      tierStart = await hourlyTierStart()
      points = await history(trackerId, now - 30 * DAY, now, '1 hour')
    }
    const all = [...reportTimes, newest]
    const expected = [
      ...unique(all.map(dayStart).filter((d) => d < tierStart)).map((t) => ({
        timestamp: iso(t),
        resolution: 'DAY',
      })),
      ...unique(all.map(hourStart).filter((h) => h >= tierStart)).map((t) => ({
        timestamp: iso(t),
        resolution: 'HOUR',
      })),
    ]
    expect(points.map((p) => ({ timestamp: p.timestamp, resolution: p.resolution }))).toEqual(expected)
    const hourly = points.filter((p) => p.resolution === 'HOUR')
    expect(hourly.length).toBeGreaterThanOrEqual(3)
    expect(hourly.every((p) => p.bucketSize === '1 hour')).toBe(true)
    // Every report in exactly one point.
    expect(points.reduce((sum, p) => sum + p.reportCount, 0)).toBe(all.length)
    // The hour location_history holds comes from it; the newest hour, not refreshed yet, from the aggregate.
    const hours = points.filter((p) => p.resolution === 'HOUR')
    expect(hours.at(-2)).toMatchObject({
      timestamp: iso(hourStart(reportTimes[4]!)),
      source: 'LOCATION_HISTORY',
    })
    expect(hours.at(-1)).toMatchObject({
      timestamp: iso(hourStart(newest)),
      source: 'CONTINUOUS_AGGREGATE',
      nearestCity: 'Newest, DE',
    })
  })

  it('a range entirely inside the hourly tier has hourly points only; entirely before it, daily only', async () => {
    const now = Date.now()
    const recent = await history(trackerId, now - 21 * HOUR, now, '1 hour')
    expect(recent.map((p) => p.resolution)).toEqual(['HOUR', 'HOUR', 'HOUR'])
    // Up to the day before the report 26 hours old (a point is in a range when its bucket starts in
    // it, so the range must end before that day starts, whatever the time of day).
    const old = await history(trackerId, now - 30 * DAY, dayStart(now - 26 * HOUR) - 1, '1 hour')
    expect(old.map((p) => p.timestamp)).toEqual(
      unique([now - 29 * DAY, now - 3 * DAY].map(dayStart)).map(iso),
    )
    expect(old.every((p) => p.resolution === 'DAY')).toBe(true)
  })

  it('an empty range of an existing tracker is an empty list, not an error', async () => {
    expect(
      await history(
        trackerId,
        Date.parse('2024-01-01T00:00:00Z'),
        Date.parse('2024-01-05T00:00:00Z'),
        '1 day',
      ),
    ).toEqual([])
  })
})
