import { Counter, Gauge, Registry } from 'prom-client'

export type MessageFormat = 'homeassistant' | 'owntracks' | 'bridge'
const FORMATS: MessageFormat[] = ['homeassistant', 'owntracks', 'bridge']

/**
 * The bridge's Prometheus metrics, on a registry of its own: several apps may share one process
 * (the local stack), and the global default registry would mix them up.
 */
export class BridgeMetrics {
  readonly registry = new Registry()

  readonly messagesPublished = new Counter({
    name: 'tracker_bridge_messages_published_total',
    help: 'MQTT messages acknowledged by the broker, by format (homeassistant: discovery configs and attributes; owntracks: locations and cards; bridge: its own bookkeeping), removals included',
    labelNames: ['format'] as const,
    registers: [this.registry],
  })

  readonly publishFailures = new Counter({
    name: 'tracker_bridge_publish_failures_total',
    help: 'Publishes that failed (connection lost before PUBACK, broker refusal); the state is republished on reconnect',
    registers: [this.registry],
  })

  readonly olderPositionsSkipped = new Counter({
    name: 'tracker_bridge_older_positions_skipped_total',
    help: 'Positions not published because one with a later report time was published already',
    registers: [this.registry],
  })

  readonly lastPublish = new Gauge({
    name: 'tracker_bridge_last_publish_timestamp_seconds',
    help: 'Unix time of the last message the broker acknowledged',
    registers: [this.registry],
  })

  readonly notificationsReceived = new Counter({
    name: 'tracker_bridge_notifications_received_total',
    help: 'Notifications received on tracker_changed',
    registers: [this.registry],
  })

  readonly syncs = new Counter({
    name: 'tracker_bridge_syncs_total',
    help: 'Passes that re-read trackers and published what changed, by scope (trackers: named by notifications; all: every tracker, after a (re)connect or an "all" notification)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  })

  readonly brokerConnected = new Gauge({
    name: 'tracker_bridge_mqtt_connected',
    help: '1 while connected to the MQTT broker',
    registers: [this.registry],
  })

  readonly brokerReconnects = new Counter({
    name: 'tracker_bridge_mqtt_reconnects_total',
    help: 'Times the broker connection was re-established after a loss',
    registers: [this.registry],
  })

  readonly listenerConnected = new Gauge({
    name: 'tracker_bridge_listener_connected',
    help: '1 while the LISTEN connection (tracker_changed) is up',
    registers: [this.registry],
  })

  readonly listenerReconnects = new Counter({
    name: 'tracker_bridge_listener_reconnects_total',
    help: 'Times the LISTEN connection was re-established after a loss',
    registers: [this.registry],
  })

  readonly trackersPublished = new Gauge({
    name: 'tracker_bridge_trackers',
    help: 'Trackers whose state the bridge keeps published (active ones)',
    registers: [this.registry],
  })

  constructor() {
    // Zero series exist from the start, so rate() and alerts work before the first event.
    for (const format of FORMATS) this.messagesPublished.inc({ format }, 0)
    for (const scope of ['trackers', 'all']) this.syncs.inc({ scope }, 0)
    this.brokerConnected.set(0)
    this.listenerConnected.set(0)
  }
}
