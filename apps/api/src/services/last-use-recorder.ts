import type { Database, Logger } from '@tracker/db'
import type { Kysely } from 'kysely'
import { recordApiSessionUses } from '../repositories/api-session.repository.ts'
import { recordApiTokenUses } from '../repositories/api-token.repository.ts'

/** A use is written at most this often per token (and per session). */
export const LAST_USE_MIN_INTERVAL_MS = 60_000
type Write = (db: Kysely<Database>, uses: readonly { id: string; at: Date }[]) => Promise<void>

/** The uses of one kind of credential: the newest use not yet written, and when each was written. */
class Uses {
  readonly pending = new Map<string, Date>()
  readonly writtenAt = new Map<string, number>()
  readonly write: Write
  constructor(write: Write) {
    this.write = write
  }
}

/**
 * When tokens and sessions were last used (`last_used_at`), recorded off the request path: a request
 * only notes the use in memory; a timer writes what was noted, one UPDATE per kind for every token
 * (or session) at once, and `close()` writes the rest. A token is written at most once a minute by
 * this process, however many requests it makes, so `last_used_at` is right to a minute or so.
 * A failed write is logged and retried with the next one; no request ever waits for it.
 */
export class LastUseRecorder {
  readonly #db: Kysely<Database>
  readonly #logger: Logger
  readonly #minIntervalMs: number
  readonly #now: () => number
  readonly #tokens = new Uses(recordApiTokenUses)
  readonly #sessions = new Uses(recordApiSessionUses)
  readonly #timer: NodeJS.Timeout
  #flushing: Promise<void> = Promise.resolve()

  constructor(options: {
    db: Kysely<Database>
    logger: Logger
    minIntervalMs?: number
    /** How often what was used is written (never on a request's path). */
    flushEveryMs: number
    /** The clock (tests move it). */
    now?: () => number
  }) {
    this.#db = options.db
    this.#logger = options.logger
    this.#minIntervalMs = options.minIntervalMs ?? LAST_USE_MIN_INTERVAL_MS
    this.#now = options.now ?? Date.now
    this.#timer = setInterval(() => void this.flush(), options.flushEveryMs)
    this.#timer.unref()
  }

  tokenUsed(id: string): void {
    this.#note(this.#tokens, id)
  }

  sessionUsed(id: string): void {
    this.#note(this.#sessions, id)
  }

  #note(uses: Uses, id: string): void {
    const now = this.#now()
    if (uses.pending.has(id)) {
      uses.pending.set(id, new Date(now))
      return
    }
    const written = uses.writtenAt.get(id)
    if (written !== undefined && now - written < this.#minIntervalMs) return
    uses.pending.set(id, new Date(now))
  }

  /** Writes every use noted so far (one flush at a time; a second call waits for the first). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write())
    return this.#flushing
  }

  async #write(): Promise<void> {
    for (const uses of [this.#tokens, this.#sessions]) {
      const now = this.#now()
      // Written long enough ago: a new use may be written again (and the map stays small).
      for (const [id, at] of uses.writtenAt) if (now - at >= this.#minIntervalMs) uses.writtenAt.delete(id)
      if (uses.pending.size === 0) continue
      const batch = [...uses.pending].map(([id, at]) => ({ id, at }))
      uses.pending.clear()
      for (const { id } of batch) uses.writtenAt.set(id, now)
      try {
        await uses.write(this.#db, batch)
      } catch (error) {
        this.#logger.warn(
          { err: error, count: batch.length },
          'could not record when credentials were last used',
        )
        // Kept for the next write, unless a newer use was noted meanwhile.
        for (const { id, at } of batch) {
          uses.writtenAt.delete(id)
          if (!uses.pending.has(id)) uses.pending.set(id, at)
        }
      }
    }
  }

  /** Stops the timer and writes what is left (before the database closes). */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }
}
