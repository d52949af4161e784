import { insertTracker, reportRow } from '@tracker/db/testing'
import {
  checkGeoJson,
  gpxSchemaErrors,
  gpxToGeoJson,
  kmlToGeoJson,
  parseCsv,
  xmllintAvailable,
} from '@tracker/export/testing'
import { refreshContinuousAggregate } from '@tracker/history'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiToken } from '../src/index.ts'
import { createTestApi, DAY, dayStart, HOUR, hourStart, rebuildHistory, type TestApi } from './helpers.ts'

// Exports against the GraphQL API on the same data: every point equal, every format read back by an
// independent implementation (GPX XSD via xmllint, togeojson, check-geojson, csv-parse).

let api: TestApi
const NASTY = `Anna's <bag> & "keys", 1\nsecond line`
let a: { id: string; name: string; hashedAdvKeys: string[] }
let b: { id: string; name: string; hashedAdvKeys: string[] }
let limitedToken: string
const now = Date.now()
const from = new Date(dayStart(now - 5 * DAY)).toISOString()
const to = new Date(hourStart(now)).toISOString()

beforeAll(async () => {
  api = await createTestApi()
  const db = api.database.db
  a = await insertTracker(db, { name: NASTY })
  b = await insertTracker(db, { name: 'Polar' })
  // Tracker a hops across the antimeridian every few hours; tracker b stands on the poles.
  const rows = []
  for (let t = dayStart(now - 4 * DAY) + 30 * 60_000; t < hourStart(now) - HOUR; t += 3 * HOUR) {
    const i = Math.round(t / HOUR)
    rows.push(
      reportRow(a.hashedAdvKeys[0]!, new Date(t), {
        latitude: -16 - (i % 7) / 10,
        longitude: i % 2 === 0 ? 179.75 : -179.5,
        nearest_city: i % 3 === 0 ? `Suva, "FJ" <&>` : null,
        horizontal_accuracy: i % 5 === 0 ? null : 20 + (i % 11),
      }),
      reportRow(b.hashedAdvKeys[0]!, new Date(t + 60_000), {
        latitude: i % 2 === 0 ? 90 : -90,
        longitude: i % 2 === 0 ? 0 : 180,
        nearest_city: null,
      }),
    )
  }
  await db.insertInto('location_reports').values(rows).execute()
  await api.database.withSession(async (session) => {
    await refreshContinuousAggregate(session, 'location_history_hourly', {
      from: new Date(hourStart(now - 47 * HOUR)),
      to: new Date(hourStart(now)),
    })
    await refreshContinuousAggregate(session, 'location_history_daily', {
      from: new Date(dayStart(now - 6 * DAY)),
      to: new Date(dayStart(now)),
    })
  })
  await rebuildHistory(api)
  limitedToken = (await createApiToken(db, { name: 'only b', scope: 'read', trackerIds: [b.id] })).token
})
afterAll(() => api?.close())

async function get(url: string, token: string | null = api.readToken) {
  const response = await api.app.inject({
    method: 'GET',
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  })
  return { status: response.statusCode, headers: response.headers, body: response.body }
}

const q = (params: Record<string, string | string[]>) => {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) search.append(k, one)
  return search.toString()
}

type GqlPoint = {
  timestamp: string
  location: { latitude: number; longitude: number }
  nearestCity: string | null
  accuracy: number | null
  reportCount: number
}

async function graphqlHistory(trackerId: string, bucketSize: string): Promise<GqlPoint[]> {
  const response = await api.gql(
    `query ($id: ID!, $from: DateTime!, $to: DateTime!, $size: String!) {
       locationHistoryAggregated(trackerId: $id, startTime: $from, endTime: $to, bucketSize: $size, limit: 500) {
         timestamp nearestCity accuracy reportCount location { latitude longitude } } }`,
    { variables: { id: trackerId, from, to, size: bucketSize } },
  )
  expect(response.body.errors).toBeUndefined()
  expect(response.body.extensions?.truncated).toBeUndefined()
  return response.body.data!.locationHistoryAggregated as GqlPoint[]
}

