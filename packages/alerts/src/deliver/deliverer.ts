import type { AlertChannelKind, Database, Kysely, OutboxAction, OutboxStatus } from '@tracker/db'
import type { Logger } from 'pino'
import {
  type LeasedDelivery,
  leaseDueDeliveries,
  recordDeliveryAttempt,
} from '../outbox/alert-outbox.repository.ts'
import { type ChannelSender, failure, type SendResult } from './channels/channel-sender.ts'
import { type BackoffPolicy, retryDelayMs } from './retry-backoff.ts'

/** One recorded attempt, for metrics and tests. */
export interface DeliveryAttemptEvent {
  outboxId: string
  eventId: string
  channelId: string
  channelKind: AlertChannelKind
  action: OutboxAction
  attempt: number
  ok: boolean
  statusCode: number | null
  error: string | null
  durationMs: number
  /** What became of the row: delivered, pending (a retry at nextAttemptAt) or failed (given up). */
  status: OutboxStatus
  nextAttemptAt: Date | null
}

export interface DeliveryPass {
  /** Rows leased (and sent) by this pass. */
  leased: number
  delivered: number
  retrying: number
  failed: number
  /** Sent, but the attempt could not be recorded (the row is sent again once its lease runs out). */
  unrecorded: number
  /** Deleted during the send (its channel or event was deleted): nothing left to record. */
  dropped: number
}

export interface DelivererOptions {
  db: Kysely<Database>
  /** One per channel kind; a kind without one fails its attempts (e.g. no MQTT broker configured). */
  senders: readonly ChannelSender[]
  logger: Logger
  /** The attempt that reaches this many is the last: then the row is given up (status failed). */
  maxAttempts: number
  /** How long a leased row is held for its send; longer than any sender's timeout. */
  leaseMs: number
  backoff: BackoffPolicy
  /** Rows leased per pass (one per channel; channels are sent to in parallel). Default 20. */
  batchSize?: number
  random?: () => number
  onAttempt?(event: DeliveryAttemptEvent): void
}

const MISSING_SENDER: Partial<Record<AlertChannelKind, string>> = {
  mqtt: 'no MQTT broker is configured for alerts (ALERTS_MQTT_URL)',
}

/**
 * Delivers the outbox, at least once and once per row as far as it is up to us: each pass leases
 * due rows (alert-outbox.repository: one per channel, oldest first, never one another deliverer
 * holds), sends each to its channel with no transaction open, then records the attempt and settles
 * the row in one transaction: delivered, a retry after a backoff, or given up at the attempt limit.
 * A process that dies between the send and the record leaves the lease to run out; the row is then
 * sent again with the same idempotency key, which receivers use to drop the repeat.
 */
export class Deliverer {
  readonly #o: DelivererOptions
  readonly #senders: Map<AlertChannelKind, ChannelSender>

  constructor(options: DelivererOptions) {
    if (!(options.maxAttempts >= 1)) throw new RangeError('maxAttempts must be at least 1')
    if (!(options.leaseMs > 0)) throw new RangeError('leaseMs must be positive')
    this.#o = options
    this.#senders = new Map(options.senders.map((sender) => [sender.kind, sender]))
  }

  /** One pass: lease what is due, send it, record it. Rejects only if the lease itself fails. */
  async deliverDue(): Promise<DeliveryPass> {
    const leased = await leaseDueDeliveries(this.#o.db, {
      leaseMs: this.#o.leaseMs,
      limit: this.#o.batchSize ?? 20,
    })
    const pass: DeliveryPass = {
      leased: leased.length,
      delivered: 0,
      retrying: 0,
      failed: 0,
      unrecorded: 0,
      dropped: 0,
    }
    // One row per channel, so sending them side by side keeps each channel's order.
    await Promise.all(
      leased.map(async (delivery) => {
        const settled = await this.#deliver(delivery)
        if (settled === 'delivered') pass.delivered++
        else if (settled === 'pending') pass.retrying++
        else if (settled === 'failed') pass.failed++
        else if (settled === 'dropped') pass.dropped++
        else pass.unrecorded++
      }),
    )
    return pass
  }

  async #deliver(delivery: LeasedDelivery): Promise<OutboxStatus | 'dropped' | 'unrecorded'> {
    const { logger } = this.#o
    const ids = {
      outboxId: delivery.id,
      eventId: delivery.eventId,
      channelId: delivery.channel.id,
      channelKind: delivery.channel.kind,
      action: delivery.action,
    }
    const attemptedAt = new Date()
    const started = performance.now()
    const result = await this.#send(delivery)
    const durationMs = performance.now() - started
    if (Date.now() > delivery.leasedUntil.getTime())
      logger.warn(
        { ...ids, durationMs: Math.round(durationMs), leaseMs: this.#o.leaseMs },
        'alert delivery: the send outlasted its lease; another deliverer may have sent it too',
      )
    const attempt = delivery.attempts + 1
    let recorded: Awaited<ReturnType<typeof recordDeliveryAttempt>>
    try {
      recorded = await recordDeliveryAttempt(this.#o.db, {
        outboxId: delivery.id,
        leaseToken: delivery.leaseToken,
        attemptedAt,
        durationMs,
        ok: result.ok,
        statusCode: result.statusCode ?? null,
        error: result.ok ? null : (result.error ?? 'failed'),
        giveUp: result.permanent === true,
        maxAttempts: this.#o.maxAttempts,
        retryInMs: retryDelayMs(this.#o.backoff, attempt, result.retryAfterMs, this.#o.random),
      })
    } catch (error) {
      logger.error(
        { ...ids, err: error, ok: result.ok },
        'alert delivery: the attempt could not be recorded; the row is sent again when its lease runs out',
      )
      return 'unrecorded'
    }
    if (!recorded) {
      logger.info(
        { ...ids },
        'alert delivery: the row was deleted during the send (its channel or event is gone)',
      )
      return 'dropped'
    }
    const event: DeliveryAttemptEvent = {
      ...ids,
      attempt: recorded.attempt,
      ok: result.ok,
      statusCode: result.statusCode ?? null,
      error: result.ok ? null : (result.error ?? 'failed'),
      durationMs,
      status: recorded.status,
      nextAttemptAt: recorded.nextAttemptAt,
    }
    const fields = {
      ...ids,
      attempt: recorded.attempt,
      statusCode: event.statusCode,
      durationMs: Math.round(durationMs),
    }
    if (recorded.status === 'delivered') logger.info(fields, 'alert delivered')
    else if (recorded.status === 'pending')
      logger.warn(
        { ...fields, error: event.error, nextAttemptAt: recorded.nextAttemptAt?.toISOString() },
        'alert delivery failed; retrying',
      )
    else
      logger.error(
        {
          ...fields,
          error: event.error,
          maxAttempts: this.#o.maxAttempts,
          permanent: result.permanent === true,
        },
        'alert delivery given up',
      )
    try {
      this.#o.onAttempt?.(event)
    } catch (error) {
      logger.warn({ err: error }, 'alert delivery: onAttempt failed')
    }
    return recorded.status
  }

  async #send(delivery: LeasedDelivery): Promise<SendResult> {
    const sender = this.#senders.get(delivery.channel.kind)
    if (!sender)
      return {
        ok: false,
        error: MISSING_SENDER[delivery.channel.kind] ?? `no sender for ${delivery.channel.kind} channels`,
      }
    try {
      return await sender.send(delivery.channel, delivery)
    } catch (error) {
      return failure(error)
    }
  }
}
