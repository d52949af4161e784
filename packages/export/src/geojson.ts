import { CoordinateBuffer, type Position } from './antimeridian.ts'
import {
  byTracker,
  CHUNK_CHARS,
  type ExportOptions,
  type ExportPages,
  type ExportTracker,
  type ExtraValue,
  isoTime,
  numberText,
} from './point.ts'

export const GEOJSON_CONTENT_TYPE = 'application/geo+json'

const json = (value: ExtraValue) =>
  value instanceof Date ? JSON.stringify(isoTime(value)) : JSON.stringify(value)

/** The tracker's track: a LineString, a MultiLineString when it crosses the antimeridian, nothing below two positions. */
export function trackGeometry(lines: Position[][]): string | undefined {
  if (lines.length === 0) return undefined
  if (lines.length === 1) return `{"type":"LineString","coordinates":${JSON.stringify(lines[0])}}`
  return `{"type":"MultiLineString","coordinates":${JSON.stringify(lines)}}`
}

/**
 * GeoJSON (RFC 7946): one FeatureCollection; a Point feature per point ([longitude, latitude],
 * properties trackerId, trackerName, time, accuracy, city and the extra fields), and after each
 * tracker's points its track as one feature (kind "track") whose LineString is cut into a
 * MultiLineString where it crosses the antimeridian (§3.1.9). The track's coordinates are kept
 * until its tracker ends (16 bytes a point); everything else is written as it comes.
 */
export async function* writeGeoJson(pages: ExportPages, options: ExportOptions): AsyncGenerator<string> {
  const fields = options.fields ?? []
  const names = fields.map((f) => `,${JSON.stringify(f.name)}:`)
  const line = new CoordinateBuffer()
  let first = true
  const separator = () => {
    const s = first ? '\n' : ',\n'
    first = false
    return s
  }
  yield '{"type":"FeatureCollection","features":['
  let from = ''
  let to = ''
  const track = (tracker: ExportTracker) => {
    const geometry = trackGeometry(line.lines())
    line.clear()
    if (!geometry) return ''
    return `${separator()}{"type":"Feature","geometry":${geometry},"properties":{"kind":"track","trackerId":${JSON.stringify(tracker.id)},"trackerName":${JSON.stringify(tracker.name)},"from":${JSON.stringify(from)},"to":${JSON.stringify(to)}}}`
  }
  for await (const event of byTracker(pages, options.trackers)) {
    if (event.kind === 'start') {
      from = ''
    } else if (event.kind === 'end') {
      const out = track(event.tracker)
      if (out) yield out
    } else {
      const tracker = `"trackerId":${JSON.stringify(event.tracker.id)},"trackerName":${JSON.stringify(event.tracker.name)}`
      let out = ''
      for (const p of event.points) {
        const time = isoTime(p.time)
        if (!from) from = time
        to = time
        line.push(p.longitude, p.latitude)
        out += `${separator()}{"type":"Feature","geometry":{"type":"Point","coordinates":[${numberText(p.longitude)},${numberText(p.latitude)}]},"properties":{"kind":"point",${tracker},"time":"${time}","accuracy":${json(p.accuracy)},"city":${json(p.city)}`
        for (let i = 0; i < fields.length; i++) out += names[i] + json(p.extra[i] ?? null)
        out += '}}'
        if (out.length >= CHUNK_CHARS) {
          yield out
          out = ''
        }
      }
      if (out) yield out
    }
  }
  yield '\n]}\n'
}
