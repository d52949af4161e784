import { randomBytes } from 'node:crypto'
import type { AlertChannelKind } from '@tracker/db'
import { AlertInputError, validName } from '../validation/alert-input-error.ts'

/**
 * Channels and what each needs.
 *
 * webhook: `url` (http or https) and a signing secret in Standard Webhooks' form, `whsec_` and the
 * base64 of 24 to 64 random bytes; one of 32 bytes is generated when none is given. The secret is
 * stored for signing and never read back: the API shows it once, in the answer that created it.
 * ntfy: `url` (the server, e.g. https://ntfy.sh) and `topic` (ntfy's topic names: 1 to 64 of
 * letters, digits, `-` and `_`); `secret` optionally an access token (sent as a bearer token).
 * mqtt: `topic` on the bridge's broker, a topic name to publish to: no `+` or `#` wildcards, not
 * `$`-prefixed (reserved for the broker), no NUL; no url or secret (the bridge's broker is used).
 */
export const CHANNEL_LIMITS = {
  maxUrlLength: 2_048,
  maxMqttTopicLength: 1_024,
  webhookSecretBytes: { min: 24, max: 64, generated: 32 },
  maxTokenLength: 512,
} as const

export const CHANNEL_KINDS: readonly AlertChannelKind[] = ['webhook', 'ntfy', 'mqtt']

export interface ChannelInput {
  name: string
  kind: AlertChannelKind
  url?: string | null
  topic?: string | null
  secret?: string | null
}

export interface ValidChannel {
  name: string
  kind: AlertChannelKind
  url: string | null
  topic: string | null
  secret: string | null
}

const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/
const NTFY_TOPIC = /^[-_A-Za-z0-9]{1,64}$/

const given = (value: string | null | undefined): value is string => value !== null && value !== undefined

/** A new webhook signing secret: `whsec_` and 32 random bytes in base64. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(CHANNEL_LIMITS.webhookSecretBytes.generated).toString('base64')}`
}

export function validateHttpUrl(value: string, field = 'url'): string {
  const trimmed = value.trim()
  if (trimmed.length > CHANNEL_LIMITS.maxUrlLength)
    throw new AlertInputError(field, 'URL_INVALID', `at most ${CHANNEL_LIMITS.maxUrlLength} characters`)
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    throw new AlertInputError(field, 'URL_INVALID', 'is not an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new AlertInputError(
      field,
      'URL_INVALID',
      `must be http or https (got ${url.protocol.replace(/:$/, '')})`,
    )
  if (url.hostname === '') throw new AlertInputError(field, 'URL_INVALID', 'has no host')
  // Kept as written: URL's own text would add a trailing slash to a bare host.
  return trimmed
}

export function validateWebhookSecret(secret: string, field = 'secret'): string {
  const match = WEBHOOK_SECRET.exec(secret.trim())
  const bytes = match ? Buffer.from(match[1]!, 'base64').length : 0
  const { min, max } = CHANNEL_LIMITS.webhookSecretBytes
  if (!match || bytes < min || bytes > max) {
    throw new AlertInputError(
      field,
      'SECRET_INVALID',
      `a webhook secret is whsec_ followed by the base64 of ${min} to ${max} random bytes (leave it out to have one generated)`,
    )
  }
  return secret.trim()
}

export function validateMqttTopic(topic: string, field = 'topic'): string {
  const bad = (why: string) => new AlertInputError(field, 'TOPIC_INVALID', why)
  if (topic.length === 0 || Buffer.byteLength(topic) > CHANNEL_LIMITS.maxMqttTopicLength)
    throw bad(`must be 1 to ${CHANNEL_LIMITS.maxMqttTopicLength} bytes`)
  if (/[+#]/.test(topic)) throw bad('wildcards (+ and #) subscribe, they cannot be published to')
  if (topic.startsWith('$')) throw bad('topics starting with $ are the broker’s own')
  if (topic.includes('\u0000')) throw bad('must not contain NUL')
  return topic
}

function refuse(kind: AlertChannelKind, field: keyof ChannelInput, value: string | null | undefined) {
  if (given(value)) throw new AlertInputError(field, 'NOT_FOR_KIND', `is not a setting of a ${kind} channel`)
}

/**
 * Checks a channel; a webhook without a secret gets a generated one (returned in `secret`, for the
 * caller to show once).
 */
export function validateChannel(input: ChannelInput): ValidChannel {
  const name = validName(input.name)
  switch (input.kind) {
    case 'webhook':
      if (!given(input.url)) throw new AlertInputError('url', 'REQUIRED', 'a webhook channel posts to a URL')
      refuse('webhook', 'topic', input.topic)
      return {
        name,
        kind: 'webhook',
        url: validateHttpUrl(input.url),
        topic: null,
        secret: given(input.secret) ? validateWebhookSecret(input.secret) : generateWebhookSecret(),
      }
    case 'ntfy': {
      if (!given(input.url))
        throw new AlertInputError(
          'url',
          'REQUIRED',
          'an ntfy channel needs the server’s URL (e.g. https://ntfy.sh)',
        )
      if (!given(input.topic)) throw new AlertInputError('topic', 'REQUIRED', 'an ntfy channel needs a topic')
      if (!NTFY_TOPIC.test(input.topic))
        throw new AlertInputError(
          'topic',
          'TOPIC_INVALID',
          'an ntfy topic is 1 to 64 letters, digits, - or _',
        )
      let secret: string | null = null
      if (given(input.secret)) {
        secret = input.secret.trim()
        if (secret.length === 0 || secret.length > CHANNEL_LIMITS.maxTokenLength || /\s/.test(secret))
          throw new AlertInputError(
            'secret',
            'SECRET_INVALID',
            `an ntfy access token is 1 to ${CHANNEL_LIMITS.maxTokenLength} characters without spaces`,
          )
      }
      return { name, kind: 'ntfy', url: validateHttpUrl(input.url), topic: input.topic, secret }
    }
    case 'mqtt':
      if (!given(input.topic))
        throw new AlertInputError('topic', 'REQUIRED', 'an mqtt channel publishes to a topic')
      refuse('mqtt', 'url', input.url)
      refuse('mqtt', 'secret', input.secret)
      return { name, kind: 'mqtt', url: null, topic: validateMqttTopic(input.topic), secret: null }
    default:
      throw new AlertInputError('kind', 'OUT_OF_RANGE', `must be one of ${CHANNEL_KINDS.join(', ')}`)
  }
}
