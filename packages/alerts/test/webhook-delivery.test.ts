import { sql } from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { type AlertDeliverySettings, startAlertDelivery } from '../src/deliver/alert-delivery.ts'
import { createWebhookSender } from '../src/deliver/channels/webhook.channel.ts'
import { Deliverer } from '../src/deliver/deliverer.ts'
import {
  findOutboxDelivery,
  listDeliveryAttempts,
  notifyOutbox,
} from '../src/outbox/alert-outbox.repository.ts'
import type { AlertPayload } from '../src/outbox/alert-payload.ts'
import { HttpReceiver } from './helpers/http-receiver.ts'
import {
  clearAlerts,
  insertChannel,
  insertDelivery,
  insertEvent,
  insertOutboxRow,
  newWebhookSecret,
} from './helpers/outbox-fixtures.ts'
import { flatHeaders, testLogger } from './helpers/test-logger.ts'

let database: TestDatabase
let receiver: HttpReceiver

beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => {
  await database?.close()
})
beforeEach(async () => {
  receiver = await HttpReceiver.start()
})
afterEach(async () => {
  await receiver.close()
  await clearAlerts(database.db)
})

const settings = (overrides: Partial<AlertDeliverySettings> = {}): AlertDeliverySettings => ({
  maxAttempts: 5,
  backoff: { initialMs: 20, maxMs: 200 },
  sendTimeoutMs: 5000,
  leaseMs: 15_000,
  pollIntervalMs: 1000,
  mqtt: null,
  ...overrides,
})

async function start(overrides: Partial<AlertDeliverySettings> = {}) {
  const delivery = await startAlertDelivery({ database, logger: testLogger, settings: settings(overrides) })
  onTestFinished(() => delivery.stop())
  return delivery
}

/** A deliverer the test drives pass by pass. */
const deliverer = (overrides: { initialMs?: number; maxAttempts?: number } = {}) =>
  new Deliverer({
    db: database.db,
    senders: [createWebhookSender({ timeoutMs: 5000 })],
    logger: testLogger,
    maxAttempts: overrides.maxAttempts ?? 5,
    leaseMs: 15_000,
    backoff: { initialMs: overrides.initialMs ?? 20, maxMs: 3_600_000 },
  })

const statusOf = async (outboxId: string) => (await findOutboxDelivery(database.db, outboxId))?.status

