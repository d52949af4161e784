import { connectDatabase, type TrackerDatabase } from '@tracker/db'
import { createTestDatabase } from '@tracker/db/testing'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createWebhookSender } from '../src/deliver/channels/webhook.channel.ts'
import { Deliverer, type DeliveryPass } from '../src/deliver/deliverer.ts'
import { DeliveryWorker } from '../src/deliver/delivery-worker.ts'
import { alertTablesOnly } from './helpers/alert-tables-only.ts'
import { HttpReceiver } from './helpers/http-receiver.ts'
import { insertChannel, insertEvent, insertOutboxRow, newWebhookSecret } from './helpers/outbox-fixtures.ts'
import { testLogger } from './helpers/test-logger.ts'

const CHANNELS = 4
const ROWS_PER_CHANNEL = 10

/**
 * Two deliverers, each with its own connection pool where the engine has more than one session,
 * run at once over the same outbox; the receiver counts what it gets by idempotency key.
 */
async function twoDeliverersAtOnce(first: TrackerDatabase, second: TrackerDatabase) {
  const receiver = await HttpReceiver.start()
  onTestFinished(() => receiver.close())
  // Slow enough answers that both deliverers have sends in flight at the same time.
  receiver.answer = () => ({ status: 200, delayMs: 5 + Math.floor(Math.random() * 20) })

  const rowsByChannel = new Map<string, string[]>()
  const t0 = Date.now() - 3_600_000
  for (let c = 0; c < CHANNELS; c++) {
    const channelId = await insertChannel(first.db, {
      kind: 'webhook',
      url: `${receiver.url}/channel-${c}`,
      secret: newWebhookSecret(),
    })
    const ids: string[] = []
    for (let r = 0; r < ROWS_PER_CHANNEL; r++) {
      const event = await insertEvent(first.db)
      const row = await insertOutboxRow(first.db, {
        event,
        channelId,
        createdAt: new Date(t0 + r * 1000 + c),
      })
      ids.push(row.id)
    }
    rowsByChannel.set(`/channel-${c}`, ids)
  }
  const all = [...rowsByChannel.values()].flat()

  const passes: DeliveryPass[][] = [[], []]
  const workers = [first, second].map(
    (database, i) =>
      new DeliveryWorker({
        deliverer: new Deliverer({
          db: database.db,
          senders: [createWebhookSender({ timeoutMs: 5000 })],
          logger: testLogger,
          maxAttempts: 3,
          leaseMs: 15_000,
          backoff: { initialMs: 50, maxMs: 500 },
        }),
        db: database.db,
        logger: testLogger,
        pollIntervalMs: 20,
        onPass: (pass) => passes[i]!.push(pass),
      }),
  )
  await Promise.all(workers.map((worker) => worker.start()))
  onTestFinished(async () => {
    await Promise.all(workers.map((worker) => worker.stop()))
  })

  await expect
    .poll(async () => {
      const { n } = await first.db
        .selectFrom('alert_outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'delivered')
        .executeTakeFirstOrThrow()
      return Number(n)
    })
    .toBe(all.length)
  await Promise.all(workers.map((worker) => worker.stop()))

  // Each row sent exactly once while both ran, and recorded once.
  expect(receiver.receipts).toHaveLength(all.length)
  expect(new Set(receiver.receipts.map((r) => r.headers['webhook-id']))).toEqual(new Set(all))
  const attempts = await first.db
    .selectFrom('alert_delivery_attempts')
    .select(['outbox_id', 'attempt', 'ok'])
    .execute()
  expect(attempts).toHaveLength(all.length)
  expect(attempts.every((a) => a.attempt === 1 && a.ok)).toBe(true)
  // Both did part of the work.
  const delivered = passes.map((list) => list.reduce((sum, pass) => sum + pass.delivered, 0))
  expect(delivered[0]! + delivered[1]!).toBe(all.length)
  expect(delivered[0]).toBeGreaterThan(0)
  expect(delivered[1]).toBeGreaterThan(0)
  // And each channel got its rows in the order they were written, whichever deliverer sent them.
  for (const [path, ids] of rowsByChannel)
    expect(receiver.receipts.filter((r) => r.path === path).map((r) => r.headers['webhook-id'])).toEqual(ids)
}

describe('two deliverers on the same database', () => {
  it('each row is sent exactly once while both run, each channel in order (test database: embedded, or TEST_DATABASE_URL with two pools)', async () => {
    const database = await createTestDatabase()
    onTestFinished(() => database.close())
    // A server database: the second deliverer gets a pool of its own, as a second process would.
    const second = database.url
      ? await connectDatabase({
          mode: 'postgres',
          url: database.url,
          poolSize: 4,
          applicationName: 'tracker-alerts-test',
        })
      : database
    if (second !== database) onTestFinished(() => second.close())
    await twoDeliverersAtOnce(database, second)
  })

  it('each row is sent exactly once while both run, on the machine PostgreSQL with two pools (SKIP LOCKED between real sessions)', async () => {
    const server = await alertTablesOnly()
    onTestFinished(() => server.close())
    await twoDeliverersAtOnce(await server.connect(), await server.connect())
  })
})
