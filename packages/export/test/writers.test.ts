import { describe, expect, it } from 'vitest'
import {
  type ExportOptions,
  type ExportPoint,
  isoTime,
  numberText,
  splitAtAntimeridian,
  writeCsv,
  writeGeoJson,
  writeGpx,
  writeKml,
} from '../src/index.ts'
import {
  checkGeoJson,
  gpxSchemaErrors,
  gpxToGeoJson,
  kmlToGeoJson,
  parseCsv,
  parseXml,
  xmllintAvailable,
} from './validate.ts'

const NASTY = `A <b> & "c" 'd'`
const CSV_NASTY = 'Comma, "quote"\nnew line'
const trackers = [
  { id: '00000000-0000-4000-8000-000000000001', name: NASTY },
  { id: '00000000-0000-4000-8000-000000000002', name: CSV_NASTY },
  { id: '00000000-0000-4000-8000-000000000003', name: 'no points' },
]
const HOUR = 3_600_000
const t0 = Date.parse('2026-03-01T00:00:00.000Z')

function point(
  tracker: number,
  hours: number,
  latitude: number,
  longitude: number,
  city: string | null,
): ExportPoint {
  return {
    trackerId: trackers[tracker]!.id,
    time: new Date(t0 + hours * HOUR),
    latitude,
    longitude,
    accuracy: hours === 2 ? null : 12,
    city,
    extra: [hours + 1, new Date(t0 + hours * HOUR + 1234)],
  }
}

// Tracker 1 crosses the antimeridian twice and has a 10-hour gap; tracker 2 visits both poles.
const points: ExportPoint[] = [
  point(0, 0, 10.5, 179.5, 'Suva, FJ'),
  point(0, 1, 11, -179.5, null),
  point(0, 2, 11.5, -179, '<&>"\' city'),
  point(0, 12, 12, 179, 'Tab\there'),
  point(0, 13, 12.5, 178.5, null),
  point(1, 0, 1e-7, -1e-7, ' padded '),
  point(1, 1, 90, 0, CSV_NASTY),
  point(1, 2, -90, 180, 'South Pole'),
]
const options: ExportOptions = {
  trackers,
  title: `Export of ${NASTY}`,
  segmentGapMs: 6 * HOUR,
  createdAt: new Date(t0),
  fields: [
    { name: 'reportCount', column: 'report_count' },
    { name: 'lastReportAt', column: 'last_report_at' },
  ],
}

/** Pages of three, as a cursor would hand them out. */
function* pages(all: ExportPoint[], size = 3) {
  for (let i = 0; i < all.length; i += size) yield all.slice(i, i + size)
}

async function text(gen: AsyncGenerator<string>): Promise<string> {
  let out = ''
  for await (const chunk of gen) out += chunk
  return out
}

const iso = (p: ExportPoint) => p.time.toISOString()

describe('GPX', () => {
  it.skipIf(!xmllintAvailable)(
    `is valid against the GPX 1.1 XSD (xmllint)${xmllintAvailable ? '' : ' — skipped: xmllint not installed'}`,
    async () => {
      expect(gpxSchemaErrors(await text(writeGpx(pages(points), options)))).toBe('')
      expect(gpxSchemaErrors(await text(writeGpx(pages([]), options)))).toBe('')
      expect(gpxSchemaErrors(await text(writeGpx(pages([]), { trackers: [] })))).toBe('')
    },
  )

  it('reads back with togeojson: a track per tracker, a segment per gap, every point and time', async () => {
    const doc = await text(writeGpx(pages(points), options))
    const tracks = gpxToGeoJson(doc).features
    expect(tracks.map((f) => f.properties?.name)).toEqual([NASTY, CSV_NASTY])
    // tracker 1: the 10-hour gap starts a second segment
    expect(tracks[0]!.geometry!.type).toBe('MultiLineString')
    expect(tracks[0]!.geometry!.coordinates).toEqual([
      [
        [179.5, 10.5],
        [-179.5, 11],
        [-179, 11.5],
      ],
      [
        [179, 12],
        [178.5, 12.5],
      ],
    ])
    expect(tracks[0]!.properties!.coordinateProperties.times.flat()).toEqual(points.slice(0, 5).map(iso))
    // 180 is written -180 (the schema's longitude range is [-180, 180)); the poles as they are
    expect(tracks[1]!.geometry!.coordinates).toEqual([
      [-1e-7, 1e-7],
      [0, 90],
      [-180, -90],
    ])
    expect(doc).toContain('<tracker:city>&lt;&amp;&gt;&quot;&apos; city</tracker:city>')
    expect(doc).not.toMatch(/<ele>/)
    expect(doc).toContain('lat="0.0000001" lon="-0.0000001"')
  })

  it('an empty export is a valid document with empty tracks', async () => {
    const doc = await text(writeGpx(pages([]), options))
    expect(parseXml(doc).getElementsByTagName('trk').length).toBe(3)
    expect(gpxToGeoJson(doc).features).toEqual([])
  })
})

