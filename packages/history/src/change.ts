import { type Database, type Kysely, REFRESH_REQUEST_CHANNEL, sql } from '@tracker/db'
import { alignToDays, mergeWindows, type TimeWindow } from './windows.ts'

/**
 * What changed in the raw reports: a window, and the trackers whose reports changed in it (null:
 * any tracker). Sent on refresh_location_history by the insert trigger, update_nearest_city,
 * migrate_nearest_city_data, the importer and the API, always through the database's one encoder
 * `history_change_payload` (bounded under NOTIFY's 8000-byte limit: too many trackers fall back to
 * the window alone).
 */
export interface HistoryChange {
  window: TimeWindow
  trackers: readonly string[] | null
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * A refresh_location_history payload. Null when it names no usable window: the seed's
 * `pg_notify('refresh_location_history', 'test')`, or anything malformed, which asks for a look at
 * the recent history of every tracker rather than being dropped. Ids that are not uuids are left
 * out; a list with none left means every tracker.
 */
export function parseHistoryChange(payload: string): HistoryChange | null {
  if (!payload.startsWith('{')) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return null
  }
  const { from, to, trackers } = (parsed ?? {}) as { from?: unknown; to?: unknown; trackers?: unknown }
  if (typeof from !== 'string' || typeof to !== 'string') return null
  const a = new Date(from)
  const b = new Date(to)
  if (Number.isNaN(a.getTime()) || Number.isNaN(b.getTime())) return null
  const window = a <= b ? { from: a, to: b } : { from: b, to: a }
  const ids = Array.isArray(trackers)
    ? trackers
        .filter((id): id is string => typeof id === 'string' && UUID.test(id))
        .map((id) => id.toLowerCase())
    : []
  return { window, trackers: ids.length > 0 ? ids : null }
}

/** Announces a change on refresh_location_history, encoded by the database's `history_change_payload`. */
export async function notifyHistoryChange(
  db: Kysely<Database>,
  change: HistoryChange,
  reason: string,
): Promise<void> {
  const trackers = change.trackers ? sql`${[...change.trackers]}::uuid[]` : sql`NULL::uuid[]`
  await sql`SELECT pg_notify(${REFRESH_REQUEST_CHANNEL}, history_change_payload(
    ${change.window.from.toISOString()}::timestamptz, ${change.window.to.toISOString()}::timestamptz,
    ${trackers}, ${reason}))`.execute(db)
}

/** Trackers kept one by one in a pending change set; past this a set falls back to "every tracker". */
const MAX_TRACKED = 20_000
/** Distinct day windows an upkeep runs one statement each for; past this they merge into one. */
const MAX_GROUPS = 16

/** One upkeep statement's target: a window of whole days, for some trackers or all. */
export interface UpkeepTarget {
  window: TimeWindow
  trackers: string[] | null
}

/**
 * Changes merged while they wait for their turn: per tracker, the smallest window covering all of
 * its changes, so a late report of one tracker does not widen another tracker's window; plus one
 * window for changes that named no trackers.
 */
export class ChangeSet {
  readonly #byTracker = new Map<string, TimeWindow>()
  #everyTracker: TimeWindow | null = null
  /** The changes' windows as they came (not widened to days): what the aggregates refresh. */
  #span: TimeWindow | null = null
  #changes = 0

  get size(): number {
    return this.#changes
  }

  get empty(): boolean {
    return this.#changes === 0
  }

  add(change: HistoryChange): void {
    this.#changes += 1
    this.#span = cover(this.#span, change.window)
    this.#merge(alignToDays(change.window), change.trackers)
  }

  /** Takes in another set's changes (a failed batch going back into the queue). */
  addAll(other: ChangeSet): void {
    this.#changes += other.#changes
    if (other.#span) this.#span = cover(this.#span, other.#span)
    for (const [id, window] of other.#byTracker) this.#merge(window, [id])
    if (other.#everyTracker) this.#merge(other.#everyTracker, null)
  }

  #merge(window: TimeWindow, trackers: readonly string[] | null): void {
    if (!trackers || this.#byTracker.size + trackers.length > MAX_TRACKED) {
      this.#everyTracker = cover(this.#everyTracker, window)
      if (trackers) this.#foldTrackersIntoEvery()
      return
    }
    for (const id of trackers) this.#byTracker.set(id, cover(this.#byTracker.get(id) ?? null, window))
  }

  /**
   * The span every change lies in, as announced (not widened to days): what the aggregates refresh,
   * since they know no trackers and a refresh widens to its own buckets.
   */
  span(): TimeWindow | null {
    return this.#span
  }

  /** The trackers named (empty when only window-wide changes were added). */
  trackers(): string[] {
    return [...this.#byTracker.keys()]
  }

  /**
   * Upkeep statements: trackers grouped by identical day windows (an import touches the same days
   * for many trackers), trackers inside the every-tracker window dropped (covered by it).
   */
  targets(): UpkeepTarget[] {
    const every = this.#everyTracker
    const groups = new Map<string, UpkeepTarget>()
    for (const [id, window] of this.#byTracker) {
      if (every && every.from <= window.from && every.to >= window.to) continue
      const key = `${window.from.getTime()}/${window.to.getTime()}`
      const group = groups.get(key) ?? { window, trackers: [] }
      group.trackers!.push(id)
      groups.set(key, group)
    }
    let targets = [...groups.values()]
    if (targets.length > MAX_GROUPS) {
      const trackers = targets.flatMap((t) => t.trackers!)
      const window = targets.reduce<TimeWindow | null>((span, t) => cover(span, t.window), null)!
      targets = [{ window, trackers }]
    }
    return every ? [{ window: every, trackers: null }, ...targets] : targets
  }

  #foldTrackersIntoEvery(): void {
    for (const window of this.#byTracker.values()) this.#everyTracker = cover(this.#everyTracker, window)
    this.#byTracker.clear()
  }
}

const cover = (a: TimeWindow | null, b: TimeWindow): TimeWindow => mergeWindows(a, b)!
