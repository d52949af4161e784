/**
 * Live updates: the API's GraphQL subscriptions over one WebSocket to this page's own origin
 * (graphql-ws protocol). The browser sends the session cookie with the upgrade request, and the API
 * falls back to that cookie when connection_init carries no `authorization`, so the page sends an
 * empty connection_init and still never holds a token.
 *
 * The socket is a speed-up, not the source of truth: every (re)connection calls `onConnected` so the
 * page refetches what it shows (events sent while it was down are gone), and while it is down the
 * page keeps polling.
 */
import { type Client, createClient } from 'graphql-ws'
import { SignedOutError } from './client.ts'
import { TRACKER_FIELDS, type Tracker } from './queries.ts'

export type LiveState = 'connecting' | 'live' | 'offline'

export interface HistoryChange {
  trackerId: string
  /** The window that changed; null with `refetch`. */
  from: string | null
  to: string | null
  /** The window is not known (the API's listener reconnected, or events were dropped): refetch all. */
  refetch: boolean
  reason: 'REPORTS' | 'HISTORY_REFRESHED' | 'RECONNECTED' | 'OVERFLOW'
}

export interface LiveOptions {
  onState(state: LiveState): void
  /** Every acknowledged (re)connection, the first included: whatever is shown may be out of date. */
  onConnected(): void
  /** The API closed the socket with 4401: the session was signed out, expired, or its token revoked. */
  onSignedOut(error: SignedOutError): void
}

/** A GraphQL error the API sent for one subscription (it ends that subscription, not the socket). */
export interface LiveError {
  message: string
  extensions?: { code?: string }
}

interface Subscription {
  query: string
  variables: Record<string, unknown>
  next(data: unknown): void
  failed(errors: LiveError[]): void
  dispose?: () => void
}

/** graphql-ws' code for refused credentials, which it never retries. */
const CLOSE_UNAUTHORIZED = 4401
/** Longest wait between two reconnection attempts: a restarted API is found again within this. */
const MAX_RETRY_WAIT_MS = 30_000
/**
 * graphql-ws gives up on some closes (4429 too many sockets or failed attempts, 4403, protocol
 * errors): polling covers for it, and a fresh client tries again this much later.
 */
export const RESTART_AFTER_MS = 60_000

/** Exponential backoff from 1 s, capped, with up to a second of jitter so tabs do not reconnect in step. */
export function retryDelay(retries: number, random = Math.random): number {
  return Math.min(MAX_RETRY_WAIT_MS, 1_000 * 2 ** retries) + Math.floor(random() * 1_000)
}

/** ws: for a page served over http:, wss: for https:; same host, so the cookie goes with it. */
export function liveUrl(page: { protocol: string; host: string }): string {
  return `${page.protocol === 'https:' ? 'wss:' : 'ws:'}//${page.host}/graphql`
}

const isCloseEvent = (value: unknown): value is { code: number; reason: string } =>
  typeof value === 'object' && value !== null && 'code' in value && 'reason' in value

export class LiveUpdates {
  private client: Client | undefined
  private readonly subscriptions = new Set<Subscription>()
  private restartTimer: number | undefined
  private stopped = false
  private current: LiveState = 'connecting'

  private readonly options: LiveOptions
  private readonly url: string

  constructor(options: LiveOptions, url = liveUrl(location)) {
    this.options = options
    this.url = url
  }

  get state(): LiveState {
    return this.current
  }

