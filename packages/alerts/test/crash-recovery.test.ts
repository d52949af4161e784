import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { type EmbeddedDatabase, serveWireProtocol, sql } from '@tracker/db'
import { createTestDatabase } from '@tracker/db/testing'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createWebhookSender } from '../src/deliver/channels/webhook.channel.ts'
import { Deliverer } from '../src/deliver/deliverer.ts'
import { DeliveryWorker } from '../src/deliver/delivery-worker.ts'
import { findOutboxDelivery, listDeliveryAttempts } from '../src/outbox/alert-outbox.repository.ts'
import { HttpReceiver } from './helpers/http-receiver.ts'
import { insertDelivery, newWebhookSecret } from './helpers/outbox-fixtures.ts'
import { flatHeaders, testLogger } from './helpers/test-logger.ts'

const CHILD = join(import.meta.dirname, 'fixtures/deliver-in-child.ts')
const CHILD_LEASE_MS = 3000

/** A deliverer process (test/fixtures/deliver-in-child.ts), its output kept for failure messages. */
function spawnDeliverer(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=tracker-source', CHILD], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('close', (code, signal) => resolve(signal ?? code)),
  )
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, exited, output: () => output }
}

describe('a crash between evaluation and delivery', () => {
  it('a deliverer process SIGKILLed mid-send: after its lease runs out another delivers the row, with the same idempotency key (at least once, one distinct key)', async () => {
    const database = await createTestDatabase()
    onTestFinished(() => database.close())
    // The child connects as a separate process: to the server database, or to the embedded engine
    // through its wire protocol.
    let url = database.url
    if (!url) {
      const wire = await serveWireProtocol(database as unknown as EmbeddedDatabase, { port: 0 })
      onTestFinished(() => wire.close())
      url = `postgres://postgres@${wire.host}:${wire.port}/postgres`
    }
    const receiver = await HttpReceiver.start()
    onTestFinished(() => receiver.close())
    // The first request is held open: the child is killed while it waits for the answer.
    receiver.answer = (_, index) => (index === 0 ? 'hold' : { status: 200 })
    const secret = newWebhookSecret()
    const { outboxId, payload } = await insertDelivery(database.db, {
      kind: 'webhook',
      url: `${receiver.url}/hook`,
      secret,
    })

    const { child, exited, output } = spawnDeliverer({ DATABASE_URL: url, LEASE_MS: String(CHILD_LEASE_MS) })
    await expect.poll(() => receiver.held, { message: 'the child sends the row' }).toBe(1)
    child.kill('SIGKILL')
    expect(await exited, output()).toBe('SIGKILL')
    await expect.poll(() => receiver.held).toBe(0)

    // Sent, not recorded: still pending, no attempt, and leased for the rest of the dead child's lease.
    const { rows } = await sql<{ leased: boolean }>`
      SELECT leased_until > now() AS leased FROM alert_outbox WHERE id = ${outboxId}`.execute(database.db)
    const afterKill = await findOutboxDelivery(database.db, outboxId)
    expect(afterKill).toMatchObject({ status: 'pending', attempts: 0, deliveredAt: null })
    expect(await listDeliveryAttempts(database.db, outboxId)).toEqual([])
    const deliverer = new Deliverer({
      db: database.db,
      senders: [createWebhookSender({ timeoutMs: 5000 })],
      logger: testLogger,
      maxAttempts: 5,
      leaseMs: 15_000,
      backoff: { initialMs: 50, maxMs: 500 },
    })
    // While the lease lives nobody else may send the row (checked when it still lived a moment ago:
    // a slow machine may already be past it).
    if (rows[0]!.leased) expect((await deliverer.deliverDue()).leased).toBe(0)

    const worker = new DeliveryWorker({
      deliverer,
      db: database.db,
      logger: testLogger,
      pollIntervalMs: 1000,
    })
    await worker.start()
    onTestFinished(() => worker.stop())
    await expect.poll(async () => (await findOutboxDelivery(database.db, outboxId))?.status).toBe('delivered')
    await worker.stop()

    expect(receiver.receipts).toHaveLength(2)
    expect(receiver.receipts[1]!.at).toBeGreaterThanOrEqual(afterKill!.leasedUntil!.getTime() - 50)
    // The same idempotency key both times: a receiver that dedupes on it acts once.
    expect(new Set(receiver.receipts.map((r) => r.headers['webhook-id']))).toEqual(new Set([outboxId]))
    expect(new Set(receiver.receipts.map((r) => r.headers['idempotency-key']))).toEqual(new Set([outboxId]))
    for (const receipt of receiver.receipts)
      expect(new Webhook(secret).verify(receipt.body, flatHeaders(receipt.headers))).toEqual(payload)
    const attempts = await listDeliveryAttempts(database.db, outboxId)
    expect(attempts.map((a) => [a.attempt, a.ok, a.statusCode])).toEqual([[1, true, 200]])
  })
})
