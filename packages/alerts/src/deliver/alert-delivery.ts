import type { TrackerDatabase } from '@tracker/db'
import type { Logger } from 'pino'
import type { ChannelSender } from './channels/channel-sender.ts'
import { type AlertsMqttSettings, createMqttSender, type MqttSender } from './channels/mqtt.channel.ts'
import { createNtfySender } from './channels/ntfy.channel.ts'
import { createWebhookSender } from './channels/webhook.channel.ts'
import { Deliverer, type DeliveryAttemptEvent, type DeliveryPass } from './deliverer.ts'
import { DeliveryWorker, type DeliveryWorkerStatus } from './delivery-worker.ts'
import type { BackoffPolicy } from './retry-backoff.ts'

export interface AlertDeliverySettings {
  /** The attempt that reaches this many is the last. */
  maxAttempts: number
  backoff: BackoffPolicy
  /** Per send (HTTP request, or MQTT PUBACK). */
  sendTimeoutMs: number
  /** How long a leased row is held; must exceed sendTimeoutMs. */
  leaseMs: number
  /** The longest sleep between passes. */
  pollIntervalMs: number
  /** Rows per pass (one per channel). */
  batchSize?: number
  /** The broker of mqtt channels; null: mqtt channels fail their attempts until one is configured. */
  mqtt: AlertsMqttSettings | null
}

export interface AlertDelivery {
  readonly deliverer: Deliverer
  readonly worker: DeliveryWorker
  /** Look for due rows now. */
  wake(): void

  status(): DeliveryWorkerStatus & { mqttConnected: boolean | null }
  /**
   * The pass in flight finishes and is recorded; with `drain`, passes follow until nothing is due
   * (rows waiting for a retry stay for later: a one-shot process, the importer's --once, delivers
   * what its run produced before it exits); then the MQTT connection closes. Once, however often
   * asked.
   */
  stop(options?: { drain?: boolean }): Promise<void>
}

/** Time a lease must leave beyond the send timeout for recording the attempt. */
const LEASE_MARGIN_MS = 5000
/** A drain ends after this many passes whatever is left (a channel gets one row per pass). */
const MAX_DRAIN_PASSES = 1000

/** The deliverer with every channel kind, run by a worker: what a process starts to deliver alerts. */
export async function startAlertDelivery(deps: {
  database: Pick<TrackerDatabase, 'db' | 'listen'>
  logger: Logger
  settings: AlertDeliverySettings
  onAttempt?(event: DeliveryAttemptEvent): void
  onPass?(pass: DeliveryPass): void
}): Promise<AlertDelivery> {
  const { settings, logger } = deps
  if (settings.leaseMs < settings.sendTimeoutMs + LEASE_MARGIN_MS)
    throw new RangeError(
      `the delivery lease (${settings.leaseMs} ms) must exceed the send timeout (${settings.sendTimeoutMs} ms) by at least ${LEASE_MARGIN_MS} ms`,
    )
  const mqtt: MqttSender | null = settings.mqtt
    ? createMqttSender({ settings: settings.mqtt, timeoutMs: settings.sendTimeoutMs, logger })
    : null
  const senders: ChannelSender[] = [
    createWebhookSender({ timeoutMs: settings.sendTimeoutMs }),
    createNtfySender({ timeoutMs: settings.sendTimeoutMs }),
    ...(mqtt ? [mqtt] : []),
  ]
  const deliverer = new Deliverer({
    db: deps.database.db,
    senders,
    logger,
    maxAttempts: settings.maxAttempts,
    leaseMs: settings.leaseMs,
    backoff: settings.backoff,
    ...(settings.batchSize !== undefined ? { batchSize: settings.batchSize } : {}),
    ...(deps.onAttempt ? { onAttempt: deps.onAttempt } : {}),
  })
  const worker = new DeliveryWorker({
    deliverer,
    db: deps.database.db,
    logger,
    pollIntervalMs: settings.pollIntervalMs,
    listen: (channel, handlers) => deps.database.listen(channel, handlers),
    ...(deps.onPass ? { onPass: deps.onPass } : {}),
  })
  try {
    await worker.start()
  } catch (error) {
    await mqtt?.close()
    throw error
  }
  let stopping: Promise<void> | undefined
  return {
    deliverer,
    worker,
    wake: () => worker.wake(),
    status: () => ({ ...worker.status(), mqttConnected: mqtt ? mqtt.connected : null }),
    stop(options = {}) {
      stopping ??= (async () => {
        await worker.stop()
        if (options.drain) {
          for (let i = 0; i < MAX_DRAIN_PASSES; i++) {
            const pass = await deliverer.deliverDue().catch((error: unknown) => {
              logger.warn({ err: error }, 'alert delivery: a pass of the final drain failed')
              return null
            })
            if (!pass || pass.leased === 0) break
          }
        }
        await Promise.all(senders.map(async (sender) => sender.close?.()))
      })()
      return stopping
    },
  }
}
