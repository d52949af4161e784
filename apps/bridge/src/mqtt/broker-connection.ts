import { randomBytes } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { MqttSettings } from '../env.ts'

export interface BrokerStatus {
  connected: boolean
  /** When the current state (connected or not) began. */
  since: string
  reconnects: number
  lastError: string | null
}

export interface BrokerConnectionOptions {
  settings: MqttSettings
  /** Availability topic: the Last Will says `offline` there, each connect `online` (both retained). */
  statusTopic: string
  logger: Logger
  /** After every connect (the first included), once `online` is published. */
  onConnected(event: { reconnect: boolean }): void
  onDisconnected?(): void
  onMessage?(topic: string, payload: Buffer, retained: boolean): void
}

export class ConnectionLostError extends Error {
  readonly code = 'MQTT_CONNECTION_LOST'
}

/**
 * One MQTT connection (MQTT.js) with the bridge's rules: QoS 1, a retained Last Will `offline` on the
 * availability topic and a retained `online` after every connect, and reconnection with backoff
 * (1 s doubling to `reconnectMaxMs`; MQTT.js' own reconnect retries at one fixed period, so it is
 * off and this class reconnects). A publish in flight when the connection drops rejects
 * (ConnectionLostError) instead of waiting forever: the bridge republishes every tracker's latest
 * state after each reconnect, so nothing that matters is lost with it.
 */
export class BrokerConnection {
  readonly #o: BrokerConnectionOptions
  readonly client: MqttClient
  #connected = false
  #since = new Date()
  #reconnects = 0
  #everConnected = false
  #attempt = 0
  #timer: NodeJS.Timeout | null = null
  #stopping = false
  #lastError: string | null = null
  /** Rejecters of publishes awaiting their PUBACK, failed together when the connection drops. */
  readonly #inflight = new Set<(error: Error) => void>()

  constructor(options: BrokerConnectionOptions) {
    this.#o = options
    const s = options.settings
    const clientOptions: IClientOptions = {
      clientId: s.clientId,
      clean: true,
      // Off: reconnection (with backoff) is ours, see above.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.ca !== undefined ? { ca: s.ca } : {}),
      ...(s.cert !== undefined ? { cert: s.cert } : {}),
      ...(s.key !== undefined ? { key: s.key } : {}),
      rejectUnauthorized: s.rejectUnauthorized,
      will: { topic: options.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      manualConnect: true,
    }
    this.client = mqtt.connect(s.url, clientOptions)
    this.client.on('connect', () => this.#onConnect())
    this.client.on('close', () => this.#onClose())
    this.client.on('error', (error) => {
      this.#lastError = error.message
      options.logger.warn({ event: 'mqtt_error', err: error }, `MQTT: ${error.message}`)
    })
    this.client.on('message', (topic, payload, packet) => options.onMessage?.(topic, payload, packet.retain))
  }

  status(): BrokerStatus {
    return {
      connected: this.#connected,
      since: this.#since.toISOString(),
      reconnects: this.#reconnects,
      lastError: this.#lastError,
    }
  }

  get connected(): boolean {
    return this.#connected
  }

  start(): void {
    this.client.connect()
  }

  #onConnect(): void {
    // A tracker's messages go out back to back: without TCP_NODELAY, Nagle's algorithm holds each
    // small publish until the previous one is acknowledged (40 ms a message with delayed ACKs).
    ;(this.client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true)
    this.#attempt = 0
    this.#lastError = null
    const reconnect = this.#everConnected
    this.#everConnected = true
    if (reconnect) this.#reconnects += 1
    this.#o.logger.info({ event: 'mqtt_up', reconnect }, 'connected to the MQTT broker')
    this.publish(this.#o.statusTopic, 'online').catch(() => {})
    this.#setConnected(true)
    this.#o.onConnected({ reconnect })
  }

  #onClose(): void {
    for (const fail of this.#inflight)
      fail(new ConnectionLostError('the MQTT connection was lost before PUBACK'))
    this.#inflight.clear()
    const wasConnected = this.#connected
    this.#setConnected(false)
    if (wasConnected) {
      this.#o.logger.warn({ event: 'mqtt_down' }, 'MQTT connection lost; reconnecting')
      this.#o.onDisconnected?.()
    }
    if (this.#stopping || this.#timer) return
    const delay = Math.min(1000 * 2 ** this.#attempt, this.#o.settings.reconnectMaxMs)
    this.#attempt += 1
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (!this.#stopping) this.client.reconnect()
    }, delay)
  }

  #setConnected(connected: boolean): void {
    if (this.#connected !== connected) this.#since = new Date()
    this.#connected = connected
  }

  /** QoS 1, retained; resolves on the broker's PUBACK. An empty payload deletes the retained message. */
  publish(topic: string, payload: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.#connected && topic !== this.#o.statusTopic) {
        reject(new ConnectionLostError('not connected to the MQTT broker'))
        return
      }
      this.#inflight.add(reject)
      this.client.publish(topic, payload, { qos: 1, retain: true }, (error) => {
        this.#inflight.delete(reject)
        if (error) reject(error)
        else resolve()
      })
    })
  }

  async subscribe(topic: string): Promise<void> {
    await this.client.subscribeAsync(topic, { qos: 1 })
  }

  async unsubscribe(topic: string): Promise<void> {
    await this.client.unsubscribeAsync(topic)
  }

  /**
   * Every retained message under `wildcard` (one level `+` before a fixed last level), read by
   * subscribing and then publishing a marker that matches the same subscription: the broker sends
   * the retained messages on SUBSCRIBE, before anything published after it, so the marker comes last.
   */
  async readRetained(wildcard: string, timeoutMs = 10_000): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>()
    const marker = wildcard.replace('+', `sync-${randomBytes(6).toString('hex')}`)
    let done: () => void = () => {}
    const finished = new Promise<void>((resolve) => {
      done = resolve
    })
    const onMessage = (topic: string, payload: Buffer, packet: { retain: boolean }) => {
      if (topic === marker) done()
      else if (packet.retain && topicMatches(wildcard, topic) && payload.length > 0) found.set(topic, payload)
    }
    this.client.on('message', onMessage)
    const timer = setTimeout(done, timeoutMs)
    try {
      await this.subscribe(wildcard)
      // Not retained: the marker must leave nothing behind.
      await new Promise<void>((resolve, reject) =>
        this.client.publish(marker, 'sync', { qos: 1, retain: false }, (error) =>
          error ? reject(error) : resolve(),
        ),
      )
      await finished
      await this.unsubscribe(wildcard)
    } finally {
      clearTimeout(timer)
      this.client.off('message', onMessage)
    }
    return found
  }

  /** Publishes `offline` (the Last Will is for crashes) and disconnects; no reconnect after this. */
  async stop(): Promise<void> {
    this.#stopping = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#connected) {
      await Promise.race([
        this.publish(this.#o.statusTopic, 'offline').catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ])
    }
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()))
    this.#setConnected(false)
  }
}

/** MQTT topic matching for `+` (one level) and a trailing `#`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}
