import {
  HISTORY_REFRESHED_CHANNEL,
  type Logger,
  type NotificationListener,
  REFRESH_REQUEST_CHANNEL,
  type TrackerDatabase,
} from '@tracker/db'

/**
 * The notifications after which a history answer may be wrong: a report was written or changed
 * (the insert trigger and update_nearest_city notify the refresher's channel), or a refresh
 * materialized an aggregate or rebuilt location_history.
 */
export const HISTORY_CHANGE_CHANNELS: readonly string[] = [REFRESH_REQUEST_CHANNEL, HISTORY_REFRESHED_CHANNEL]

/** What the feed drives: the caches of history answers. */
export interface ChangeFeedTarget {
  connected(): void
  disconnected(): void
  invalidate(): void
}

export interface ChangeFeed {
  close(): Promise<void>
}

/**
 * Listens on every change channel and keeps each target told: connected only while all channels are
 * (a notification could otherwise go unseen), invalidated on each notification. A listener that
 * cannot start (database down at start) is retried until it can or the feed is closed; pg-listen
 * reconnects an established one by itself.
 */
export function startHistoryChangeFeed(
  database: TrackerDatabase,
  targets: readonly ChangeFeedTarget[],
  logger: Logger,
  options: { retryMs?: number } = {},
): ChangeFeed {
  const retryMs = options.retryMs ?? 5_000
  const live = new Set<string>()
  const listeners: NotificationListener[] = []
  let closed = false
  const retries = new Set<NodeJS.Timeout>()

  const update = () => {
    for (const target of targets) {
      if (live.size === HISTORY_CHANGE_CHANNELS.length) target.connected()
      else target.disconnected()
    }
  }

  const listen = async (channel: string): Promise<void> => {
    try {
      const listener = await database.listen(channel, {
        onNotification: () => {
          for (const target of targets) target.invalidate()
        },
        onConnected: () => {
          live.add(channel)
          update()
        },
        onDisconnected: () => {
          live.delete(channel)
          update()
        },
      })
      if (closed) await listener.close()
      else listeners.push(listener)
    } catch (error) {
      if (closed) return
      logger.warn({ err: error, channel, retryInMs: retryMs }, 'history cache off: cannot listen for changes')
      const timer = setTimeout(() => {
        retries.delete(timer)
        void listen(channel)
      }, retryMs)
      timer.unref()
      retries.add(timer)
    }
  }

  for (const channel of HISTORY_CHANGE_CHANNELS) void listen(channel)

  return {
    async close() {
      closed = true
      for (const timer of retries) clearTimeout(timer)
      retries.clear()
      live.clear()
      update()
      await Promise.all(listeners.splice(0).map((listener) => listener.close().catch(() => {})))
    },
  }
}
