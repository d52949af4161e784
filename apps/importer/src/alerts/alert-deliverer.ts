import {
  type AlertDelivery,
  type DeliveryAttemptEvent,
  outboxBacklog,
  startAlertDelivery,
} from '@tracker/alerts'
import type { TrackerDatabase } from '@tracker/db'
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ImporterConfig } from '../env.ts'

const OUTCOMES = ['delivered', 'retrying', 'failed'] as const
const KINDS = ['webhook', 'ntfy', 'mqtt'] as const
const OUTCOME_OF = { delivered: 'delivered', pending: 'retrying', failed: 'failed' } as const

/**
 * The alert deliverer's metrics on the importer's registry (so /metrics shows them). The outbox
 * gauges are read from the database at each scrape: every replica shows the same, shared, backlog.
 */
export class AlertDeliveryMetrics {
  readonly #attempts: Counter<'kind' | 'outcome'>
  readonly #duration: Histogram<'kind'>

  constructor(
    registry: Registry,
    database: Pick<TrackerDatabase, 'db'>,
    delivery: () => AlertDelivery | null,
    options: { mqtt: boolean },
  ) {
    this.#attempts = new Counter({
      name: 'tracker_alert_delivery_attempts_total',
      help: 'Alert delivery attempts by channel kind and what became of the row (delivered; retrying: failed, retried later; failed: given up)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    })
    // Every series from the start, so a rate over it is defined before the first failure.
    for (const kind of KINDS) for (const outcome of OUTCOMES) this.#attempts.inc({ kind, outcome }, 0)
    this.#duration = new Histogram({
      name: 'tracker_alert_delivery_attempt_duration_seconds',
      help: 'Duration of alert delivery attempts (until the answer, the PUBACK or the timeout)',
      labelNames: ['kind'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    })
    new Gauge({
      name: 'tracker_alert_outbox_rows',
      help: 'Alert outbox rows by status (pending: still to deliver, retries included; failed: given up)',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        try {
          const backlog = await outboxBacklog(database.db)
          this.set({ status: 'pending' }, backlog.pending)
          this.set({ status: 'failed' }, backlog.failed)
        } catch {
          // The database is unreachable: /health says so; the last values stand.
        }
      },
    })
    new Gauge({
      name: 'tracker_alert_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest alert still to deliver (0 when none is pending)',
      registers: [registry],
      async collect() {
        try {
          const { oldestPendingAt } = await outboxBacklog(database.db)
          this.set(oldestPendingAt ? Math.max(0, (Date.now() - oldestPendingAt.getTime()) / 1000) : 0)
        } catch {
          // As above.
        }
      },
    })
    new Gauge({
      name: 'tracker_alert_delivery_last_pass_timestamp_seconds',
      help: "Unix time of this process's last completed delivery pass (0: none yet)",
      registers: [registry],
      collect() {
        const at = delivery()?.status().lastPassAt
        this.set(at ? Date.parse(at) / 1000 : 0)
      },
    })
    if (options.mqtt)
      new Gauge({
        name: 'tracker_alert_mqtt_connected',
        help: "1 while the alerts' MQTT broker (ALERTS_MQTT_URL) is connected, else 0 (absent without one)",
        registers: [registry],
        collect() {
          this.set(delivery()?.status().mqttConnected ? 1 : 0)
        },
      })
  }

  recordAttempt(event: DeliveryAttemptEvent): void {
    this.#attempts.inc({ kind: event.channelKind, outcome: OUTCOME_OF[event.status] })
    this.#duration.observe({ kind: event.channelKind }, event.durationMs / 1000)
  }
}

/**
 * Delivers the alert outbox from the importer process (ALERTS_DELIVERY=on): started after the
 * importer, its metrics on the importer's /metrics. Null when delivery is off.
 */
export async function startAlertDeliverer(deps: {
  database: TrackerDatabase
  logger: Logger
  config: ImporterConfig
  registry: Registry
}): Promise<AlertDelivery | null> {
  const settings = deps.config.alertDelivery
  if (!settings) {
    deps.logger.info({}, 'alert delivery is off (ALERTS_DELIVERY=off)')
    return null
  }
  let delivery: AlertDelivery | null = null
  const metrics = new AlertDeliveryMetrics(deps.registry, deps.database, () => delivery, {
    mqtt: settings.mqtt !== null,
  })
  delivery = await startAlertDelivery({
    database: deps.database,
    logger: deps.logger.child({ component: 'alert-delivery' }),
    settings,
    onAttempt: (event) => metrics.recordAttempt(event),
  })
  deps.logger.info(
    { pollIntervalMs: settings.pollIntervalMs, mqtt: settings.mqtt ? 'configured' : 'not configured' },
    'alert delivery started',
  )
  return delivery
}