describe('GeoJSON', () => {
  it('passes check-geojson; points in lon/lat order with their properties, one track per tracker', async () => {
    const doc = await text(writeGeoJson(pages(points), options))
    const collection = checkGeoJson(doc)
    const pointFeatures = collection.features.filter((f) => f.properties?.kind === 'point')
    expect(pointFeatures.map((f) => f.geometry!.coordinates)).toEqual(
      points.map((p) => [p.longitude, p.latitude]),
    )
    expect(pointFeatures.map((f) => f.properties)).toEqual(
      points.map((p) => ({
        kind: 'point',
        trackerId: p.trackerId,
        trackerName: trackers.find((t) => t.id === p.trackerId)!.name,
        time: iso(p),
        accuracy: p.accuracy,
        city: p.city,
        reportCount: p.extra[0],
        lastReportAt: (p.extra[1] as Date).toISOString(),
      })),
    )
    const tracks = collection.features.filter((f) => f.properties?.kind === 'track')
    expect(tracks.map((f) => f.properties!.trackerName)).toEqual([NASTY, CSV_NASTY])
    // Cut at the antimeridian: 179.5 -> -179.5 crosses at latitude 10.75, -179 -> 179 at 11.75.
    expect(tracks[0]!.geometry).toEqual({
      type: 'MultiLineString',
      coordinates: [
        [
          [179.5, 10.5],
          [180, 10.75],
        ],
        [
          [-180, 10.75],
          [-179.5, 11],
          [-179, 11.5],
          [-180, 11.75],
        ],
        [
          [180, 11.75],
          [179, 12],
          [178.5, 12.5],
        ],
      ],
    })
    expect(tracks[1]!.geometry!.type).toBe('LineString')
  })

  it('an empty export is an empty FeatureCollection', async () => {
    const collection = checkGeoJson(await text(writeGeoJson(pages([]), options)))
    expect(collection).toEqual({ type: 'FeatureCollection', features: [] })
  })
})

describe('KML', () => {
  it('parses as XML and reads back with togeojson: every point with its time, a track per tracker', async () => {
    const doc = await text(writeKml(pages(points), options))
    const features = kmlToGeoJson(doc).features
    const pointFeatures = features.filter((f) => f.geometry?.type === 'Point')
    expect(pointFeatures.map((f) => f.geometry!.coordinates)).toEqual(
      points.map((p) => [p.longitude, p.latitude]),
    )
    expect(pointFeatures.map((f) => f.properties!.timestamp)).toEqual(points.map(iso))
    expect(pointFeatures.map((f) => f.properties!.city ?? null)).toEqual(points.map((p) => p.city))
    expect(pointFeatures.map((f) => f.properties!.trackerName)).toEqual(
      points.map((p) => trackers.find((t) => t.id === p.trackerId)!.name),
    )
    const tracks = features.filter((f) => f.properties?.kind === 'track')
    expect(tracks.map((f) => f.properties!.name)).toEqual([NASTY, CSV_NASTY])
    expect(tracks[0]!.geometry!.type).toBe('GeometryCollection')
    expect(tracks[0]!.geometry!.geometries!.map((g) => g.coordinates.length)).toEqual([2, 4, 3])
    expect(tracks[1]!.geometry).toEqual({
      type: 'LineString',
      coordinates: points.slice(5).map((p) => [p.longitude, p.latitude]),
    })
  })

  it('an empty export is a valid document', async () => {
    const doc = await text(writeKml(pages([]), options))
    expect(parseXml(doc).getElementsByTagName('Folder').length).toBe(3)
    expect(kmlToGeoJson(doc).features).toEqual([])
  })
})

