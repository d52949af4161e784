import {
  byTracker,
  CHUNK_CHARS,
  decimal,
  type ExportOptions,
  type ExportPages,
  type ExtraValue,
  isoTime,
} from './point.ts'

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8'
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/

/** A field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, quote or line break. */
export function csvField(value: ExtraValue): string {
  if (value === null) return ''
  if (typeof value === 'number') return decimal(value)
  if (value instanceof Date) return isoTime(value)
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

/**
 * CSV (RFC 4180): a header row, CRLF line ends, one row per point: tracker_id, tracker_name, time
 * (UTC ISO 8601), latitude, longitude, accuracy_m, city, then the extra fields; an empty field is
 * null. Text is written as it is (no spreadsheet-formula guarding: the data stays exact).
 */
export async function* writeCsv(pages: ExportPages, options: ExportOptions): AsyncGenerator<string> {
  const fields = options.fields ?? []
  const header = [
    'tracker_id',
    'tracker_name',
    'time',
    'latitude',
    'longitude',
    'accuracy_m',
    'city',
    ...fields.map((f) => f.column),
  ]
  yield `${header.map(csvField).join(',')}\r\n`
  for await (const event of byTracker(pages, options.trackers)) {
    if (event.kind !== 'points') continue
    const prefix = `${csvField(event.tracker.id)},${csvField(event.tracker.name)},`
    let out = ''
    for (const p of event.points) {
      out += `${prefix}${isoTime(p.time)},${decimal(p.latitude)},${decimal(p.longitude)},${csvField(p.accuracy)},${csvField(p.city)}`
      for (let i = 0; i < fields.length; i++) out += `,${csvField(p.extra[i] ?? null)}`
      out += '\r\n'
      if (out.length >= CHUNK_CHARS) {
        yield out
        out = ''
      }
    }
    if (out) yield out
  }
}
