import type { AlertChannelKind } from '@tracker/db'
import type { DeliveryChannel, LeasedDelivery } from '../../outbox/alert-outbox.repository.ts'

/** What one attempt to deliver came to. */
export interface SendResult {
  ok: boolean
  /** The receiver's HTTP status, when it answered. */
  statusCode?: number
  /** Why it failed (never holds a secret). */
  error?: string
  /** Retrying cannot help (e.g. 410 Gone): the row is given up at once. */
  permanent?: boolean
  /** The receiver asked for this pause before the next attempt (Retry-After). */
  retryAfterMs?: number
}

/**
 * One kind of channel. `send` never throws and never takes longer than its timeout: whatever goes
 * wrong is a failed SendResult. Every attempt of a row carries the row's id as its idempotency key.
 */
export interface ChannelSender {
  readonly kind: AlertChannelKind
  send(channel: DeliveryChannel, delivery: LeasedDelivery): Promise<SendResult>
  /** Releases connections (the MQTT client); in-flight sends finish first. */
  close?(): Promise<void>
}

/** A failed SendResult from anything thrown. */
export function failure(error: unknown, extra: Partial<SendResult> = {}): SendResult {
  return { ok: false, error: error instanceof Error ? error.message : String(error), ...extra }
}
