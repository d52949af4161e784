import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Database, Kysely } from '@tracker/db'
import { createTestDatabase, insertTracker } from '@tracker/db/testing'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { startAlertDeliverer } from '../src/alerts/alert-deliverer.ts'
import { describeConfig, parseImporterEnv } from '../src/env.ts'
import { ChildImporter, type SharedDatabase, sharedDatabase } from './child-importer.ts'
import { importFixture, silent } from './fixtures.ts'

/** A webhook receiver on 127.0.0.1 that answers 204 and keeps what it got. */
async function receiver() {
  const received: { headers: IncomingHttpHeaders; body: string }[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString()
    })
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received }
}

/** An outbox row as the evaluator writes it: a fired leave event to a webhook channel. */
async function pendingWebhook(db: Kysely<Database>, url: string): Promise<string> {
  const tracker = await insertTracker(db, { name: 'Keys' })
  const place = await db
    .insertInto('alert_places')
    .values({ name: 'Home', shape: 'circle', center_latitude: 52.5, center_longitude: 13.4, radius_m: 100 })
    .returning('id')
    .executeTakeFirstOrThrow()
  const rule = await db
    .insertInto('alert_rules')
    .values({ name: 'Keys left home', kind: 'leave', place_id: place.id })
    .returning('id')
    .executeTakeFirstOrThrow()
  const at = new Date(Date.now() - Math.floor(Math.random() * 86_400_000))
  const event = await db
    .insertInto('alert_events')
    .values({
      rule_id: rule.id,
      tracker_id: tracker.id,
      kind: 'leave',
      occurred_before: at,
      confirmed_at: at,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  const channel = await db
    .insertInto('alert_channels')
    .values({ name: 'hook', kind: 'webhook', url, secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` })
    .returning('id')
    .executeTakeFirstOrThrow()
  const payload = {
    type: 'alert.fired',
    event: { id: event.id, kind: 'leave', occurredAfter: null, occurredBefore: at.toISOString() },
    rule: { id: rule.id, name: 'Keys left home', kind: 'leave' },
    tracker: { id: tracker.id, name: 'Keys' },
    place: { id: place.id, name: 'Home' },
  }
  const row = await db
    .insertInto('alert_outbox')
    .values({ event_id: event.id, channel_id: channel.id, action: 'fired', payload: JSON.stringify(payload) })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

describe('alert delivery settings (ALERTS_*)', () => {
  it('on by default, with documented defaults; off gives none', () => {
    const config = parseImporterEnv({})
    expect(config.alertDelivery).toEqual({
      maxAttempts: 10,
      backoff: { initialMs: 30_000, maxMs: 7_200_000 },
      sendTimeoutMs: 15_000,
      leaseMs: 60_000,
      pollIntervalMs: 5000,
      mqtt: null,
    })
    expect(parseImporterEnv({ ALERTS_DELIVERY: 'off' }).alertDelivery).toBeNull()
  })

  it('the MQTT broker: its URL and credentials, the password never in the logged configuration', () => {
    const config = parseImporterEnv({
      ALERTS_MQTT_URL: 'mqtts://broker.example:8883',
      ALERTS_MQTT_USERNAME: 'tracker',
      ALERTS_MQTT_PASSWORD: 'hunter2',
      ALERTS_MQTT_REJECT_UNAUTHORIZED: 'false',
    })
    expect(config.alertDelivery?.mqtt).toEqual({
      url: 'mqtts://broker.example:8883',
      username: 'tracker',
      password: 'hunter2',
      rejectUnauthorized: false,
    })
    expect(JSON.stringify(describeConfig(config))).not.toContain('hunter2')
  })

  it('refuses what cannot work, naming the variable', () => {
    expect(() => parseImporterEnv({ ALERTS_DELIVERY: 'yes' })).toThrow(
      /ALERTS_DELIVERY must be "on" or "off"/,
    )
    expect(() => parseImporterEnv({ ALERTS_MAX_ATTEMPTS: '0' })).toThrow(
      /ALERTS_MAX_ATTEMPTS must be at least 1/,
    )
    expect(() => parseImporterEnv({ ALERTS_LEASE: '10 seconds' })).toThrow(
      /ALERTS_LEASE must be at least 5 seconds longer than ALERTS_SEND_TIMEOUT/,
    )
    expect(() => parseImporterEnv({ ALERTS_RETRY_BACKOFF: '3 hours' })).toThrow(
      /ALERTS_RETRY_BACKOFF must not be longer than ALERTS_RETRY_BACKOFF_MAX/,
    )
    expect(() => parseImporterEnv({ ALERTS_MQTT_URL: 'http://broker' })).toThrow(
      /ALERTS_MQTT_URL must be an mqtt/,
    )
    expect(() => parseImporterEnv({ ALERTS_MQTT_CERT_FILE: '/etc/cert.pem' })).toThrow(
      /ALERTS_MQTT_CERT_FILE and ALERTS_MQTT_KEY_FILE go together/,
    )
    expect(() =>
      parseImporterEnv({ ALERTS_MQTT_URL: 'mqtts://b:8883', ALERTS_MQTT_CA_FILE: '/nonexistent/ca.pem' }),
    ).toThrow(/ALERTS_MQTT_CA_FILE: cannot read \/nonexistent\/ca.pem \(ENOENT\)/)
  })
})

describe('the importer delivers alerts', () => {
  it('startAlertDeliverer: the outbox is delivered and the metrics are on the given registry', async () => {
    const database = await createTestDatabase()
    onTestFinished(() => database.close())
    const hook = await receiver()
    const outboxId = await pendingWebhook(database.db, hook.url)
    const registry = new Registry()
    const delivery = await startAlertDeliverer({
      database,
      logger: silent,
      config: parseImporterEnv({ ALERTS_POLL_INTERVAL: '100 ms' }),
      registry,
    })
    onTestFinished(() => delivery?.stop())

    await expect.poll(() => hook.received.length).toBe(1)
    expect(hook.received[0]!.headers['webhook-id']).toBe(outboxId)
    await expect
      .poll(
        async () =>
          (await database.db.selectFrom('alert_outbox').select('status').executeTakeFirst())?.status,
      )
      .toBe('delivered')
    const metrics = await registry.metrics()
    expect(metrics).toContain('tracker_alert_delivery_attempts_total{kind="webhook",outcome="delivered"} 1')
    expect(metrics).toContain('tracker_alert_delivery_attempts_total{kind="mqtt",outcome="failed"} 0')
    expect(metrics).toContain('tracker_alert_outbox_rows{status="pending"} 0')
    expect(metrics).toContain('tracker_alert_outbox_oldest_pending_age_seconds 0')
    expect(metrics).toMatch(/tracker_alert_delivery_attempt_duration_seconds_count\{kind="webhook"\} 1/)
    expect(metrics).not.toMatch(/^tracker_alert_mqtt_connected /m)
  })

  it('ALERTS_DELIVERY=off: nothing is started', async () => {
    const database = await createTestDatabase()
    onTestFinished(() => database.close())
    const delivery = await startAlertDeliverer({
      database,
      logger: silent,
      config: parseImporterEnv({ ALERTS_DELIVERY: 'off' }),
      registry: new Registry(),
    })
    expect(delivery).toBeNull()
  })

  describe('main.ts --once', () => {
    let shared: SharedDatabase
    beforeAll(async () => {
      shared = await sharedDatabase()
    })
    afterAll(() => shared?.dispose())

    it('delivers what is due before it exits', async () => {
      const database = await shared.open()
      const fixture = await importFixture(database, { seed: 61, trackers: 1 })
      const hook = await receiver()
      const outboxId = await pendingWebhook(database.db, hook.url)
      await shared.release()

      const child = new ChildImporter(['--once'], {
        ...shared.env,
        KEY_SEALING_PRIVATE_KEY: fixture.secret,
        REPORT_ENDPOINT_URL: fixture.simulator.url,
        REPORT_ENDPOINT_PAUSE: '1 ms',
      })
      expect(await child.exited, child.output()).toBe(0)
      expect(hook.received.map((r) => r.headers['webhook-id'])).toEqual([outboxId])
      const after = await shared.open()
      const row = await after.db
        .selectFrom('alert_outbox')
        .selectAll()
        .where('id', '=', outboxId)
        .executeTakeFirst()
      expect(row).toMatchObject({ status: 'delivered', attempts: 1 })
    })
  })
})
