import { CoordinateBuffer, type Position } from './antimeridian.ts'
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

export const KML_CONTENT_TYPE = 'application/vnd.google-earth.kml+xml'

/** A value as XML text: dates as UTC ISO 8601, numbers as decimals, text escaped. */
const xmlText = (value: Exclude<ExtraValue, null>) =>
  value instanceof Date ? isoTime(value) : typeof value === 'number' ? decimal(value) : escapeXml(value)

/** `<Data name="…"><value>` for a name, put together once per field rather than once per point. */
const dataOpen = (name: string) => `<Data name="${escapeXml(name)}"><value>`
const DATA_CLOSE = '</value></Data>'
const ACCURACY_OPEN = dataOpen('accuracy')
const CITY_OPEN = dataOpen('city')

const data = (name: string, value: ExtraValue) =>
  value === null ? '' : `${dataOpen(name)}${xmlText(value)}${DATA_CLOSE}`

const coordinates = (line: Position[]) =>
  line.map(([lon, lat]) => `${decimal(lon)},${decimal(lat)}`).join(' ')

const lineString = (line: Position[]) =>
  `<LineString><tessellate>1</tessellate><coordinates>${coordinates(line)}</coordinates></LineString>`

/**
 * KML 2.2: a Folder per tracker holding a Placemark per point (its time as name and TimeStamp,
 * accuracy, city and the extra fields as ExtendedData) and then the tracker's track as a Placemark
 * with a LineString, a MultiGeometry of LineStrings where it crosses the antimeridian (cut as the
 * GeoJSON writer cuts it). The track's coordinates are kept until its tracker ends.
 */
export async function* writeKml(pages: ExportPages, options: ExportOptions): AsyncGenerator<string> {
  const fields = options.fields ?? []
  const fieldOpen = fields.map((f) => dataOpen(f.name))
  const line = new CoordinateBuffer()
  yield '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document>' +
    (options.title ? `<name>${escapeXml(options.title)}</name>` : '') +
    '\n'
  for await (const event of byTracker(pages, options.trackers)) {
    const name = escapeXml(event.tracker.name)
    if (event.kind === 'start') {
      yield `<Folder><name>${name}</name><ExtendedData>${data('trackerId', event.tracker.id)}</ExtendedData>\n`
    } else if (event.kind === 'end') {
      const lines = line.lines()
      line.clear()
      let out = ''
      if (lines.length > 0) {
        const geometry =
          lines.length === 1
            ? lineString(lines[0]!)
            : `<MultiGeometry>${lines.map(lineString).join('')}</MultiGeometry>`
        out += `<Placemark><name>${name}</name><ExtendedData>${data('kind', 'track')}${data('trackerId', event.tracker.id)}</ExtendedData>${geometry}</Placemark>\n`
      }
      yield `${out}</Folder>\n`
    } else {
      // Everything but the point's own values is the same for every point of the page.
      const before = `</when></TimeStamp><ExtendedData>${data('kind', 'point')}${data('trackerId', event.tracker.id)}${data('trackerName', event.tracker.name)}`
      let out = ''
      for (const p of event.points) {
        const time = isoTime(p.time)
        line.push(p.longitude, p.latitude)
        out += `<Placemark><name>${time}</name><TimeStamp><when>${time}${before}`
        if (p.accuracy !== null) out += `${ACCURACY_OPEN}${decimal(p.accuracy)}${DATA_CLOSE}`
        if (p.city !== null) out += `${CITY_OPEN}${escapeXml(p.city)}${DATA_CLOSE}`
        for (let i = 0; i < fields.length; i++) {
          const value = p.extra[i] ?? null
          if (value !== null) out += `${fieldOpen[i]}${xmlText(value)}${DATA_CLOSE}`
        }
        out += `</ExtendedData><Point><coordinates>${decimal(p.longitude)},${decimal(p.latitude)}</coordinates></Point></Placemark>\n`
        if (out.length >= CHUNK_CHARS) {
          yield out
          out = ''
        }
      }
      if (out) yield out
    }
  }
  yield '</Document>\n</kml>\n'
}
