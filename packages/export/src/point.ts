/** One exported location: a history point or a raw report, of one tracker. */
export interface ExportPoint {
  trackerId: string
  time: Date
  latitude: number
  longitude: number
  /** Horizontal accuracy in metres. */
  accuracy: number | null
  city: string | null
  /** The values of the export's `fields`, in their order. */
  extra: readonly ExtraValue[]
}

export type ExtraValue = string | number | Date | null

/** A column beyond time, position, accuracy and city (e.g. a history point's report count). */
export interface ExtraField {
  /** camelCase: GeoJSON property, KML Data name, GPX extension element. */
  name: string
  /** The CSV header (snake_case). */
  column: string
}

export interface ExportTracker {
  id: string
  name: string
}

export interface ExportOptions {
  /** Every tracker of the export, in the order its points come (points are grouped by tracker). */
  trackers: readonly ExportTracker[]
  fields?: readonly ExtraField[]
  /** The document's title (GPX metadata name, KML Document name). */
  title?: string
  /** GPX: a new <trkseg> after a gap longer than this between two points (default 6 hours). */
  segmentGapMs?: number
  /** GPX metadata time: when the file was made (default now). */
  createdAt?: Date
}

/**
 * Characters of output a writer gathers before it hands them on. Smaller than V8's large-object
 * threshold (128 KiB): a page's document as one string (200-800 KB for 1,000 points) is allocated
 * straight in the old generation, which only a full collection frees. (Measured alone, this did not
 * change the export's memory: the growth was the number-string cache, see numberText.)
 */
export const CHUNK_CHARS = 16_384

/** A page of points as a database cursor hands them out. */
export type ExportPages = AsyncIterable<readonly ExportPoint[]> | Iterable<readonly ExportPoint[]>

/**
 * A number as String(value) writes it (the shortest text that reads back as the same number),
 * without V8's number-string cache: String(), templates and toString keep each result in that
 * cache, where it outlives young-generation collections and is promoted, so an export of a million
 * points left 100-150 MB of such strings in the old generation between full collections (measured
 * with the heap profiler's samples of what major collections free). JSON.stringify writes the
 * same text for a finite number and keeps nothing (and took 104 ns a double against String's 153).
 */
export function numberText(value: number): string {
  return Number.isFinite(value) ? JSON.stringify(value) : String(value)
}

/**
 * Decimal text for a coordinate or number: never exponent notation (xsd:decimal and KML
 * coordinates have none), never "-0".
 */
export function decimal(value: number): string {
  if (value === 0) return '0'
  const text = numberText(value)
  if (!text.includes('e')) return text
  // |value| < 1e-6 or >= 1e21: fixed notation with as many digits as it needs.
  return value.toFixed(20).replace(/\.?0+$/, '')
}

const DAY_MS = 86_400_000
/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the years toISOString writes with four digits. */
const FOUR_DIGIT_YEARS = [-62_167_219_200_000, 253_402_300_799_999] as const
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'))
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))
let cachedDay = Number.NaN
let cachedDate = ''

/**
 * time.toISOString(), the same text (UTC, milliseconds, "Z"), without its cost for every point:
 * the date part is kept while the points stay on one day and the time of day is put together from
 * digits (toISOString was 40% of the CSV writer's time). Other years and invalid dates: toISOString.
 */
export function isoTime(time: Date): string {
  const ms = time.getTime()
  const day = Math.floor(ms / DAY_MS)
  if (day !== cachedDay) {
    if (!(ms >= FOUR_DIGIT_YEARS[0] && ms <= FOUR_DIGIT_YEARS[1])) return time.toISOString()
    cachedDate = time.toISOString().slice(0, 11)
    cachedDay = day
  }
  let rest = ms - day * DAY_MS
  const milli = rest % 1000
  rest = (rest - milli) / 1000
  const second = rest % 60
  rest = (rest - second) / 60
  const minute = rest % 60
  const hour = (rest - minute) / 60
  return `${cachedDate}${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}.${THREE_DIGITS[milli]}Z`
}

export type TrackerEvent =
  | { kind: 'start'; tracker: ExportTracker }
  | { kind: 'points'; tracker: ExportTracker; points: readonly ExportPoint[] }
  | { kind: 'end'; tracker: ExportTracker }

/**
 * The pages as events per tracker, every tracker of `trackers` started and ended in that order
 * (those without points too); points must come grouped by tracker in that order.
 */
export async function* byTracker(
  pages: ExportPages,
  trackers: readonly ExportTracker[],
): AsyncGenerator<TrackerEvent> {
  const index = new Map(trackers.map((t, i) => [t.id, i]))
  let current = -1
  function* advanceTo(target: number): Generator<TrackerEvent> {
    while (current < target) {
      if (current >= 0) yield { kind: 'end', tracker: trackers[current]! }
      current++
      if (current < trackers.length) yield { kind: 'start', tracker: trackers[current]! }
    }
  }
  for await (const page of pages) {
    let start = 0
    for (let i = 0; i <= page.length; i++) {
      let at = current
      if (i < page.length) {
        const id = page[i]!.trackerId
        const found = index.get(id)
        if (found === undefined) throw new Error(`a point of tracker ${id}, which is not in the export`)
        at = found
      }
      if (at !== current || i === page.length) {
        if (i > start) {
          const points = start === 0 && i === page.length ? page : page.slice(start, i)
          yield { kind: 'points', tracker: trackers[current]!, points }
        }
        if (at < current) throw new Error('points must come grouped by tracker, in the order of trackers')
        yield* advanceTo(at)
        start = i
      }
    }
  }
  yield* advanceTo(trackers.length)
}
