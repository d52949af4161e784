import { randomBytes } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { DeliveryChannel, LeasedDelivery } from '../../outbox/alert-outbox.repository.ts'
import type { ChannelSender, SendResult } from './channel-sender.ts'

/** The broker alert channels of kind mqtt publish to: one per process, like the bridge's. */
export interface AlertsMqttSettings {
  /** mqtt://, mqtts://, ws:// or wss:// */
  url: string
  username?: string
  password?: string
  /** PEM contents. */
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized: boolean
  /** Unique per process by default, so replicas do not take each other's session. */
  clientId?: string
}

/** The MQTT v5 user property that carries the outbox row's id on every message. */
export const IDEMPOTENCY_PROPERTY = 'idempotency-key'

export interface MqttSender extends ChannelSender {
  readonly connected: boolean
  close(): Promise<void>
}

/**
 * Publishes the payload's JSON to the channel's topic, QoS 1, not retained (an alert is an event,
 * not a state), over one MQTT v5 connection the process keeps and MQTT.js reconnects. The outbox
 * row's id travels as the user property `idempotency-key` (the payload stays the payload). A send
 * succeeds on the broker's PUBACK; while the broker is unreachable sends fail fast and are retried.
 */
export function createMqttSender(options: {
  settings: AlertsMqttSettings
  timeoutMs: number
  logger: Logger
}): MqttSender {
  const s = options.settings
  const clientOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: s.clientId ?? `tracker-alerts-${randomBytes(6).toString('hex')}`,
    clean: true,
    reconnectPeriod: 5000,
    connectTimeout: Math.max(options.timeoutMs, 5000),
    keepalive: 30,
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.password !== undefined ? { password: s.password } : {}),
    ...(s.ca !== undefined ? { ca: s.ca } : {}),
    ...(s.cert !== undefined ? { cert: s.cert } : {}),
    ...(s.key !== undefined ? { key: s.key } : {}),
    rejectUnauthorized: s.rejectUnauthorized,
  }
  const client: MqttClient = mqtt.connect(s.url, clientOptions)
  let lastError: string | null = null
  client.on('connect', () => {
    lastError = null
    options.logger.info({ event: 'alerts_mqtt_up' }, 'alerts: connected to the MQTT broker')
  })
  client.on('error', (error) => {
    lastError = error.message
    options.logger.warn({ event: 'alerts_mqtt_error', err: error }, `alerts: MQTT: ${error.message}`)
  })

  /** Connected, or waits for the connection up to `ms`. */
  const connection = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (client.connected) return resolve(true)
      const timer = setTimeout(() => done(false), ms)
      const onConnect = () => done(true)
      const done = (up: boolean) => {
        clearTimeout(timer)
        client.off('connect', onConnect)
        resolve(up)
      }
      client.on('connect', onConnect)
    })

  return {
    kind: 'mqtt',
    get connected() {
      return client.connected
    },
    async send(channel: DeliveryChannel, delivery: LeasedDelivery): Promise<SendResult> {
      if (!channel.topic) return { ok: false, error: 'the mqtt channel has no topic' }
      const started = Date.now()
      if (!(await connection(options.timeoutMs)))
        return {
          ok: false,
          error: `not connected to the MQTT broker${lastError ? ` (${lastError})` : ''}`,
        }
      const left = Math.max(1, options.timeoutMs - (Date.now() - started))
      return new Promise<SendResult>((resolve) => {
        const timer = setTimeout(
          () => resolve({ ok: false, error: `no PUBACK within ${options.timeoutMs} ms` }),
          left,
        )
        client.publish(
          channel.topic!,
          JSON.stringify(delivery.payload),
          {
            qos: 1,
            retain: false,
            properties: {
              contentType: 'application/json',
              userProperties: { [IDEMPOTENCY_PROPERTY]: delivery.id },
            },
          },
          (error, packet) => {
            clearTimeout(timer)
            // MQTT v5: a PUBACK with a reason code of 0x80 or more is a refusal (e.g. not authorised).
            const reasonCode = (packet as { reasonCode?: number } | undefined)?.reasonCode
            if (error) resolve({ ok: false, error: error.message })
            else if (reasonCode !== undefined && reasonCode >= 0x80)
              resolve({ ok: false, error: `the broker refused the message (reason code ${reasonCode})` })
            else resolve({ ok: true })
          },
        )
      })
    },
    async close() {
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()))
    },
  }
}
