import { parseTrackerChanged, redactUrl, TRACKER_CHANGED_CHANNEL, type TrackerDatabase } from '@tracker/db'
import type { Logger } from 'pino'
import type { BridgeConfig } from './env.ts'
import { type BridgeTopics, bridgeTopics } from './formats/topics.ts'
import { BridgeMetrics } from './http/bridge-metrics.ts'
import { type HealthReport, type HealthServer, startHealthServer } from './http/health-server.ts'
import { ChangeListener, type ListenerStatus } from './listen/change-listener.ts'
import { BrokerConnection, type BrokerStatus } from './mqtt/broker-connection.ts'
import { TrackerPublisher } from './sync/tracker-publisher.ts'

export interface BridgeDependencies {
  database: TrackerDatabase
  logger: Logger
  config: BridgeConfig
}

export interface BridgeHealth extends HealthReport {
  /** What is down: `database listener`, `mqtt broker`. */
  down: string[]
  listener: ListenerStatus
  mqtt: BrokerStatus & { url: string }
  /** Trackers with an entity published. */
  trackers: number
  lastPublishAt: string | null
}

export interface RunningBridge {
  readonly metrics: BridgeMetrics
  readonly topics: BridgeTopics
  /** The broker connection (its `client` is MQTT.js'; tests cut it to simulate a broker restart). */
  readonly broker: BrokerConnection
  /** The port /health and /metrics are served on (useful with BRIDGE_HTTP_PORT=0). */
  readonly httpPort: number
  health(): BridgeHealth
  /** Resolves once every change seen so far is published (or waits for the broker). */
  idle(): Promise<void>
  /** Publishes `offline`, disconnects, stops listening, closes the HTTP server. The database stays open. */
  stop(): Promise<void>
}

/**
 * The MQTT bridge: LISTENs on tracker_changed, re-reads the trackers a notification names and
 * publishes their latest state as Home Assistant discovery and OwnTracks messages (each switchable).
 * After every broker (re)connect and every LISTEN (re)connect it re-reads every tracker, and after a
 * broker (re)connect it republishes all of it: a broker that lost its retained messages, or
 * notifications lost while the listener was down, leave nothing stale behind. The database is the
 * caller's: stop() leaves it open.
 */
export async function startBridge(deps: BridgeDependencies): Promise<RunningBridge> {
  const { database, config } = deps
  const logger = deps.logger.child({ component: 'bridge' })
  const metrics = new BridgeMetrics()
  const topics = bridgeTopics(config)
  let restored = false

  let publisher: TrackerPublisher | null = null
  const broker = new BrokerConnection({
    settings: config.mqtt,
    statusTopic: topics.status,
    logger,
    onConnected: ({ reconnect }) => {
      metrics.brokerConnected.set(1)
      if (reconnect) metrics.brokerReconnects.inc()
      void afterConnect()
    },
    onDisconnected: () => metrics.brokerConnected.set(0),
    onMessage: (topic, payload, retained) => {
      // Home Assistant's birth message: it (re)started, possibly without the retained configs.
      if (topic === topics.homeAssistantStatus && payload.toString() === 'online' && !retained) {
        logger.info({ event: 'homeassistant_online' }, 'Home Assistant came online; republishing')
        publisher?.request('all', { force: true })
      }
    },
  })
  publisher = new TrackerPublisher({ db: database.db, broker, topics, config, metrics, logger })
  const tp = publisher

  async function afterConnect(): Promise<void> {
    // The broker may have lost retained messages (a restart without persistence): all again,
    // asked for at once so that idle() waits for it.
    tp.request('all', { force: true })
    try {
      if (!restored) {
        const retained = await broker.readRetained(topics.publishedWildcard)
        restored = true
        tp.restore(retained)
      }
      if (config.homeAssistant.enabled) await broker.subscribe(topics.homeAssistantStatus)
    } catch (error) {
      // The connection dropped meanwhile; the next connect does it again.
      logger.warn({ event: 'after_connect_failed', err: error }, 'setting up after connect failed')
    }
  }

  const listener = new ChangeListener({
    database,
    channel: TRACKER_CHANGED_CHANNEL,
    logger,
    onNotification: (payload) => {
      metrics.notificationsReceived.inc()
      const change = parseTrackerChanged(payload)
      if (change === null) {
        logger.warn(
          { event: 'notification_unreadable', payload: payload.slice(0, 200) },
          're-reading all trackers',
        )
      }
      tp.request(change === null || 'all' in change ? 'all' : change.trackers)
    },
    onCatchUp: (reason) => {
      if (reason === 'reconnect') metrics.listenerReconnects.inc()
      logger.info(
        { event: 'catch_up', reason },
        're-reading every tracker (notifications may have been missed)',
      )
      tp.request('all')
    },
    onConnectionChange: (connected) => metrics.listenerConnected.set(connected ? 1 : 0),
  })

  const health = (): BridgeHealth => {
    const listenerStatus = listener.status()
    const brokerStatus = broker.status()
    const down = [
      ...(listenerStatus.connected ? [] : ['database listener']),
      ...(brokerStatus.connected ? [] : ['mqtt broker']),
    ]
    return {
      status: down.length === 0 ? 'ok' : 'down',
      down,
      listener: listenerStatus,
      mqtt: { ...brokerStatus, url: redactUrl(config.mqtt.url) },
      trackers: tp.trackerCount,
      lastPublishAt: tp.lastPublishAt?.toISOString() ?? null,
    }
  }

  let http: HealthServer | null = null
  try {
    http = await startHealthServer({
      host: config.httpHost,
      port: config.httpPort,
      health,
      metrics,
      logger,
    })
    broker.start()
    await listener.start()
  } catch (error) {
    await listener.stop().catch(() => {})
    await broker.stop().catch(() => {})
    await http?.close()
    throw error
  }
  const server = http

  return {
    metrics,
    topics,
    broker,
    httpPort: server.port,
    health,
    idle: () => tp.idle(),
    async stop() {
      await listener.stop()
      await tp.stop()
      await broker.stop()
      await server.close()
      logger.info({ event: 'stopped' }, 'bridge stopped')
    },
  }
}