describe.each(['1 hour', '1 day'])('history export, bucketSize %s', (bucketSize) => {
  const url = (format: string) =>
    `/export/history.${format}?${q({ trackerId: [a.id, b.id], from, to, bucketSize })}`
  let expected: { tracker: { id: string; name: string }; points: GqlPoint[] }[]
  beforeAll(async () => {
    expected = [
      { tracker: a, points: await graphqlHistory(a.id, bucketSize) },
      { tracker: b, points: await graphqlHistory(b.id, bucketSize) },
    ]
    expect(expected[0]!.points.length).toBeGreaterThan(3)
    if (bucketSize === '1 hour')
      expect(new Set(expected[0]!.points.map((p) => p.reportCount)).size).toBeGreaterThan(0)
  })
  const flat = () => expected.flatMap(({ tracker, points }) => points.map((p) => ({ tracker, ...p })))

  it('CSV: every row is the GraphQL point (csv-parse)', async () => {
    const response = await get(url('csv'))
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8')
    const rows = parseCsv(response.body)
    expect(rows).toEqual(
      flat().map((p) =>
        expect.objectContaining({
          tracker_id: p.tracker.id,
          tracker_name: p.tracker.name,
          time: p.timestamp,
          latitude: String(p.location.latitude),
          longitude: String(p.location.longitude),
          accuracy_m: p.accuracy === null ? '' : String(p.accuracy),
          city: p.nearestCity ?? '',
          report_count: String(p.reportCount),
          bucket_size: expect.any(String),
        }),
      ),
    )
  })

  it('GeoJSON: valid (check-geojson), a Point per GraphQL point in lon/lat order, a track per tracker', async () => {
    const response = await get(url('geojson'))
    expect(response.headers['content-type']).toBe('application/geo+json')
    const collection = checkGeoJson(response.body)
    const points = collection.features.filter((f) => f.properties?.kind === 'point')
    expect(
      points.map((f) => [
        f.properties!.trackerId,
        f.properties!.time,
        f.geometry!.coordinates,
        f.properties!.city,
      ]),
    ).toEqual(
      flat().map((p) => [
        p.tracker.id,
        p.timestamp,
        [p.location.longitude, p.location.latitude],
        p.nearestCity,
      ]),
    )
    const tracks = collection.features.filter((f) => f.properties?.kind === 'track')
    expect(tracks.map((f) => f.properties!.trackerName)).toEqual([a.name, b.name])
    // a's track crosses the antimeridian: cut into a MultiLineString, no segment longer than 180°
    if (bucketSize === '1 hour') expect(tracks[0]!.geometry!.type).toBe('MultiLineString')
    const g = tracks[0]!.geometry!
    for (const line of (g.type === 'LineString' ? [g.coordinates] : g.coordinates) as number[][][]) {
      for (let i = 1; i < line.length; i++)
        expect(Math.abs(line[i]![0]! - line[i - 1]![0]!)).toBeLessThanOrEqual(180)
    }
  })

  it.skipIf(!xmllintAvailable)(
    `GPX: valid against the GPX 1.1 XSD${xmllintAvailable ? '' : ' — skipped: xmllint not installed'}`,
    async () => {
      const response = await get(url('gpx'))
      expect(response.headers['content-type']).toBe('application/gpx+xml')
      expect(gpxSchemaErrors(response.body)).toBe('')
    },
  )

  it('GPX: read back with togeojson, every GraphQL point and time in a track per tracker', async () => {
    // One segment per tracker (togeojson leaves out segments of a single point)
    const response = await get(`${url('gpx')}&segmentGap=${encodeURIComponent('30 days')}`)
    const tracks = gpxToGeoJson(response.body).features
    expect(tracks.map((f) => f.properties!.name)).toEqual([a.name, b.name])
    tracks.forEach((track, i) => {
      const g = track.geometry!
      const coordinates = (g.type === 'LineString' ? [g.coordinates] : g.coordinates) as number[][][]
      const times = track.properties!.coordinateProperties.times
      expect(coordinates.flat()).toEqual(
        // GPX longitudes lie in [-180, 180): the pole point at 180 is written -180
        expected[i]!.points.map((p) => [
          p.location.longitude === 180 ? -180 : p.location.longitude,
          p.location.latitude,
        ]),
      )
      expect((g.type === 'LineString' ? [times] : times).flat()).toEqual(
        expected[i]!.points.map((p) => p.timestamp),
      )
    })
  })

  it('KML: read back with togeojson, a Placemark per GraphQL point with its TimeStamp', async () => {
    const response = await get(url('kml'))
    expect(response.headers['content-type']).toBe('application/vnd.google-earth.kml+xml')
    const features = kmlToGeoJson(response.body).features
    const points = features.filter((f) => f.geometry?.type === 'Point')
    expect(
      points.map((f) => [f.properties!.trackerId, f.properties!.timestamp, f.geometry!.coordinates]),
    ).toEqual(flat().map((p) => [p.tracker.id, p.timestamp, [p.location.longitude, p.location.latitude]]))
    expect(features.filter((f) => f.properties?.kind === 'track').map((f) => f.properties!.name)).toEqual([
      a.name,
      b.name,
    ])
  })
})

describe('reports export', () => {
  it('is every raw report GraphQL lists, oldest first', async () => {
    const response = await api.gql(
      `query ($id: ID!) { locationReports(trackerId: $id, first: 100) { nodes { timestamp hashedAdvKey location { latitude longitude } } pageInfo { hasNextPage } } }`,
      { variables: { id: a.id } },
    )
    const listed = response.body.data!.locationReports as {
      nodes: { timestamp: string; hashedAdvKey: string; location: { latitude: number; longitude: number } }[]
      pageInfo: { hasNextPage: boolean }
    }
    expect(listed.pageInfo.hasNextPage).toBe(false)
    const csv = await get(`/export/reports.csv?${q({ trackerId: a.id })}`)
    expect(csv.status).toBe(200)
    expect(
      parseCsv(csv.body).map((r) => [r.time, r.hashed_adv_key, Number(r.latitude), Number(r.longitude)]),
    ).toEqual(
      listed.nodes
        .reverse()
        .map((n) => [n.timestamp, n.hashedAdvKey, n.location.latitude, n.location.longitude]),
    )
    const gpx = await get(`/export/reports.gpx?${q({ trackerId: [a.id, b.id] })}`)
    if (xmllintAvailable) expect(gpxSchemaErrors(gpx.body)).toBe('')
    checkGeoJson((await get(`/export/reports.geojson?${q({ trackerId: [a.id, b.id] })}`)).body)
  })
})