describe('webhook delivery', () => {
  it('a receiver that fails (500) twice, then recovers: every attempt recorded with its code, delivered once, one idempotency key, signatures verified by standardwebhooks', async () => {
    receiver.answer = (_, index) => (index < 2 ? { status: 500, body: 'database is down' } : { status: 200 })
    const secret = newWebhookSecret()
    const { outboxId, payload } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: `${receiver.url}/hooks/tracker`,
      secret,
    })
    await start()

    await expect.poll(() => statusOf(outboxId)).toBe('delivered')
    const attempts = await listDeliveryAttempts(database.db, outboxId)
    expect(attempts.map(({ attempt, ok, statusCode }) => ({ attempt, ok, statusCode }))).toEqual([
      { attempt: 1, ok: false, statusCode: 500 },
      { attempt: 2, ok: false, statusCode: 500 },
      { attempt: 3, ok: true, statusCode: 200 },
    ])
    expect(attempts[0]!.error).toBe('HTTP 500: database is down')
    expect(attempts[2]!.error).toBeNull()
    const row = await findOutboxDelivery(database.db, outboxId)
    expect(row).toMatchObject({ status: 'delivered', attempts: 3, leasedUntil: null })
    expect(row!.deliveredAt).toBeInstanceOf(Date)

    // Delivered once: no request after the 2xx.
    expect(receiver.receipts).toHaveLength(3)
    const webhook = new Webhook(secret)
    for (const receipt of receiver.receipts) {
      expect(receipt.method).toBe('POST')
      expect(receipt.path).toBe('/hooks/tracker')
      expect(receipt.headers['content-type']).toBe('application/json')
      expect(receipt.headers['webhook-id']).toBe(outboxId)
      expect(receipt.headers['idempotency-key']).toBe(outboxId)
      expect(receipt.headers['webhook-timestamp']).toMatch(/^\d+$/)
      expect(receipt.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
      // The independent check: Standard Webhooks' own library verifies, then parses, the body.
      expect(webhook.verify(receipt.body, flatHeaders(receipt.headers))).toEqual(payload)
    }
    // Every attempt sends the same bytes.
    expect(new Set(receiver.receipts.map((r) => r.body)).size).toBe(1)

    const { body, headers } = receiver.receipts[2]!
    const tampered = body.replace('"Home"', '"Work"')
    expect(tampered).not.toBe(body)
    expect(() => webhook.verify(tampered, flatHeaders(headers))).toThrow(WebhookVerificationError)
    expect(() => webhook.verify(body, { ...flatHeaders(headers), 'webhook-id': `${outboxId}x` })).toThrow(
      WebhookVerificationError,
    )
    expect(() => new Webhook(newWebhookSecret()).verify(body, flatHeaders(headers))).toThrow(
      WebhookVerificationError,
    )
  })

  it('gives up after ALERTS_MAX_ATTEMPTS: status failed, last_error kept, every attempt recorded, nothing sent after', async () => {
    receiver.answer = () => ({ status: 503, body: 'try later' })
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    await start({ maxAttempts: 3 })

    await expect.poll(() => statusOf(outboxId)).toBe('failed')
    const row = await findOutboxDelivery(database.db, outboxId)
    expect(row).toMatchObject({
      status: 'failed',
      attempts: 3,
      lastError: 'HTTP 503: try later',
      deliveredAt: null,
    })
    const attempts = await listDeliveryAttempts(database.db, outboxId)
    expect(attempts.map((a) => [a.attempt, a.ok, a.statusCode])).toEqual([
      [1, false, 503],
      [2, false, 503],
      [3, false, 503],
    ])
    expect(receiver.withId(outboxId)).toHaveLength(3)
    // A given-up row is never leased again.
    expect((await deliverer().deliverDue()).leased).toBe(0)
  })

  it('410 Gone gives up at once (Standard Webhooks: the receiver wants no more)', async () => {
    receiver.answer = () => ({ status: 410 })
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    const pass = await deliverer().deliverDue()
    expect(pass).toMatchObject({ leased: 1, failed: 1 })
    expect(await findOutboxDelivery(database.db, outboxId)).toMatchObject({ status: 'failed', attempts: 1 })
  })

  it('404 is retried (a receiver being set up), within the limit', async () => {
    receiver.answer = () => ({ status: 404 })
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    expect(await deliverer().deliverDue()).toMatchObject({ leased: 1, retrying: 1 })
    expect(await findOutboxDelivery(database.db, outboxId)).toMatchObject({ status: 'pending', attempts: 1 })
  })

  it('honours Retry-After on 429: the next attempt waits as long as asked, not the shorter backoff', async () => {
    receiver.answer = () => ({ status: 429, headers: { 'retry-after': '30' } })
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    await deliverer({ initialMs: 10 }).deliverDue()
    const row = await findOutboxDelivery(database.db, outboxId)
    const [attempt] = await listDeliveryAttempts(database.db, outboxId)
    expect(row!.status).toBe('pending')
    const waitMs = row!.nextAttemptAt.getTime() - attempt!.attemptedAt.getTime()
    expect(waitMs).toBeGreaterThanOrEqual(29_000)
    expect(waitMs).toBeLessThan(31_000 + attempt!.durationMs)
  })

  it('does not follow redirects: a 3xx is a failed attempt that names the new location', async () => {
    receiver.answer = (receipt) =>
      receipt.path === '/old'
        ? { status: 308, headers: { location: `${receiver.url}/new` } }
        : { status: 200 }
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: `${receiver.url}/old`,
      secret: newWebhookSecret(),
    })
    await deliverer().deliverDue()
    const [attempt] = await listDeliveryAttempts(database.db, outboxId)
    expect(attempt).toMatchObject({ ok: false, statusCode: 308 })
    expect(attempt!.error).toContain(`${receiver.url}/new`)
    expect(receiver.receipts.map((r) => r.path)).toEqual(['/old'])
  })

  it('a cancellation is not sent before its firing is settled, and a channel gets its rows oldest first', async () => {
    let fail = true
    receiver.answer = () => (fail ? { status: 500 } : { status: 204 })
    const channelId = await insertChannel(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    const event = await insertEvent(database.db)
    const t0 = new Date(Date.now() - 60_000)
    const fired = await insertOutboxRow(database.db, { event, channelId, action: 'fired', createdAt: t0 })
    const cancelled = await insertOutboxRow(database.db, {
      event,
      channelId,
      action: 'cancelled',
      createdAt: new Date(t0.getTime() + 1000),
    })
    const later = await insertOutboxRow(database.db, {
      event: await insertEvent(database.db),
      channelId,
      createdAt: new Date(t0.getTime() + 2000),
    })
    const d = deliverer({ initialMs: 3_600_000 })

    expect(await d.deliverDue()).toMatchObject({ leased: 1, retrying: 1 }) // the firing fails
    // The firing waits an hour for its retry: the cancellation stays behind it, a newer event does not.
    expect(await d.deliverDue()).toMatchObject({ leased: 1, retrying: 1 })
    expect(receiver.receipts.map((r) => r.headers['webhook-id'])).toEqual([fired.id, later.id])
    expect(await d.deliverDue()).toMatchObject({ leased: 0 })

    fail = false
    await sql`UPDATE alert_outbox SET next_attempt_at = now() WHERE id = ${fired.id}`.execute(database.db)
    expect(await d.deliverDue()).toMatchObject({ leased: 1, delivered: 1 })
    expect(await d.deliverDue()).toMatchObject({ leased: 1, delivered: 1 })
    expect(receiver.receipts.map((r) => r.headers['webhook-id'])).toEqual([
      fired.id,
      later.id,
      fired.id,
      cancelled.id,
    ])
    const types = receiver.receipts.map((r) => (JSON.parse(r.body) as AlertPayload).type)
    expect(types.slice(2)).toEqual(['alert.fired', 'alert.cancelled'])
  })

  it('a channel deleted during a send: its rows are gone (cascade) and the attempt is dropped, not an error', async () => {
    receiver.answer = () => 'hold'
    const { outboxId, channelId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    const pass = deliverer().deliverDue()
    await expect.poll(() => receiver.held).toBe(1)
    await database.db.deleteFrom('alert_channels').where('id', '=', channelId).execute()
    receiver.release(200)
    expect(await pass).toMatchObject({ leased: 1, delivered: 0, unrecorded: 0, dropped: 1 })
    expect(await findOutboxDelivery(database.db, outboxId)).toBeNull()
  })

  it('stop() lets the send in flight finish and records it: nothing left half-done', async () => {
    receiver.answer = () => 'hold'
    const { outboxId } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    const delivery = await start()
    await expect.poll(() => receiver.held).toBe(1)
    let stopped = false
    const stopping = delivery.stop().then(() => {
      stopped = true
    })
    // Stopping waits for the answer.
    await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    receiver.release(200)
    await stopping
    expect(await findOutboxDelivery(database.db, outboxId)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      leasedUntil: null,
    })
  })

  it('a NOTIFY on alert_outbox (notifyOutbox in the inserting transaction) wakes a sleeping deliverer at once', async () => {
    receiver.answer = () => ({ status: 204 })
    // Nothing pending: the worker sleeps a whole poll interval, a minute, unless woken.
    const delivery = await start({ pollIntervalMs: 60_000 })
    await expect.poll(() => delivery.status().passes).toBeGreaterThan(0)
    const channelId = await insertChannel(database.db, {
      kind: 'webhook',
      url: receiver.url,
      secret: newWebhookSecret(),
    })
    const event = await insertEvent(database.db)
    const row = await database.db.transaction().execute(async (trx) => {
      const inserted = await insertOutboxRow(trx, { event, channelId })
      await notifyOutbox(trx)
      return inserted
    })
    await expect.poll(() => statusOf(row.id), { timeout: 10_000 }).toBe('delivered')
  })
})
