import { setTimeout as sleep } from 'node:timers/promises'

const HOUR_MS = 3_600_000

/**
 * A hard ceiling on requests to the report endpoint: at most `perHour` in any sliding hour, across
 * every tracker and every kind of run (polling too fast gets Apple accounts banned). It remembers
 * the times of the requests of the last hour; `restore` seeds it at start from the ones recorded
 * before a restart, so a restart does not reset it.
 */
export class RequestBudget {
  readonly perHour: number
  readonly #times: number[] = []

  constructor(perHour: number) {
    if (!Number.isInteger(perHour) || perHour < 1)
      throw new RangeError(
        `the request budget must be a whole number of requests per hour >= 1, got ${perHour}`,
      )
    this.perHour = perHour
  }

  restore(times: readonly Date[]): void {
    for (const t of times) this.#times.push(t.getTime())
    this.#times.sort((a, b) => a - b)
  }

  #trim(now: number): void {
    while (this.#times.length > 0 && this.#times[0]! <= now - HOUR_MS) this.#times.shift()
  }

  /** Requests that may still be made now. */
  available(now: Date): number {
    this.#trim(now.getTime())
    return Math.max(0, this.perHour - this.#times.length)
  }

  /** Records one request made at `now`; false (and nothing recorded) when the budget is spent. */
  take(now: Date): boolean {
    if (this.available(now) === 0) return false
    this.#times.push(now.getTime())
    return true
  }

  /** When the next request may be made (now if one is available). */
  nextFreeAt(now: Date): Date {
    if (this.available(now) > 0) return now
    return new Date(this.#times[0]! + HOUR_MS)
  }

  /** When the oldest request of the window leaves it, freeing one more (null: none recorded). */
  nextReleaseAt(now: Date): Date | null {
    this.#trim(now.getTime())
    return this.#times.length > 0 ? new Date(this.#times[0]! + HOUR_MS) : null
  }

  /** Requests made in the hour before `now`. */
  used(now: Date): number {
    this.#trim(now.getTime())
    return this.#times.length
  }

  /**
   * Waits until a request may be made, then records it (real time; `onTaken` persists it). Rejects
   * with the signal's reason when the caller stops while waiting.
   */
  async acquire(
    options: { clock?: () => Date; signal?: AbortSignal; onTaken?: (at: Date) => Promise<void> } = {},
  ) {
    const clock = options.clock ?? (() => new Date())
    for (;;) {
      options.signal?.throwIfAborted()
      const now = clock()
      if (this.take(now)) {
        await options.onTaken?.(now)
        return
      }
      const waitMs = Math.max(1, this.nextFreeAt(now).getTime() - now.getTime())
      try {
        await sleep(waitMs, undefined, options.signal ? { signal: options.signal } : {})
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason
        throw error
      }
    }
  }
}
