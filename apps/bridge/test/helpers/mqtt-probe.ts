import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'

/** The broker the tests use: the machine's Mosquitto (anonymous, 127.0.0.1:1883), or TEST_MQTT_URL. */
export const TEST_MQTT_URL = process.env.TEST_MQTT_URL || 'mqtt://127.0.0.1:1883'

export interface SeenMessage {
  topic: string
  payload: string
  retain: boolean
  at: number
}

/** A subscriber that records everything published under some filters, as a user's tools would. */
export class MqttProbe {
  readonly messages: SeenMessage[] = []
  readonly client: MqttClient
  private constructor(client: MqttClient) {
    this.client = client
    client.on('message', (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload: payload.toString('utf8'),
        retain: packet.retain,
        at: performance.now(),
      })
    })
  }

  static async connect(filters: string[]): Promise<MqttProbe> {
    const client = await mqtt.connectAsync(TEST_MQTT_URL, {
      clientId: `probe-${randomBytes(6).toString('hex')}`,
      reconnectPeriod: 0,
    })
    const probe = new MqttProbe(client)
    await client.subscribeAsync(filters, { qos: 1 })
    return probe
  }

  /** Messages on a topic, oldest first. */
  on(topic: string): SeenMessage[] {
    return this.messages.filter((m) => m.topic === topic)
  }

  /** The last payload seen on a topic, parsed as JSON ('' for a removal, undefined for none). */
  last(topic: string): unknown {
    const message = this.on(topic).at(-1)
    if (!message) return undefined
    return message.payload === '' ? '' : JSON.parse(message.payload)
  }

  async close(): Promise<void> {
    await this.client.endAsync(true)
  }
}

/**
 * What a fresh subscriber gets as retained messages under `filters`: subscribes, then publishes a
 * marker on a topic of the same SUBSCRIBE, which the broker delivers after the retained messages.
 */
export async function retainedMessages(filters: string[], markerTopic: string): Promise<Map<string, string>> {
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    clientId: `fresh-${randomBytes(6).toString('hex')}`,
    reconnectPeriod: 0,
  })
  const found = new Map<string, string>()
  const nonce = randomBytes(6).toString('hex')
  try {
    const done = new Promise<void>((resolve) => {
      client.on('message', (topic, payload, packet) => {
        if (topic === markerTopic && payload.toString() === nonce) resolve()
        else if (packet.retain) found.set(topic, payload.toString('utf8'))
      })
    })
    await client.subscribeAsync([...filters, markerTopic], { qos: 1 })
    await client.publishAsync(markerTopic, nonce, { qos: 1, retain: false })
    await done
  } finally {
    await client.endAsync(true)
  }
  return found
}

/** Removes every retained message under the given topics (test cleanup). */
export async function clearRetained(topics: Iterable<string>): Promise<void> {
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    clientId: `cleanup-${randomBytes(6).toString('hex')}`,
    reconnectPeriod: 0,
  })
  try {
    for (const topic of topics) await client.publishAsync(topic, '', { qos: 1, retain: true })
  } finally {
    await client.endAsync(true)
  }
}
