import {
  HISTORY_REFRESHED_CHANNEL,
  type Logger,
  type NotificationListener,
  parseTrackerChanged,
  REFRESH_REQUEST_CHANNEL,
  TRACKER_CHANGED_CHANNEL,
  type TrackerDatabase,
} from '@tracker/db'
import { parseHistoryChange, parseRefreshRequest } from '@tracker/history'
import type { TrackerModel } from '../graphql/models.ts'
import { EventQueue } from './event-queue.ts'

/**
 * Why a historyChanged event was sent: REPORTS (raw reports of the window were written or changed:
 * locationReports and the newest, real-time buckets show them now), HISTORY_REFRESHED (location_history
 * was rebuilt after such a change: the whole window's history shows it now), RECONNECTED (this
 * replica's listener was disconnected, changes may have been missed), OVERFLOW (the client read too
 * slowly and events were dropped).
 */
export type HistoryChangeReason = 'REPORTS' | 'HISTORY_REFRESHED' | 'RECONNECTED' | 'OVERFLOW'

export interface HistoryChangeModel {
  trackerId: string
  /** The window that changed; null with refetch: true (anything may have changed). */
  from: Date | null
  to: Date | null
  refetch: boolean
  reason: HistoryChangeReason
}

/** The subscriber's view of its connection: the token's trackers as last checked (null: all). */
export interface LiveAccess {
  visibleTrackers(): readonly string[] | null
}

export interface LiveUpdatesOptions {
  database: TrackerDatabase
  /** Current state of these trackers (null: every tracker); ids that name none are left out. */
  loadTrackers(ids: readonly string[] | null): Promise<TrackerModel[]>
  logger: Logger
  /** Events waiting for one slow subscriber before it is told to refetch instead. */
  maxQueue?: number
  /** How long a report change waits for the location_history rebuild that makes it HISTORY_REFRESHED. */
  pendingHistoryMs?: number
  retryMs?: number
}

/** The channels the live updates listen on, each once per process. */
export const LIVE_CHANNELS = [
  TRACKER_CHANGED_CHANNEL,
  REFRESH_REQUEST_CHANNEL,
  HISTORY_REFRESHED_CHANNEL,
] as const

interface TrackerSubscriber {
  trackerIds: ReadonlySet<string> | null
  access: LiveAccess
  queue: EventQueue<TrackerModel>
}

interface HistorySubscriber {
  trackerId: string
  queue: EventQueue<HistoryChangeModel>
}

const earlier = (a: Date, b: Date) => (a.getTime() <= b.getTime() ? a : b)
const later = (a: Date, b: Date) => (a.getTime() >= b.getTime() ? a : b)

const mergeHistory = (a: HistoryChangeModel, b: HistoryChangeModel): HistoryChangeModel =>
  a.refetch || b.refetch || !a.from || !a.to || !b.from || !b.to
    ? { trackerId: a.trackerId, from: null, to: null, refetch: true, reason: b.reason }
    : {
        trackerId: a.trackerId,
        from: earlier(a.from, b.from),
        to: later(a.to, b.to),
        refetch: false,
        reason: b.reason,
      }

/**
 * GraphQL subscriptions' source: one LISTEN per channel per process (not per subscriber), fanned
 * out in memory. tracker_changed names trackers: they are read once per notification (notifications
 * that arrive meanwhile are read together) and each subscriber gets those it asked for and its
 * token may see. refresh_location_history names a window and the trackers whose raw reports changed:
 * REPORTS at once, and the same window again as HISTORY_REFRESHED when location_history_refreshed
 * says location_history was rebuilt (that notification names no tracker). After the listener
 * reconnects (notifications sent while it was away are lost) every subscriber is caught up:
 * trackerUpdated re-sends the current state of its trackers, historyChanged sends refetch: true.
 */
export class LiveUpdates {
  readonly #options: LiveUpdatesOptions
  readonly #maxQueue: number
  readonly #pendingHistoryMs: number
  readonly #trackerSubscribers = new Set<TrackerSubscriber>()
  readonly #historySubscribers = new Map<string, Set<HistorySubscriber>>()
  /** Report changes waiting for the location_history rebuild, per tracker. */
  readonly #pendingHistory = new Map<string, { from: Date; to: Date; since: number }>()
  readonly #listeners: NotificationListener[] = []
  readonly #live = new Set<string>()
  readonly #retries = new Set<NodeJS.Timeout>()
  #pendingIds = new Set<string>()
  #pendingAll = false
  #draining: Promise<void> | undefined
  #closed = false

