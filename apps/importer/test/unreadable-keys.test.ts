import { Writable } from 'node:stream'
import { KeyOpener, KeySealer, sql } from '@tracker/db'
import { createTestDatabase, readmeManualTestStatements, type TestDatabase } from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { InProcessLockService } from '@tracker/locks'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ImporterConfig } from '../src/env.ts'
import { startImporter } from '../src/importer.ts'
import { countReports, expectedReports, fixedNow, importFixture } from './fixtures.ts'

// One stored key that cannot be opened disables that key, not the importer; a wrong
// KEY_SEALING_PRIVATE_KEY stays a start-up error.
let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const MANUAL_TRACKER = '00000000-0000-0000-0000-000000000001'
const MANUAL_KEY = 'dGVzdF9rZXlfdGVzdF9rZXlfdGVzdF9rZXlfdGVzdF8='

/** The lines the importer logged, parsed. */
function logCapture() {
  const lines: Record<string, unknown>[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write: (chunk, _encoding, done) => {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
        done()
      },
    }),
  )
  return { lines, logger }
}

const start = (config: ImporterConfig, logger = pino({ level: 'silent' }), http = false) =>
  startImporter({
    database,
    locks: new InProcessLockService(),
    logger,
    config,
    http,
    schedule: false,
    decryptThreads: 0,
  })

describe('a stored key that cannot be opened', () => {
  it("the README's manual test, then a start: the importer starts, reports the key unreadable and imports the others", async () => {
    // As the README has it, on a database migrated and not used yet: its placeholder key is the oldest.
    for (const statement of readmeManualTestStatements()) await sql.raw(statement).execute(database.db)
    const fixture = await importFixture(database, { seed: 21, trackers: 2 })
    // importFixture stops importing earlier trackers; the manual one is meant to stay active.
    await database.db
      .updateTable('trackers')
      .set({ is_active: true })
      .where('id', '=', MANUAL_TRACKER)
      .execute()
    const expected = expectedReports(fixture, fixedNow()())

    const { lines, logger } = logCapture()
    const running = await start(fixture.config, logger, true)
    try {
      const first = await running.runNow()
      const second = await running.runNow()
      expect(first.outcome).toBe('succeeded')
      expect(await countReports(database, fixture.trackerIds)).toBe(expected.length)
      expect(second.totals?.reportsInserted).toBe(0)
      for (const result of [first, second]) {
        expect(result.totals?.unreadableKeys).toEqual([
          {
            hashedAdvKey: MANUAL_KEY,
            trackerId: MANUAL_TRACKER,
            reason: 'unknown_format',
            message: expect.stringContaining('not in a known format'),
          },
        ])
        expect(result.totals?.keys).toBe(4)
      }

      // The run's ledger.
      const ledger = await database.db
        .selectFrom('import_runs')
        .select(['unreadable_keys', 'source_errors', 'keys'])
        .where('id', '=', first.runId!)
        .executeTakeFirstOrThrow()
      expect(ledger.unreadable_keys).toEqual(first.totals!.unreadableKeys)
      expect(ledger.source_errors).toEqual([])

      // /health: degraded (200), the key listed by its hashed id.
      const response = await fetch(`http://127.0.0.1:${running.httpPort}/health`)
      expect(response.status).toBe(200)
      const health = (await response.json()) as { status: string; checks: Record<string, unknown> }
      expect(health.status).toBe('degraded')
      expect(health.checks.keys).toEqual({
        ok: false,
        impact: 'degraded',
        detail: {
          unreadable: 1,
          keys: [{ hashedAdvKey: MANUAL_KEY, trackerId: MANUAL_TRACKER, reason: 'unknown_format' }],
        },
      })

      // Logged once (at start), not once per run.
      const logged = lines.filter((l) => l.hashedAdvKey === MANUAL_KEY && l.level === 50)
      expect(logged).toHaveLength(1)
      expect(logged[0]!.msg).toMatch(/cannot be opened/)
    } finally {
      await running.stop()
    }
  })

  it('a key sealed to another public key is skipped; the recorded public key decides the key pair', async () => {
    const fixture = await importFixture(database, { seed: 22, trackers: 1 })
    const foreign = KeySealer.fromPublicKey(KeyOpener.generate().publicKey)
    const pair = generateKeyPair()
    await database.db
      .insertInto('tracker_keys')
      .values({
        tracker_id: fixture.trackerIds[0]!,
        hashed_adv_key: pair.hashedAdvKey,
        private_key_encrypted: foreign.seal(pair.privateKey, pair.hashedAdvKey),
      })
      .execute()
    const running = await start(fixture.config)
    try {
      const result = await running.runNow()
      expect(result.outcome).toBe('succeeded')
      expect(result.totals?.unreadableKeys).toEqual([
        expect.objectContaining({ hashedAdvKey: pair.hashedAdvKey, reason: 'undecryptable' }),
      ])
      expect(await countReports(database, fixture.trackerIds)).toBeGreaterThan(0)
    } finally {
      await running.stop()
    }
  })
})

describe('a wrong KEY_SEALING_PRIVATE_KEY', () => {
  it('is refused at start against the recorded public key, naming KEY_SEALING_PRIVATE_KEY', async () => {
    const fixture = await importFixture(database, { seed: 23, trackers: 1 })
    const other = { ...fixture.config, keySealingPrivateKey: KeyOpener.generate().privateKey }
    await expect(start(other)).rejects.toThrow(
      /^KEY_SEALING_PRIVATE_KEY \(public key \w+\) is not the private key this database's tracker keys are sealed to \(public key \w+\)/,
    )
  })

  it('keys sealed to a public key, none recorded (a lost record): a key that opens none is refused, the right one records it', async () => {
    const fixture = await importFixture(database, { seed: 24, trackers: 1 })
    await database.db.deleteFrom('key_sealing_check').execute()
    const other = { ...fixture.config, keySealingPrivateKey: KeyOpener.generate().privateKey }
    await expect(start(other)).rejects.toThrow(
      /KEY_SEALING_PRIVATE_KEY .* it opens 0 of the \d+ keys sealed to a public key/,
    )
    expect(await database.db.selectFrom('key_sealing_check').selectAll().execute()).toEqual([])

    const running = await start(fixture.config)
    await running.stop()
    const [check] = await database.db.selectFrom('key_sealing_check').selectAll().execute()
    expect(check?.fingerprint).toBe(fixture.opener.fingerprint)
  })

  it('records at start whether each key opens, for the API to show (tracker_keys.readability)', async () => {
    const fixture = await importFixture(database, { seed: 25, trackers: 1 })
    const running = await start(fixture.config)
    await running.stop()
    const rows = await database.db
      .selectFrom('tracker_keys')
      .select(['hashed_adv_key', 'readability'])
      .where('tracker_id', 'in', fixture.trackerIds)
      .execute()
    expect(rows.map((r) => r.readability)).toEqual(['readable', 'readable'])
    const manual = await database.db
      .selectFrom('tracker_keys')
      .select('readability')
      .where('hashed_adv_key', '=', MANUAL_KEY)
      .executeTakeFirstOrThrow()
    expect(manual.readability).toBe('unknown_format')
  })
})
