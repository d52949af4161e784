import { normalizeLongitude } from './antimeridian.ts'
import {
  byTracker,
  CHUNK_CHARS,
  decimal,
  type ExportOptions,
  type ExportPages,
  type ExtraValue,
  isoTime,
} from './point.ts'
import { escapeXml } from './xml.ts'

/** The namespace of Tracker's own GPX extensions (accuracy, city and the export's extra fields). */
export const GPX_EXTENSIONS_NAMESPACE = 'urn:x-tracker:gpx-extensions:1'
export const GPX_CONTENT_TYPE = 'application/gpx+xml'
export const DEFAULT_SEGMENT_GAP_MS = 6 * 3_600_000

const extension = (name: string, value: ExtraValue) =>
  value === null
    ? ''
    : `<tracker:${name}>${value instanceof Date ? isoTime(value) : typeof value === 'number' ? decimal(value) : escapeXml(value)}</tracker:${name}>`

/**
 * GPX 1.1: a <trk> per tracker (named after it, every tracker of the export even without points), a
 * <trkseg> per stretch without a gap longer than `segmentGapMs`, a <trkpt> per point with its
 * <time> (UTC) and no <ele>; accuracy, city and the extra fields in <extensions> under
 * GPX_EXTENSIONS_NAMESPACE (prefix "tracker"). Longitude 180 is written -180 (the schema's range
 * is [-180, 180)). Strings of about CHUNK_CHARS as the points come.
 */
export async function* writeGpx(pages: ExportPages, options: ExportOptions): AsyncGenerator<string> {
  const fields = options.fields ?? []
  const gapMs = options.segmentGapMs ?? DEFAULT_SEGMENT_GAP_MS
  const head =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<gpx version="1.1" creator="Tracker" xmlns="http://www.topografix.com/GPX/1/1" xmlns:tracker="${GPX_EXTENSIONS_NAMESPACE}"` +
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' +
    ' xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">\n' +
    `<metadata>${options.title ? `<name>${escapeXml(options.title)}</name>` : ''}<time>${isoTime(options.createdAt ?? new Date())}</time></metadata>\n`
  yield head
  let lastTime = Number.NaN
  let inSegment = false
  for await (const event of byTracker(pages, options.trackers)) {
    if (event.kind === 'start') {
      lastTime = Number.NaN
      inSegment = false
      yield `<trk><name>${escapeXml(event.tracker.name)}</name><extensions><tracker:trackerId>${escapeXml(event.tracker.id)}</tracker:trackerId></extensions>\n`
    } else if (event.kind === 'end') {
      yield inSegment ? '</trkseg></trk>\n' : '</trk>\n'
    } else {
      let out = ''
      for (const p of event.points) {
        const t = p.time.getTime()
        if (!inSegment) {
          out += '<trkseg>\n'
          inSegment = true
        } else if (t - lastTime > gapMs) {
          out += '</trkseg>\n<trkseg>\n'
        }
        lastTime = t
        out += `<trkpt lat="${decimal(p.latitude)}" lon="${decimal(normalizeLongitude(p.longitude))}"><time>${isoTime(p.time)}</time><extensions>`
        if (p.accuracy !== null) out += `<tracker:accuracy>${decimal(p.accuracy)}</tracker:accuracy>`
        if (p.city !== null) out += `<tracker:city>${escapeXml(p.city)}</tracker:city>`
        for (let i = 0; i < fields.length; i++) out += extension(fields[i]!.name, p.extra[i] ?? null)
        out += '</extensions></trkpt>\n'
        if (out.length >= CHUNK_CHARS) {
          yield out
          out = ''
        }
      }
      if (out) yield out
    }
  }
  yield '</gpx>\n'
}
