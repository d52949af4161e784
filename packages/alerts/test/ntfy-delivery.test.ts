import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createNtfySender } from '../src/deliver/channels/ntfy.channel.ts'
import { Deliverer } from '../src/deliver/deliverer.ts'
import { findOutboxDelivery, listDeliveryAttempts } from '../src/outbox/alert-outbox.repository.ts'
import { HttpReceiver } from './helpers/http-receiver.ts'
import { clearAlerts, insertChannel, insertEvent, insertOutboxRow } from './helpers/outbox-fixtures.ts'
import { testLogger } from './helpers/test-logger.ts'

/**
 * There is no ntfy server to test against: ntfy is not in Debian's packages and this machine has no
 * network. A local HTTP server stands in and checks each request is a valid ntfy JSON publish as
 * docs.ntfy.sh/publish/#publish-as-json describes it: POST to the root URL, a JSON object whose
 * only required field is `topic`, the other fields of the documented types.
 */
const NTFY_JSON_FIELDS: Record<string, (value: unknown) => boolean> = {
  topic: (v) => typeof v === 'string' && /^[-_A-Za-z0-9]{1,64}$/.test(v),
  message: (v) => typeof v === 'string',
  title: (v) => typeof v === 'string',
  tags: (v) => Array.isArray(v) && v.every((t) => typeof t === 'string'),
  priority: (v) => v === 1 || v === 2 || v === 3 || v === 4 || v === 5,
  actions: Array.isArray,
  click: (v) => typeof v === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(v),
  attach: (v) => typeof v === 'string',
  markdown: (v) => typeof v === 'boolean',
  icon: (v) => typeof v === 'string',
  filename: (v) => typeof v === 'string',
  delay: (v) => typeof v === 'string',
  email: (v) => typeof v === 'string',
  call: (v) => typeof v === 'string',
}

/** Why a request is not a valid ntfy JSON publish; empty when it is. */
function ntfyPublishProblems(request: { method: string; path: string; body: string }): string[] {
  const problems: string[] = []
  if (request.method !== 'POST' && request.method !== 'PUT') problems.push(`method ${request.method}`)
  if (request.path !== '/') problems.push(`posted to ${request.path}, not the root URL`)
  let message: unknown
  try {
    message = JSON.parse(request.body)
  } catch {
    return [...problems, 'the body is not JSON']
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    return [...problems, 'the body is not a JSON object']
  const fields = message as Record<string, unknown>
  if (!('topic' in fields)) problems.push('no topic')
  for (const [name, value] of Object.entries(fields)) {
    const valid = NTFY_JSON_FIELDS[name]
    if (!valid) problems.push(`${name} is not an ntfy field`)
    else if (!valid(value)) problems.push(`${name} has the wrong type: ${JSON.stringify(value)}`)
  }
  return problems
}

let database: TestDatabase
let server: HttpReceiver

beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => {
  await database?.close()
})
beforeEach(async () => {
  server = await HttpReceiver.start()
  server.answer = (receipt) =>
    ntfyPublishProblems(receipt).length === 0
      ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"x","event":"message"}' }
      : { status: 400, body: '{"code":40024,"error":"invalid request"}' }
})
afterEach(async () => {
  await server.close()
  await clearAlerts(database.db)
})

const deliverer = () =>
  new Deliverer({
    db: database.db,
    senders: [createNtfySender({ timeoutMs: 5000 })],
    logger: testLogger,
    maxAttempts: 3,
    leaseMs: 15_000,
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  })

describe('ntfy delivery (against a local stand-in server: no ntfy server on this machine, none in Debian, no network)', () => {
  it('publishes a valid ntfy JSON message to the root URL: a sentence in report time, tags, priority, the access token and the idempotency key', async () => {
    const channelId = await insertChannel(database.db, {
      kind: 'ntfy',
      url: server.url,
      topic: 'tracker_alerts-1',
      secret: 'tk_abcdefghijklmnopqrstuvwxyz012',
    })
    const event = await insertEvent(database.db, { trackerName: 'Keys' })
    const fired = await insertOutboxRow(database.db, { event, channelId, action: 'fired' })

    expect(await deliverer().deliverDue()).toMatchObject({ leased: 1, delivered: 1 })
    const [request] = server.receipts
    expect(ntfyPublishProblems(request!)).toEqual([])
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers.authorization).toBe('Bearer tk_abcdefghijklmnopqrstuvwxyz012')
    expect(request!.headers['x-idempotency-key']).toBe(fired.id)
    const hm = (d: Date) => d.toISOString().slice(11, 16)
    const day = `${event.occurredBefore.getUTCDate()} Dec 2026`
    expect(JSON.parse(request!.body)).toEqual({
      topic: 'tracker_alerts-1',
      title: 'Keys left Home',
      message: `Keys left Home between ${hm(event.occurredAfter)} and ${hm(event.occurredBefore)} UTC on ${day} — learnt 2 h later.\nRule: Keys left home`,
      tags: ['walking', 'tracker', 'leave'],
      priority: 4,
      click: 'geo:52.53,13.41',
    })
    expect((await findOutboxDelivery(database.db, fired.id))?.status).toBe('delivered')
  })

  it('a cancellation says so, and an ntfy channel without a token sends no Authorization', async () => {
    const channelId = await insertChannel(database.db, {
      kind: 'ntfy',
      url: `${server.url}/`,
      topic: 'alerts',
    })
    const event = await insertEvent(database.db, { trackerName: 'Bike' })
    await insertOutboxRow(database.db, { event, channelId, action: 'cancelled' })

    expect(await deliverer().deliverDue()).toMatchObject({ leased: 1, delivered: 1 })
    const [request] = server.receipts
    expect(ntfyPublishProblems(request!)).toEqual([])
    expect(request!.headers.authorization).toBeUndefined()
    const message = JSON.parse(request!.body)
    expect(message.title).toBe('Cancelled: Bike left Home')
    expect(message.message).toMatch(
      /^A later report showed that Bike did not leave Home between .* after all \(a later report put it inside the place\); the earlier alert is withdrawn\./,
    )
    expect(message.tags[0]).toBe('x')
    expect(message.priority).toBe(2)
  })

  it('an ntfy error (400 with its JSON) is recorded with the server’s words and retried', async () => {
    // A URL with a path: the stand-in answers 400 as ntfy does to a publish it cannot take.
    const channelId = await insertChannel(database.db, {
      kind: 'ntfy',
      url: `${server.url}/mytopic`,
      topic: 'alerts',
    })
    const event = await insertEvent(database.db)
    const row = await insertOutboxRow(database.db, { event, channelId })
    expect(await deliverer().deliverDue()).toMatchObject({ leased: 1, retrying: 1 })
    const [attempt] = await listDeliveryAttempts(database.db, row.id)
    expect(attempt).toMatchObject({
      ok: false,
      statusCode: 400,
      error: 'HTTP 400: {"code":40024,"error":"invalid request"}',
    })
  })
})
