import { randomUUID } from 'node:crypto'
import {
  type Database,
  HISTORY_REFRESHED_CHANNEL,
  type Kysely,
  type Logger,
  type NotificationListener,
  REFRESH_REQUEST_CHANNEL,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { parseHistoryChange } from '../change.ts'
import type { TimeWindow } from '../windows.ts'

/**
 * A refresh asked of the refresher (the API's refreshLocationHistoryAggregates): both aggregates
 * over `window`, then location_history for every tracker in its days, as HistoryEngine.refreshWindow
 * does. The API's database role needs no ownership of the aggregates: it only sends this.
 *
 * Sent on refresh_location_history through the database's one encoder, `history_change_payload`
 * (reason `refresh_request`, no trackers), with the request's id and how long the refresher may wait
 * for the shared refresh lock on its behalf: `{"from", "to", "reason": "refresh_request",
 * "request": uuid, "lockWaitMs": n}`. A refresher of an older version takes it as a change of every
 * tracker in the window and never answers: the caller times out.
 */
export interface RefreshRequest {
  id: string
  window: TimeWindow
  lockWaitMs: number
}

export const REFRESH_REQUEST_REASON = 'refresh_request'

/** At most this long for the refresher to wait for the lock, whatever a request asks. */
const MAX_LOCK_WAIT_MS = 60 * 60 * 1000
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export async function notifyRefreshRequest(db: Kysely<Database>, request: RefreshRequest): Promise<void> {
  await sql`SELECT pg_notify(${REFRESH_REQUEST_CHANNEL}, (history_change_payload(
    ${request.window.from.toISOString()}::timestamptz, ${request.window.to.toISOString()}::timestamptz,
    NULL::uuid[], ${REFRESH_REQUEST_REASON})::jsonb
    || jsonb_build_object('request', ${request.id}::text, 'lockWaitMs', ${request.lockWaitMs}::bigint))::text)`.execute(
    db,
  )
}

/** The request a refresh_location_history payload carries; null when it is a change, not a request. */
export function parseRefreshRequest(payload: string): RefreshRequest | null {
  if (!payload.includes(REFRESH_REQUEST_REASON)) return null
  let parsed: { reason?: unknown; request?: unknown; lockWaitMs?: unknown }
  try {
    parsed = JSON.parse(payload)
  } catch {
    return null
  }
  if (parsed?.reason !== REFRESH_REQUEST_REASON) return null
  if (typeof parsed.request !== 'string' || !REQUEST_ID.test(parsed.request)) return null
  const change = parseHistoryChange(payload)
  if (!change) return null
  const wait = typeof parsed.lockWaitMs === 'number' && parsed.lockWaitMs >= 0 ? parsed.lockWaitMs : 60_000
  return { id: parsed.request, window: change.window, lockWaitMs: Math.min(wait, MAX_LOCK_WAIT_MS) }
}

/**
 * How a refresher answers a request, on location_history_refreshed (`object: "refresh_request"`):
 * `accepted` as soon as one took it (the caller's sign that a refresher runs), then exactly one of
 * `refreshed` (both aggregates and location_history over the window, committed), `busy` (the refresh
 * lock stayed taken for the request's lockWaitMs, or other sessions kept refreshing the same range),
 * `unavailable` (the lock service could not be reached), `cancelled` (the refresher stopped first),
 * `failed` (with the error's message).
 */
export type RefreshAnswerOutcome = 'accepted' | 'refreshed' | 'busy' | 'unavailable' | 'cancelled' | 'failed'

export interface RefreshAnswer {
  request: string
  outcome: RefreshAnswerOutcome
  error?: string
}

const OUTCOMES = new Set<RefreshAnswerOutcome>([
  'accepted',
  'refreshed',
  'busy',
  'unavailable',
  'cancelled',
  'failed',
])

export async function notifyRefreshAnswer(db: Kysely<Database>, answer: RefreshAnswer): Promise<void> {
  const payload = JSON.stringify({
    object: 'refresh_request',
    request: answer.request,
    outcome: answer.outcome,
    // Far under NOTIFY's 8000 bytes whatever the error says.
    ...(answer.error ? { error: answer.error.slice(0, 500) } : {}),
  })
  await sql`SELECT pg_notify(${HISTORY_REFRESHED_CHANNEL}, ${payload})`.execute(db)
}

/** The answer a location_history_refreshed payload carries; null for every other notification. */
export function parseRefreshAnswer(payload: string): RefreshAnswer | null {
  if (!payload.includes('"refresh_request"')) return null
  try {
    const parsed = JSON.parse(payload) as {
      object?: unknown
      request?: unknown
      outcome?: unknown
      error?: unknown
    }
    if (parsed.object !== 'refresh_request' || typeof parsed.request !== 'string') return null
    if (!OUTCOMES.has(parsed.outcome as RefreshAnswerOutcome)) return null
    return {
      request: parsed.request,
      outcome: parsed.outcome as RefreshAnswerOutcome,
      ...(typeof parsed.error === 'string' ? { error: parsed.error } : {}),
    }
  } catch {
    return null
  }
}

/** No refresher answered in time: none took the request (`accepted` false), or it did not finish. */
export class RefreshTimeoutError extends Error {
  readonly code = 'REFRESH_TIMEOUT'
  readonly accepted: boolean
  readonly waitedMs: number
  constructor(accepted: boolean, waitedMs: number) {
    super(
      accepted
        ? `the refresher took the request but did not finish it within ${waitedMs} ms`
        : `no refresher took the request within ${waitedMs} ms`,
    )
    this.accepted = accepted
    this.waitedMs = waitedMs
  }
}

/** The answers could not be listened for (the database refused the LISTEN connection). */
export class RefreshRequestUnavailableError extends Error {
  readonly code = 'REFRESH_REQUEST_UNAVAILABLE'
}

export interface RefreshRequesterOptions {
  database: TrackerDatabase
  logger: Logger
  /** How long a refresher has to take a request (its `accepted` answer). */
  acceptTimeoutMs: number
  /** How long a request may take in all, from sending it to its final answer. */
  timeoutMs: number
}

interface Waiter {
  accepted: boolean
  answered(answer: RefreshAnswer): void
}

/**
 * Asks the refresher for refreshes and waits for their answers: one LISTEN on
 * location_history_refreshed per process (opened at the first request, kept until close), answers
 * matched to their request by its id, so another request's answer (a concurrent mutation, another
 * replica's) is never taken for this one's. Runs no refresh statement itself.
 */
export class RefreshRequester {
  readonly #o: RefreshRequesterOptions
  readonly #waiting = new Map<string, Waiter>()
  #listener: Promise<NotificationListener> | null = null
  #connected = false
  #closed = false

  constructor(options: RefreshRequesterOptions) {
    this.#o = options
  }

  /**
   * Sends the request and resolves with the refresher's final answer (anything but `accepted`).
   * Throws RefreshTimeoutError when no refresher took it within acceptTimeoutMs or it was not
   * answered within timeoutMs; the signal's reason when aborted. Either way nothing is left waiting
   * here; a refresher that took it still finishes it (a refresh is idempotent).
   */
  async request(
    window: TimeWindow,
    options: { lockWaitMs: number; signal?: AbortSignal; id?: string },
  ): Promise<RefreshAnswer> {
    if (this.#closed) throw new RefreshRequestUnavailableError('the refresh requester is closed')
    options.signal?.throwIfAborted()
    await this.#listen()
    if (!this.#connected) {
      throw new RefreshRequestUnavailableError(
        'not listening for refresh answers: the database connection is down',
      )
    }
    const id = options.id ?? randomUUID()
    const started = Date.now()
    const { promise, resolve, reject } = Promise.withResolvers<RefreshAnswer>()
    // Handled below, after the request is sent; a timeout may reject it before that.
    promise.catch(() => {})
    const timers: NodeJS.Timeout[] = []
    const fail = (error: unknown) => reject(error)
    const onAbort = () => fail(options.signal?.reason)
    // Listening and registered before the request is sent: an answer cannot come before either.
    this.#waiting.set(id, {
      accepted: false,
      answered(answer) {
        if (answer.outcome === 'accepted') {
          this.accepted = true
          clearTimeout(timers[0])
        } else resolve(answer)
      },
    })
    try {
      options.signal?.addEventListener('abort', onAbort, { once: true })
      timers.push(
        setTimeout(() => fail(new RefreshTimeoutError(false, Date.now() - started)), this.#o.acceptTimeoutMs),
        setTimeout(() => {
          fail(new RefreshTimeoutError(this.#waiting.get(id)?.accepted ?? false, Date.now() - started))
        }, this.#o.timeoutMs),
      )
      await notifyRefreshRequest(this.#o.database.db, { id, window, lockWaitMs: options.lockWaitMs })
      return await promise
    } finally {
      for (const timer of timers) clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      this.#waiting.delete(id)
    }
  }

  /** Requests waiting for their answer now. */
  get pending(): number {
    return this.#waiting.size
  }

  async #listen(): Promise<void> {
    this.#listener ??= this.#o.database
      .listen(HISTORY_REFRESHED_CHANNEL, {
        onNotification: (payload) => {
          const answer = parseRefreshAnswer(payload)
          if (answer) this.#waiting.get(answer.request)?.answered(answer)
        },
        onConnected: () => {
          this.#connected = true
        },
        onDisconnected: () => {
          // Answers sent meanwhile are lost: requests in flight time out, new ones are refused.
          this.#connected = false
        },
      })
      .then((listener) => {
        // LISTEN is in place once listen() resolves.
        this.#connected = true
        return listener
      })
      .catch((error: unknown) => {
        this.#listener = null
        this.#o.logger.warn({ err: error }, 'cannot listen for refresh answers')
        throw new RefreshRequestUnavailableError('cannot listen for refresh answers', { cause: error })
      })
    await this.#listener
  }

  /** Stops listening; requests still waiting time out or end with their signal. */
  async close(): Promise<void> {
    this.#closed = true
    const listener = this.#listener
    this.#listener = null
    this.#connected = false
    if (listener) await (await listener.catch(() => null))?.close()
  }
}