  constructor(options: LiveUpdatesOptions) {
    this.#options = options
    this.#maxQueue = options.maxQueue ?? 1000
    this.#pendingHistoryMs = options.pendingHistoryMs ?? 60 * 60 * 1000
  }

  /** Listening on every channel. */
  get connected(): boolean {
    return this.#live.size === LIVE_CHANNELS.length
  }

  get subscriptionCount(): { trackerUpdated: number; historyChanged: number } {
    let history = 0
    for (const set of this.#historySubscribers.values()) history += set.size
    return { trackerUpdated: this.#trackerSubscribers.size, historyChanged: history }
  }

  start(): void {
    for (const channel of LIVE_CHANNELS) void this.#listen(channel)
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const timer of this.#retries) clearTimeout(timer)
    this.#retries.clear()
    this.#live.clear()
    await Promise.all(this.#listeners.splice(0).map((listener) => listener.close().catch(() => {})))
    for (const subscriber of [...this.#trackerSubscribers]) void subscriber.queue.return()
    for (const set of [...this.#historySubscribers.values()]) for (const s of [...set]) void s.queue.return()
  }

  /** trackerUpdated: the trackers named (null: all) that `access` may see, each time one changes. */
  subscribeTrackers(trackerIds: readonly string[] | null, access: LiveAccess, onEnd: () => void) {
    const subscriber: TrackerSubscriber = {
      trackerIds: trackerIds ? new Set(trackerIds.map((id) => id.toLowerCase())) : null,
      access,
      queue: new EventQueue<TrackerModel>({
        // Keyed by tracker: a queue holds at most one state per tracker (the newest), so it is
        // bounded by the fleet and never overflows.
        max: Number.POSITIVE_INFINITY,
        overflow: () => undefined as never,
        onEnd: () => {
          this.#trackerSubscribers.delete(subscriber)
          onEnd()
        },
      }),
    }
    this.#trackerSubscribers.add(subscriber)
    return subscriber.queue
  }

  /** historyChanged: the windows of this tracker's history that changed. */
  subscribeHistory(trackerId: string, onEnd: () => void) {
    const id = trackerId.toLowerCase()
    const set = this.#historySubscribers.get(id) ?? new Set<HistorySubscriber>()
    this.#historySubscribers.set(id, set)
    const subscriber: HistorySubscriber = {
      trackerId: id,
      queue: new EventQueue<HistoryChangeModel>({
        max: this.#maxQueue,
        overflow: () => ({ trackerId: id, from: null, to: null, refetch: true, reason: 'OVERFLOW' }),
        merge: mergeHistory,
        onEnd: () => {
          set.delete(subscriber)
          if (set.size === 0 && this.#historySubscribers.get(id) === set) this.#historySubscribers.delete(id)
          onEnd()
        },
      }),
    }
    set.add(subscriber)
    return subscriber.queue
  }

  async #listen(channel: string): Promise<void> {
    try {
      const listener = await this.#options.database.listen(channel, {
        onNotification: (payload) => this.#onNotification(channel, payload),
        onConnected: ({ reconnect }) => {
          this.#live.add(channel)
          // A first connect after subscribers came (the database was down at start) catches up too.
          if (reconnect || this.#trackerSubscribers.size + this.#historySubscribers.size > 0) {
            this.#options.logger.info(
              { channel, reconnect },
              'live updates: listener connected, subscribers catch up',
            )
            this.#catchUp(channel)
          }
        },
        onDisconnected: () => {
          this.#live.delete(channel)
          this.#options.logger.warn({ channel }, 'live updates: listener disconnected')
        },
      })
      if (this.#closed) await listener.close()
      else this.#listeners.push(listener)
    } catch (error) {
      if (this.#closed) return
      const retryMs = this.#options.retryMs ?? 5_000
      this.#options.logger.warn({ err: error, channel, retryInMs: retryMs }, 'live updates: cannot listen')
      const timer = setTimeout(() => {
        this.#retries.delete(timer)
        void this.#listen(channel)
      }, retryMs)
      timer.unref()
      this.#retries.add(timer)
    }
  }

  #onNotification(channel: string, payload: string): void {
    if (channel === TRACKER_CHANGED_CHANNEL) {
      if (this.#trackerSubscribers.size === 0) return
      const changed = parseTrackerChanged(payload)
      if (!changed || 'all' in changed) this.#pendingAll = true
      else for (const id of changed.trackers) this.#pendingIds.add(id.toLowerCase())
      this.#drainTrackers()
    } else if (channel === REFRESH_REQUEST_CHANNEL) {
      this.#reportsChanged(payload)
    } else if (channel === HISTORY_REFRESHED_CHANNEL) {
      this.#historyRefreshed(payload)
    }
  }

  /** A listener (re)connected: what was sent while it was away is lost, so everyone catches up. */
  #catchUp(channel: string): void {
    if (channel === TRACKER_CHANGED_CHANNEL) {
      this.#pendingAll = true
      this.#drainTrackers()
      return
    }
    this.#pendingHistory.clear()
    for (const set of this.#historySubscribers.values()) {
      for (const subscriber of set) {
        subscriber.queue.push(
          { trackerId: subscriber.trackerId, from: null, to: null, refetch: true, reason: 'RECONNECTED' },
          'history',
        )
      }
    }
  }

  /** Reads the trackers named since the last read, one query, and hands each to its subscribers. */
  #drainTrackers(): void {
    if (this.#draining) return
    this.#draining = (async () => {
      while (!this.#closed && (this.#pendingAll || this.#pendingIds.size > 0)) {
        const all = this.#pendingAll
        const ids = [...this.#pendingIds]
        this.#pendingAll = false
        this.#pendingIds = new Set()
        if (this.#trackerSubscribers.size === 0) continue
        let trackers: TrackerModel[]
        try {
          trackers = await this.#options.loadTrackers(all ? null : ids)
        } catch (error) {
          // Not dropped: read again shortly (a notification meanwhile joins the same read).
          this.#options.logger.error({ err: error }, 'live updates: reading changed trackers failed')
          if (all) this.#pendingAll = true
          for (const id of ids) this.#pendingIds.add(id)
          await new Promise((resolve) => setTimeout(resolve, this.#options.retryMs ?? 1_000).unref())
          continue
        }
        for (const tracker of trackers) {
          for (const subscriber of this.#trackerSubscribers) {
            if (subscriber.trackerIds && !subscriber.trackerIds.has(tracker.id)) continue
            const visible = subscriber.access.visibleTrackers()
            if (visible && !visible.includes(tracker.id)) continue
            subscriber.queue.push(tracker, tracker.id)
          }
        }
      }
    })().finally(() => {
      this.#draining = undefined
    })
  }

  #reportsChanged(payload: string): void {
    if (this.#historySubscribers.size === 0) return
    // A refresh mutation asking the refresher: no report changed; what it refreshes follows as usual.
    if (parseRefreshRequest(payload)) return
    const change = parseHistoryChange(payload)
    const targets = change?.trackers ?? [...this.#historySubscribers.keys()]
    const now = Date.now()
    for (const trackerId of targets) {
      const set = this.#historySubscribers.get(trackerId)
      if (!set) continue
      const event: HistoryChangeModel = change
        ? { trackerId, from: change.window.from, to: change.window.to, refetch: false, reason: 'REPORTS' }
        : { trackerId, from: null, to: null, refetch: true, reason: 'REPORTS' }
      for (const subscriber of set) subscriber.queue.push(event, 'history')
      if (change) {
        const pending = this.#pendingHistory.get(trackerId)
        this.#pendingHistory.set(
          trackerId,
          pending
            ? {
                from: earlier(pending.from, change.window.from),
                to: later(pending.to, change.window.to),
                since: pending.since,
              }
            : { from: change.window.from, to: change.window.to, since: now },
        )
      }
    }
  }

  /**
   * location_history was rebuilt (the refresher's upkeep after report changes, or a purge): the
   * report changes waiting for it are now in the history. Aggregate refreshes (other objects) are
   * followed by that rebuild when they change anything location_history holds.
   */
  #historyRefreshed(payload: string): void {
    let object: unknown
    try {
      object = (JSON.parse(payload) as { object?: unknown }).object
    } catch {
      object = undefined
    }
    if (object !== 'location_history') return
    const now = Date.now()
    for (const [trackerId, pending] of this.#pendingHistory) {
      this.#pendingHistory.delete(trackerId)
      if (now - pending.since > this.#pendingHistoryMs) continue
      const set = this.#historySubscribers.get(trackerId)
      if (!set) continue
      const event: HistoryChangeModel = {
        trackerId,
        from: pending.from,
        to: pending.to,
        refetch: false,
        reason: 'HISTORY_REFRESHED',
      }
      for (const subscriber of set) subscriber.queue.push(event, 'history')
    }
  }
}
