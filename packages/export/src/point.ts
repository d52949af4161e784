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

/** A page of points as a database cursor hands them out. */
export type ExportPages = AsyncIterable<readonly ExportPoint[]> | Iterable<readonly ExportPoint[]>

/**
 * Decimal text for a coordinate or number: never exponent notation (xsd:decimal and KML
 * coordinates have none), never "-0".
 */
export function decimal(value: number): string {
  if (value === 0) return '0'
  const text = String(value)
  if (!text.includes('e')) return text
  // |value| < 1e-6 or >= 1e21: fixed notation with as many digits as it needs.
  return value.toFixed(20).replace(/\.?0+$/, '')
}

export const isoTime = (time: Date) => time.toISOString()

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
