import { randomBytes } from 'node:crypto'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import mqtt, { type IPublishPacket } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { startAlertDelivery } from '../src/deliver/alert-delivery.ts'
import { createMqttSender, IDEMPOTENCY_PROPERTY } from '../src/deliver/channels/mqtt.channel.ts'
import { Deliverer } from '../src/deliver/deliverer.ts'
import { findOutboxDelivery, listDeliveryAttempts } from '../src/outbox/alert-outbox.repository.ts'
import { clearAlerts, insertDelivery } from './helpers/outbox-fixtures.ts'
import { testLogger } from './helpers/test-logger.ts'

/** The machine's Mosquitto (anonymous, 127.0.0.1:1883), or TEST_MQTT_URL, as the bridge's tests use. */
const TEST_MQTT_URL = process.env.TEST_MQTT_URL || 'mqtt://127.0.0.1:1883'

let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  await clearAlerts(database.db)
})
afterAll(async () => {
  await database?.close()
})

/** A subscriber, as a user's automation would be: MQTT v5, QoS 1. */
async function subscribe(topic: string) {
  const client = await mqtt.connectAsync(TEST_MQTT_URL, {
    protocolVersion: 5,
    clientId: `alerts-test-${randomBytes(6).toString('hex')}`,
    reconnectPeriod: 0,
  })
  onTestFinished(() => client.endAsync(true))
  const messages: IPublishPacket[] = []
  client.on('message', (_topic, _payload, packet) => messages.push(packet))
  await client.subscribeAsync(topic, { qos: 1 })
  return messages
}

describe('mqtt delivery (the machine Mosquitto)', () => {
  it('a subscriber receives the payload with QoS 1, not retained, the idempotency key as a v5 user property', async () => {
    const topic = `tracker-test/alerts/${randomBytes(6).toString('hex')}`
    const messages = await subscribe(topic)
    const { outboxId, payload } = await insertDelivery(database.db, { kind: 'mqtt', topic })
    const delivery = await startAlertDelivery({
      database,
      logger: testLogger,
      settings: {
        maxAttempts: 3,
        backoff: { initialMs: 50, maxMs: 500 },
        sendTimeoutMs: 5000,
        leaseMs: 15_000,
        pollIntervalMs: 1000,
        mqtt: { url: TEST_MQTT_URL, rejectUnauthorized: true },
      },
    })
    onTestFinished(() => delivery.stop())

    await expect.poll(() => messages.length).toBe(1)
    const [message] = messages
    expect(message!.topic).toBe(topic)
    expect(message!.qos).toBe(1)
    expect(message!.retain).toBe(false)
    expect(JSON.parse(message!.payload.toString('utf8'))).toEqual(payload)
    expect(message!.properties?.userProperties?.[IDEMPOTENCY_PROPERTY]).toBe(outboxId)
    expect(message!.properties?.contentType).toBe('application/json')
    await expect.poll(async () => (await findOutboxDelivery(database.db, outboxId))?.status).toBe('delivered')
    const attempts = await listDeliveryAttempts(database.db, outboxId)
    expect(attempts.map((a) => [a.attempt, a.ok, a.statusCode])).toEqual([[1, true, null]])
    expect(delivery.status().mqttConnected).toBe(true)
  })

  it('rows to two channels go out in one pass; a broker that cannot be reached fails the attempt (retried) within the timeout', async () => {
    const topic = `tracker-test/alerts/${randomBytes(6).toString('hex')}`
    const messages = await subscribe(topic)
    const sender = createMqttSender({
      settings: { url: TEST_MQTT_URL, rejectUnauthorized: true },
      timeoutMs: 5000,
      logger: testLogger,
    })
    onTestFinished(() => sender.close())
    const deliverer = new Deliverer({
      db: database.db,
      senders: [sender],
      logger: testLogger,
      maxAttempts: 3,
      leaseMs: 15_000,
      backoff: { initialMs: 50, maxMs: 500 },
    })
    const rows = [
      await insertDelivery(database.db, { kind: 'mqtt', topic }),
      await insertDelivery(database.db, { kind: 'mqtt', topic }),
    ]
    expect(await deliverer.deliverDue()).toMatchObject({ leased: 2, delivered: 2 })
    await expect.poll(() => messages.length).toBe(2)
    expect(new Set(messages.map((m) => m.properties?.userProperties?.[IDEMPOTENCY_PROPERTY]))).toEqual(
      new Set(rows.map((r) => r.outboxId)),
    )

    // Nothing listens on port 9 (discard): the connection is refused; the attempt fails within the timeout.
    const unreachable = createMqttSender({
      settings: { url: 'mqtt://127.0.0.1:9', rejectUnauthorized: true },
      timeoutMs: 1000,
      logger: testLogger,
    })
    onTestFinished(() => unreachable.close())
    const down = new Deliverer({
      db: database.db,
      senders: [unreachable],
      logger: testLogger,
      maxAttempts: 3,
      leaseMs: 15_000,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    })
    const { outboxId } = await insertDelivery(database.db, { kind: 'mqtt', topic })
    expect(await down.deliverDue()).toMatchObject({ leased: 1, retrying: 1 })
    const [attempt] = await listDeliveryAttempts(database.db, outboxId)
    expect(attempt!.error).toMatch(/^not connected to the MQTT broker/)
  })

  it('without a configured broker, mqtt channels fail their attempts with a message that names ALERTS_MQTT_URL', async () => {
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'mqtt',
      topic: 'tracker-test/alerts/none',
    })
    const deliverer = new Deliverer({
      db: database.db,
      senders: [],
      logger: testLogger,
      maxAttempts: 3,
      leaseMs: 15_000,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    })
    await deliverer.deliverDue()
    const [attempt] = await listDeliveryAttempts(database.db, outboxId)
    expect(attempt).toMatchObject({ ok: false, error: expect.stringContaining('ALERTS_MQTT_URL') })
  })
})
