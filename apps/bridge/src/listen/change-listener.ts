import { setTimeout as sleep } from 'node:timers/promises'
import type { NotificationListener, TrackerDatabase } from '@tracker/db'
import type { Logger } from 'pino'

export interface ChangeListenerOptions {
  database: TrackerDatabase
  channel: string
  logger: Logger
  onNotification(payload: string): void
  /** After the first connect and every reconnect: notifications sent meanwhile were lost, re-read all. */
  onCatchUp(reason: 'startup' | 'reconnect'): void
  onConnectionChange?(connected: boolean): void
}

export interface ListenerStatus {
  connected: boolean
  /** When the current state (connected or not) began. */
  since: string
  reconnects: number
}

/**
 * Keeps a LISTEN connection up (as the refresher does). Reconnection after a loss is the database
 * layer's (pg-listen, retrying forever; PGlite's own LISTEN when embedded); a first connect that
 * fails is retried here, with backoff, until it works.
 */
export class ChangeListener {
  readonly #o: ChangeListenerOptions
  readonly #stop = new AbortController()
  #listener: NotificationListener | null = null
  #connecting: Promise<void> | null = null
  #connected = false
  #since = new Date()
  #reconnects = 0

  constructor(options: ChangeListenerOptions) {
    this.#o = options
  }

  status(): ListenerStatus {
    return { connected: this.#connected, since: this.#since.toISOString(), reconnects: this.#reconnects }
  }

  /** Resolves after the first attempt; if that failed, attempts go on in the background. */
  async start(): Promise<void> {
    if (await this.#attempt()) return
    this.#connecting = this.#retry()
  }

  async #retry(): Promise<void> {
    for (let attempt = 1; !this.#stop.signal.aborted; attempt++) {
      try {
        await sleep(Math.min(500 * 2 ** (attempt - 1), 10_000), undefined, { signal: this.#stop.signal })
      } catch {
        return
      }
      if (await this.#attempt()) return
    }
  }

  async #attempt(): Promise<boolean> {
    const { database, channel, logger } = this.#o
    try {
      const listener = await database.listen(channel, {
        onNotification: (payload) => this.#o.onNotification(payload),
        onConnected: ({ reconnect }) => {
          this.#setConnected(true)
          if (reconnect) {
            // pg-listen has re-run LISTEN before it reports the reconnect: safe to re-read now.
            this.#reconnects += 1
            logger.info({ event: 'listener_up', channel, reconnect }, `listening on ${channel} again`)
            this.#o.onCatchUp('reconnect')
          }
        },
        onDisconnected: () => {
          this.#setConnected(false)
          logger.warn({ event: 'listener_down', channel }, 'LISTEN connection lost; reconnecting')
        },
        onError: (error) => logger.error({ err: error, channel }, 'LISTEN connection error'),
      })
      if (this.#stop.signal.aborted) {
        await listener.close()
        return true
      }
      this.#listener = listener
      this.#setConnected(true)
      logger.info({ event: 'listener_up', channel }, `listening on ${channel}`)
      // The first read waits for LISTEN itself, so nothing committed in between can slip through.
      this.#o.onCatchUp('startup')
      return true
    } catch (error) {
      logger.error({ err: error, channel }, 'could not LISTEN; retrying')
      return false
    }
  }

  #setConnected(connected: boolean): void {
    if (this.#connected !== connected) {
      this.#since = new Date()
      this.#connected = connected
      this.#o.onConnectionChange?.(connected)
    }
  }

  /** UNLISTEN and close the connection; no more notifications after this resolves. */
  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#connecting
    const listener = this.#listener
    this.#listener = null
    if (listener) await listener.close()
    this.#setConnected(false)
  }
}
