import type { AlertRuleKind } from '@tracker/db'
import type { DeliveryChannel, LeasedDelivery } from '../../outbox/alert-outbox.repository.ts'
import type { AlertPayload } from '../../outbox/alert-payload.ts'
import { describeAlert } from '../alert-message.ts'
import type { ChannelSender, SendResult } from './channel-sender.ts'
import { postJson } from './http-post.ts'

/**
 * An ntfy message published as JSON (docs.ntfy.sh/publish/#publish-as-json): POSTed to the
 * server's root URL, `topic` the only required field.
 */
export interface NtfyMessage {
  topic: string
  title: string
  message: string
  /** Emoji short codes become icons, other tags are shown as text. */
  tags: string[]
  /** 1 (min) to 5 (max); 3 is ntfy's default. */
  priority: 1 | 2 | 3 | 4 | 5
  /** Opened when the notification is tapped: the position, in the phone's map app. */
  click?: string
}

const EMOJI: Record<AlertRuleKind, string> = {
  enter: 'house',
  leave: 'walking',
  not_seen: 'mag',
  battery: 'battery',
}

const PRIORITY: Record<AlertRuleKind, NtfyMessage['priority']> = {
  enter: 3,
  leave: 4,
  not_seen: 4,
  battery: 3,
}

export function ntfyMessage(topic: string, payload: AlertPayload): NtfyMessage {
  const { title, message } = describeAlert(payload)
  const cancelled = payload.type === 'alert.cancelled'
  const { latitude, longitude } = payload.event
  return {
    topic,
    title,
    message,
    tags: [cancelled ? 'x' : EMOJI[payload.event.kind], 'tracker', payload.event.kind.replace('_', '-')],
    priority: cancelled ? 2 : PRIORITY[payload.event.kind],
    ...(latitude !== null && longitude !== null ? { click: `geo:${latitude},${longitude}` } : {}),
  }
}

/**
 * ntfy (or a server that speaks its JSON publishing): the payload as a sentence people read, to the
 * channel's server (url) and topic, with the channel's secret as an access token (Bearer) when it
 * has one. The idempotency key goes along as X-Idempotency-Key for proxies and compatible servers
 * that use it; ntfy itself ignores the header, so a retry after a lost answer can notify twice.
 */
export function createNtfySender(options: { timeoutMs: number }): ChannelSender {
  return {
    kind: 'ntfy',
    async send(channel: DeliveryChannel, delivery: LeasedDelivery): Promise<SendResult> {
      if (!channel.topic) return { ok: false, error: 'the ntfy channel has no topic' }
      const body = JSON.stringify(ntfyMessage(channel.topic, delivery.payload))
      return postJson(
        channel.url,
        body,
        {
          'x-idempotency-key': delivery.id,
          ...(channel.secret ? { authorization: `Bearer ${channel.secret}` } : {}),
        },
        options.timeoutMs,
      )
    },
  }
}
