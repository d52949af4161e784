import { nextTierChange } from '@tracker/history'

export interface ChangeFeedCacheOptions {
  /** How long an answer may be served at most; 0 turns the cache off. */
  ttlMs: number
  /** Bound on the summed weight of the answers held (points, bytes: the owner's unit). */
  maxWeight: number
  now?: () => number
}

interface Entry<T> {
  value: T
  weight: number
  expiresAt: number
}

export type CacheLookup = 'hit' | 'miss' | 'bypass'

/**
 * Answers read from location history (history pages, whole GraphQL responses), kept between
 * requests and dropped as soon as anything they were read from may have changed. It serves only
 * while a change feed is connected (`connected()`),
 * which calls `invalidate()` on every notification that the data changed: a new report, an
 * aggregate materialized, location_history rebuilt. Without a feed (not yet connected, or lost and
 * reconnecting, when notifications go missing) every request goes to the database.
 *
 * An answer also expires after `ttlMs` (what no notification announces: a server's background job
 * materializing an aggregate) and when the tier boundary next moves (`nextTierChange`: the days
 * an answer draws hourly change at midnight UTC).
 *
 * A query that started before an invalidation may have read the old data: `store` keeps its answer
 * only if no invalidation happened since its `generation()`.
 */
export class ChangeFeedCache<T> {
  readonly #ttlMs: number
  readonly #maxWeight: number
  readonly #now: () => number
  // Insertion order is recency order: a hit moves its entry to the end, eviction takes the front.
  readonly #entries = new Map<string, Entry<T>>()
  #weight = 0
  #generation = 0
  #connected = false

  constructor(options: ChangeFeedCacheOptions) {
    this.#ttlMs = options.ttlMs
    this.#maxWeight = options.maxWeight
    this.#now = options.now ?? Date.now
  }

  /** Serving: configured on and the change feed connected. */
  get serving(): boolean {
    return this.#ttlMs > 0 && this.#connected
  }

  get size(): number {
    return this.#entries.size
  }

  get weight(): number {
    return this.#weight
  }

  lookup(key: string): { result: CacheLookup; value?: T } {
    if (!this.serving) return { result: 'bypass' }
    const entry = this.#entries.get(key)
    if (!entry) return { result: 'miss' }
    if (entry.expiresAt <= this.#now()) {
      this.#delete(key, entry)
      return { result: 'miss' }
    }
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return { result: 'hit', value: entry.value }
  }

  /** Taken before the query runs, handed back to `store`. */
  generation(): number {
    return this.#generation
  }

  store(key: string, value: T, weight: number, generation: number): void {
    if (!this.serving || generation !== this.#generation || weight > this.#maxWeight) return
    const now = this.#now()
    const tierChange = nextTierChange(new Date(now)).getTime()
    const previous = this.#entries.get(key)
    if (previous) this.#delete(key, previous)
    this.#entries.set(key, { value, weight, expiresAt: Math.min(now + this.#ttlMs, tierChange) })
    this.#weight += weight
    for (const [oldestKey, oldest] of this.#entries) {
      if (this.#weight <= this.#maxWeight) break
      this.#delete(oldestKey, oldest)
    }
  }

  /** Something the answers were read from changed: forget them all. */
  invalidate(): void {
    this.#generation += 1
    this.#entries.clear()
    this.#weight = 0
  }

  /** The change feed is (again) connected: what happened while it was not is unknown, so start empty. */
  connected(): void {
    this.invalidate()
    this.#connected = true
  }

  /** The change feed is lost: notifications may go missing, so serve nothing until it is back. */
  disconnected(): void {
    this.#connected = false
    this.invalidate()
  }

  #delete(key: string, entry: Entry<T>): void {
    this.#entries.delete(key)
    this.#weight -= entry.weight
  }
}