describe('CSV', () => {
  it('parses with csv-parse (strict, CRLF) to every point, special characters intact', async () => {
    const doc = await text(writeCsv(pages(points), options))
    expect(doc.split('\r\n')[0]).toBe(
      'tracker_id,tracker_name,time,latitude,longitude,accuracy_m,city,report_count,last_report_at',
    )
    const rows = parseCsv(doc)
    expect(rows).toEqual(
      points.map((p) => ({
        tracker_id: p.trackerId,
        tracker_name: trackers.find((t) => t.id === p.trackerId)!.name,
        time: iso(p),
        latitude: String(p.latitude === 1e-7 ? '0.0000001' : p.latitude),
        longitude: String(p.longitude === -1e-7 ? '-0.0000001' : p.longitude),
        accuracy_m: p.accuracy === null ? '' : String(p.accuracy),
        city: p.city ?? '',
        report_count: String(p.extra[0]),
        last_report_at: (p.extra[1] as Date).toISOString(),
      })),
    )
  })

  it('an empty export is the header row alone', async () => {
    const doc = await text(writeCsv(pages([]), options))
    expect(parseCsv(doc)).toEqual([])
    expect(doc.endsWith('\r\n')).toBe(true)
  })
})

describe('splitAtAntimeridian', () => {
  const split = (positions: [number, number][]) =>
    splitAtAntimeridian(new Float64Array(positions.flat()), positions.length)
  it('leaves a line that does not cross alone', () => {
    expect(
      split([
        [10, 1],
        [20, 2],
      ]),
    ).toEqual([
      [
        [10, 1],
        [20, 2],
      ],
    ])
  })
  it('cuts where a point lies on the meridian itself without a repeated position', () => {
    expect(
      split([
        [170, 0],
        [180, 5],
        [-170, 10],
      ]),
    ).toEqual([
      [
        [170, 0],
        [180, 5],
      ],
      [
        [-180, 5],
        [-170, 10],
      ],
    ])
    expect(
      split([
        [179, 0],
        [-180, 5],
        [-179, 10],
      ]),
    ).toEqual([
      [
        [179, 0],
        [180, 5],
      ],
      [
        [-180, 5],
        [-179, 10],
      ],
    ])
  })
  it('drops parts of one position (a single point is no line)', () => {
    expect(split([[179, 0]])).toEqual([])
  })
})

it('writes one string per page and the rows of any number of pages', async () => {
  const chunks: string[] = []
  for await (const chunk of writeCsv(pages(points, 1), options)) chunks.push(chunk)
  expect(chunks.length).toBe(1 + points.length)
})

it('refuses points of a tracker outside the export or out of order', async () => {
  await expect(text(writeCsv(pages([points[5]!, points[0]!]), options))).rejects.toThrow(/grouped by tracker/)
  await expect(text(writeCsv(pages([{ ...points[0]!, trackerId: 'x' }]), options))).rejects.toThrow(
    /not in the export/,
  )
})

it('escapes the five XML specials and leaves out what XML 1.0 cannot carry', async () => {
  const { escapeXml } = await import('../src/index.ts')
  expect(escapeXml(`a<b>&"'`)).toBe('a&lt;b&gt;&amp;&quot;&apos;')
  expect(escapeXml('bell\u0007 lone\uD800 pair😀 tab\t')).toBe('bell lone pair😀 tab\t')
})

describe('isoTime', () => {
  it('is toISOString: across days back and forth, before 1970, at the four-digit years’ ends and beyond', () => {
    const times = [
      0,
      -1,
      1,
      -86_400_000,
      -86_400_001,
      951_782_400_000,
      951_868_799_999,
      t0,
      t0 - 1,
      t0 + 999,
      -62_167_219_200_000,
      -62_167_219_200_001,
      253_402_300_799_999,
      253_402_300_800_000,
      8.64e15,
      -8.64e15,
    ]
    for (let i = 0; i < 5000; i++)
      times.push(t0 + Math.round((Math.sin(i) + 0.5 * Math.cos(i * 7)) * 40 * 86_400_000))
    for (const ms of times) expect(isoTime(new Date(ms)), String(ms)).toBe(new Date(ms).toISOString())
  })

  it('throws for an invalid date, as toISOString', () => {
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError)
  })
})

describe('numberText', () => {
  it('is String(value): coordinates, integers, tiny and huge numbers, -0 and the non-finite', () => {
    const values = [
      0,
      -0,
      1,
      -1,
      0.1,
      1 / 3,
      179.99999999999997,
      -180,
      90,
      1e-7,
      -2.5e-12,
      1e21,
      123456789012345680000,
      5e-324,
    ]
    values.push(
      Number.MAX_VALUE,
      Number.MIN_SAFE_INTEGER,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    )
    for (let i = 0; i < 5000; i++)
      values.push(Math.sin(i) * 180, Math.cos(i * 3) * 90 * 10 ** ((i % 9) - 4), i * 7 - 9000)
    for (const value of values) expect(numberText(value), String(value)).toBe(String(value))
  })
})