  start(): void {
    if (this.client || this.stopped) return
    const client: Client = createClient({
      url: this.url,
      // Connected while the page is open, subscriptions or not: the indicator means something.
      lazy: false,
      // Forever, with backoff: an API restart or a network outage ends, and the page should notice.
      retryAttempts: Number.POSITIVE_INFINITY,
      retryWait: (retries) => new Promise((resolve) => window.setTimeout(resolve, retryDelay(retries))),
      // A cookie from another origin (4403) will not become acceptable by retrying soon.
      shouldRetry: (event) => !(isCloseEvent(event) && event.code === 4403),
      onNonLazyError: (error) => this.gaveUp(client, error),
      on: {
        connected: () => {
          if (client !== this.client) return
          this.setState('live')
          this.options.onConnected()
        },
        closed: (event) => {
          if (client !== this.client) return
          if (isCloseEvent(event) && event.code === CLOSE_UNAUTHORIZED) {
            this.stop()
            this.options.onSignedOut(new SignedOutError(event.reason || 'Your session has ended'))
            return
          }
          this.setState('offline')
        },
      },
    })
    this.client = client
    for (const subscription of this.subscriptions) this.attach(subscription)
  }

  /**
   * Subscribes for as long as the page wants it (through reconnections and restarts); returns the
   * function that ends it. `failed` gets the API's errors for this subscription, which end it.
   */
  subscribe<T>(
    query: string,
    variables: Record<string, unknown>,
    next: (data: T) => void,
    failed: (errors: LiveError[]) => void,
  ): () => void {
    const subscription: Subscription = { query, variables, next: next as (data: unknown) => void, failed }
    this.subscriptions.add(subscription)
    if (this.client) this.attach(subscription)
    return () => {
      this.subscriptions.delete(subscription)
      subscription.dispose?.()
    }
  }

  stop(): void {
    this.stopped = true
    window.clearTimeout(this.restartTimer)
    const client = this.client
    this.client = undefined
    for (const subscription of this.subscriptions) subscription.dispose?.()
    this.subscriptions.clear()
    void client?.dispose()
  }

  private attach(subscription: Subscription): void {
    const client = this.client!
    subscription.dispose = client.subscribe(
      { query: subscription.query, variables: subscription.variables },
      {
        next: (result) => {
          if (result.errors?.length) this.fail(subscription, result.errors as LiveError[])
          else if (result.data) subscription.next(result.data)
        },
        error: (error) => {
          // An array is the API refusing this subscription; anything else is the socket closing,
          // which `closed` and `gaveUp` handle (a restart attaches every subscription again).
          if (Array.isArray(error)) this.fail(subscription, error as LiveError[])
        },
        complete: () => {},
      },
    )
  }

  private fail(subscription: Subscription, errors: LiveError[]): void {
    this.subscriptions.delete(subscription)
    subscription.failed(errors)
  }

  /** graphql-ws stopped retrying (a close it deems final, other than 4401): poll, and start afresh later. */
  private gaveUp(client: Client, error: unknown): void {
    if (client !== this.client || this.stopped) return
    this.client = undefined
    this.setState('offline')
    void client.dispose()
    window.clearTimeout(this.restartTimer)
    this.restartTimer = window.setTimeout(() => this.start(), RESTART_AFTER_MS)
    console.warn('live updates: the API refused the connection; polling until the next attempt', error)
  }

  private setState(state: LiveState): void {
    if (state === this.current) return
    this.current = state
    this.options.onState(state)
  }
}

/** Every tracker the session may see (also those created later), whenever its visible state changes. */
export function subscribeTrackers(
  live: LiveUpdates,
  next: (tracker: Tracker) => void,
  failed: (errors: LiveError[]) => void,
): () => void {
  return live.subscribe<{ trackerUpdated: Tracker }>(
    `subscription Trackers { trackerUpdated { ${TRACKER_FIELDS} } }`,
    {},
    (data) => next(data.trackerUpdated),
    failed,
  )
}

/** Which window of one tracker's history changed. */
export function subscribeHistory(
  live: LiveUpdates,
  trackerId: string,
  next: (change: HistoryChange) => void,
  failed: (errors: LiveError[]) => void,
): () => void {
  return live.subscribe<{ historyChanged: HistoryChange }>(
    'subscription History($trackerId: ID!) { historyChanged(trackerId: $trackerId) { trackerId from to refetch reason } }',
    { trackerId },
    (data) => next(data.historyChanged),
    failed,
  )
}