describe('an empty range', () => {
  it('gives valid empty documents in every format', async () => {
    const empty = { trackerId: a.id, from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' }
    const gpx = await get(`/export/history.gpx?${q(empty)}`)
    expect(gpx.status).toBe(200)
    if (xmllintAvailable) expect(gpxSchemaErrors(gpx.body)).toBe('')
    expect(gpxToGeoJson(gpx.body).features).toEqual([])
    expect(checkGeoJson((await get(`/export/history.geojson?${q(empty)}`)).body).features).toEqual([])
    expect(kmlToGeoJson((await get(`/export/history.kml?${q(empty)}`)).body).features).toEqual([])
    const csv = await get(`/export/history.csv?${q(empty)}`)
    expect(parseCsv(csv.body)).toEqual([])
    expect(csv.body.split('\r\n')[0]).toMatch(/^tracker_id,tracker_name,time,/)
  })
})

describe('headers', () => {
  it('names the file after the trackers and the range, ASCII and UTF-8', async () => {
    const response = await get(
      `/export/history.gpx?${q({ trackerId: [a.id, b.id], from: '2026-03-01', to: '2026-03-02T12:00:00Z' })}`,
    )
    expect(response.headers['content-disposition']).toBe(
      `attachment; filename="Anna_s_bag_keys_1_second_line+Polar_20260301T000000Z_20260302T120000Z.gpx"; ` +
        `filename*=UTF-8''Anna%27s%20_bag_%20%26%20_keys_%2C%201_second%20line+Polar_20260301T000000Z_20260302T120000Z.gpx`,
    )
  })
})

describe('refusals', () => {
  const good = () => ({ trackerId: a.id, from, to, bucketSize: '1 hour' })
  it.each([
    ['unknown format', '/export/history.shp', () => good(), 'format', 'UNKNOWN_FORMAT'],
    ['a bad date', '/export/history.csv', () => ({ ...good(), from: 'yesterday' }), 'from', 'BAD_REQUEST'],
    [
      'an impossible date',
      '/export/history.csv',
      () => ({ ...good(), to: '2026-02-30' }),
      'to',
      'BAD_REQUEST',
    ],
    ['a missing date', '/export/history.csv', () => ({ trackerId: a.id, to }), 'from', 'BAD_REQUEST'],
    [
      'from after to',
      '/export/history.csv',
      () => ({ ...good(), from: to, to: from }),
      'from',
      'BAD_REQUEST',
    ],
    [
      'a range too long',
      '/export/history.csv',
      () => ({ ...good(), from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }),
      'to',
      'RANGE_TOO_LONG',
    ],
    [
      'a daily range too long',
      '/export/history.csv',
      () => ({ ...good(), bucketSize: '1 day', from: '2020-01-01', to: '2026-01-01' }),
      'to',
      'RANGE_TOO_LONG',
    ],
    [
      'a bad bucketSize',
      '/export/history.csv',
      () => ({ ...good(), bucketSize: '1 week' }),
      'bucketSize',
      'BAD_REQUEST',
    ],
    ['no trackerId', '/export/history.csv', () => ({ from, to }), 'trackerId', 'BAD_REQUEST'],
    [
      'a bad segmentGap',
      '/export/history.gpx',
      () => ({ ...good(), segmentGap: 'often' }),
      'segmentGap',
      'BAD_REQUEST',
    ],
  ] as const)('%s: 400 naming the parameter', async (_what, path, params, parameter, code) => {
    const response = await get(`${path}?${q(params() as Record<string, string>)}`)
    expect(response.status).toBe(400)
    expect(JSON.parse(response.body)).toEqual({
      error: expect.any(String),
      code,
      parameter,
      requestId: expect.any(String),
    })
  })

  it('an unknown tracker, and a tracker the token is not for: 404 alike', async () => {
    for (const [trackerId, token] of [
      ['00000000-0000-4000-8000-00000000dead', api.readToken],
      ['not-a-uuid', api.readToken],
      [a.id, limitedToken],
    ] as const) {
      const response = await get(`/export/history.csv?${q({ ...good(), trackerId })}`, token)
      expect(response.status).toBe(404)
      expect(JSON.parse(response.body)).toMatchObject({ code: 'NOT_FOUND', requestId: expect.any(String) })
    }
    expect((await get(`/export/history.csv?${q({ ...good(), trackerId: b.id })}`, limitedToken)).status).toBe(
      200,
    )
  })

  it('no token: 401', async () => {
    const response = await get(`/export/history.csv?${q(good())}`, null)
    expect(response.status).toBe(401)
    expect(JSON.parse(response.body)).toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  it('an unknown export: 404', async () => {
    expect((await get(`/export/everything.csv?${q(good())}`)).status).toBe(404)
  })
})
