import type { Database, Kysely } from '@tracker/db'
import type { Logger } from 'pino'
import type { EvaluationCounts } from './evaluate-tracker.ts'
import { evaluateNotSeen, evaluatePending } from './evaluator.ts'

export interface EvaluatorLoopOptions {
  db: Kysely<Database>
  logger: Logger
  /** How often queued spans are evaluated and not-seen rules checked without being woken. */
  intervalMs: number
  now?: () => Date
  /** Told after every pass that changed something (metrics). */
  onPass?: (counts: EvaluationCounts & { trackers: number }) => void
}

/**
 * Runs the evaluator: a pass at start (work queued before a crash), one whenever wake() is called
 * (after an import commits reports), and one every interval (not-seen rules need time to pass, and a
 * pass that failed is retried). Passes never overlap; a wake during a pass asks for one more.
 */
export class EvaluatorLoop {
  readonly #options: EvaluatorLoopOptions
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #again = false
  #stopped = false

  constructor(options: EvaluatorLoopOptions) {
    this.#options = options
  }

  start(): void {
    this.#timer = setInterval(() => this.wake(), this.#options.intervalMs)
    this.#timer.unref()
    this.wake()
  }

  /** Evaluate now (or right after the pass in flight). */
  wake(): void {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null
    })
  }

  /** Resolves when the passes asked for so far are done (tests, --once). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  /** Stops waking; the pass in flight finishes (its transactions commit or roll back whole). */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    await this.idle()
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false
      await this.#pass()
    } while (this.#again && !this.#stopped)
  }

  async #pass(): Promise<void> {
    const { db, logger } = this.#options
    try {
      const pending = await evaluatePending(db)
      const notSeen = await evaluateNotSeen(db, this.#options.now?.() ?? new Date())
      const counts = {
        trackers: pending.trackers,
        created: pending.created + notSeen.created,
        refined: pending.refined,
        cancelled: pending.cancelled,
        queued: pending.queued + notSeen.queued,
      }
      if (counts.created + counts.refined + counts.cancelled > 0) logger.info(counts, 'alerts evaluated')
      this.#options.onPass?.(counts)
    } catch (error) {
      // The failed tracker's transaction rolled back and its queue stays: the next pass retries it.
      logger.error({ err: error }, 'alert evaluation failed; retrying on the next pass')
    }
  }
}
