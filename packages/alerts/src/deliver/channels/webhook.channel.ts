import { createHmac } from 'node:crypto'
import type { DeliveryChannel, LeasedDelivery } from '../../outbox/alert-outbox.repository.ts'
import type { ChannelSender, SendResult } from './channel-sender.ts'
import { postJson } from './http-post.ts'

const SECRET_PREFIX = 'whsec_'

/** A Standard Webhooks secret's key bytes: base64 after the `whsec_` prefix (the prefix is optional). */
export function webhookSecretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
    throw new Error('the channel secret is not whsec_ followed by base64')
  const key = Buffer.from(encoded, 'base64')
  if (key.length === 0) throw new Error('the channel secret is empty')
  return key
}

/**
 * The webhook-signature header's value (Standard Webhooks, symmetric): `v1,` and the base64
 * HMAC-SHA256, keyed with the secret's bytes, of `${id}.${timestamp}.${body}`.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', webhookSecretKey(secret))
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64')
  return `v1,${mac}`
}

/**
 * Webhooks, signed as Standard Webhooks (www.standardwebhooks.com) specifies: the body is the
 * payload's JSON, the same bytes on every attempt; `webhook-id` (and `Idempotency-Key`) is the
 * outbox row's id; `webhook-timestamp` is the attempt's time, so a retry is signed anew.
 */
export function createWebhookSender(options: { timeoutMs: number; now?: () => number }): ChannelSender {
  const now = options.now ?? Date.now
  return {
    kind: 'webhook',
    async send(channel: DeliveryChannel, delivery: LeasedDelivery): Promise<SendResult> {
      if (!channel.secret) return { ok: false, error: 'the webhook channel has no signing secret' }
      const body = JSON.stringify(delivery.payload)
      const timestamp = Math.floor(now() / 1000)
      let signature: string
      try {
        signature = signWebhook(channel.secret, delivery.id, timestamp, body)
      } catch (error) {
        return { ok: false, error: (error as Error).message }
      }
      return postJson(
        channel.url,
        body,
        {
          'webhook-id': delivery.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signature,
          'idempotency-key': delivery.id,
        },
        options.timeoutMs,
      )
    },
  }
}
