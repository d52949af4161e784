import type { Database, Kysely, ListenHandlers, NotificationListener } from '@tracker/db'
import type { Logger } from 'pino'
import { ALERT_OUTBOX_CHANNEL, msUntilNextDue } from '../outbox/alert-outbox.repository.ts'
import type { Deliverer, DeliveryPass } from './deliverer.ts'

export interface DeliveryWorkerOptions {
  deliverer: Deliverer
  db: Kysely<Database>
  logger: Logger
  /** The longest sleep between passes when nothing is due sooner. */
  pollIntervalMs: number
  /**
   * LISTEN on the outbox channel (TrackerDatabase.listen): a writer that calls notifyOutbox in its
   * transaction wakes every deliverer as it commits. Without it, wake() and the poll interval.
   */
  listen?(channel: string, handlers: ListenHandlers): Promise<NotificationListener>
  onPass?(pass: DeliveryPass): void
}

export interface DeliveryWorkerStatus {
  running: boolean
  passes: number
  lastPassAt: string | null
  /** The last pass's error while passes keep failing (the database unreachable); null once one works. */
  lastError: string | null
}

/** Waits after a failed pass: doubling from 1 s up to the poll interval. */
const ERROR_BACKOFF_MS = 1000
/** A pass that found nothing when something seemed due waits at least this (ties with the clock). */
const MIN_SLEEP_MS = 50

/**
 * Runs the deliverer: a pass, then another at once while passes find work, else a sleep until the
 * next row is due, the poll interval, a wake() or a notification, whichever comes first. stop()
 * lets the pass in flight finish (its sends complete and are recorded), so nothing is left
 * half-recorded; only a killed process leaves leases to run out.
 */
export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions
  #loop: Promise<void> | null = null
  #stopping = false
  #woken = false
  #wakeSleeper: (() => void) | null = null
  #listener: NotificationListener | null = null
  #passes = 0
  #lastPassAt: Date | null = null
  #lastError: string | null = null
  #errorStreak = 0

  constructor(options: DeliveryWorkerOptions) {
    this.#o = options
  }

  async start(): Promise<void> {
    if (this.#loop) return
    if (this.#o.listen) {
      this.#listener = await this.#o.listen(ALERT_OUTBOX_CHANNEL, {
        onNotification: () => this.wake(),
        // Notifications sent while not listening are lost: look again.
        onConnected: () => this.wake(),
        onError: (error) =>
          this.#o.logger.warn({ err: error }, 'alert delivery: the outbox notification listener failed'),
      })
    }
    this.#loop = this.#run()
  }

  /** Look for due rows now (e.g. right after outbox rows were committed in this process). */
  wake(): void {
    this.#woken = true
    this.#wakeSleeper?.()
  }

  status(): DeliveryWorkerStatus {
    return {
      running: this.#loop !== null && !this.#stopping,
      passes: this.#passes,
      lastPassAt: this.#lastPassAt?.toISOString() ?? null,
      lastError: this.#lastError,
    }
  }

  /** Finishes the pass in flight (sends and records), then stops; once, however often asked. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#wakeSleeper?.()
    await this.#loop
    await this.#listener?.close().catch(() => {})
    this.#listener = null
  }

  async #run(): Promise<void> {
    const { logger } = this.#o
    while (!this.#stopping) {
      this.#woken = false
      let sleepMs: number
      try {
        const pass = await this.#o.deliverer.deliverDue()
        this.#passes++
        this.#lastPassAt = new Date()
        this.#lastError = null
        this.#errorStreak = 0
        this.#o.onPass?.(pass)
        // Each channel's next row may be due now that its previous one is settled.
        if (pass.leased > 0) continue
        const untilDue = await msUntilNextDue(this.#o.db)
        sleepMs =
          untilDue === null
            ? this.#o.pollIntervalMs
            : Math.min(this.#o.pollIntervalMs, Math.max(MIN_SLEEP_MS, untilDue))
      } catch (error) {
        this.#lastError = (error as Error).message
        sleepMs = Math.min(this.#o.pollIntervalMs, ERROR_BACKOFF_MS * 2 ** this.#errorStreak)
        this.#errorStreak++
        logger.warn({ err: error, retryInMs: sleepMs }, 'alert delivery pass failed')
      }
      if (this.#woken || this.#stopping) continue
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => finish(), sleepMs)
        const finish = () => {
          clearTimeout(timer)
          this.#wakeSleeper = null
          resolve()
        }
        this.#wakeSleeper = finish
      })
    }
  }
}
