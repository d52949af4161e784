import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  connectEmbedded,
  countKeysByFormat,
  ensureKeyEncryptionKey,
  KeyOpener,
  LegacyKeyCipher,
  listSealedKeys,
  migrateToLatest,
  openStoredKeys,
  pendingMigrations,
  rollback,
} from '@tracker/db'
import { simulatedTrackers } from '@tracker/findmy'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { startStack } from '../src/stack.ts'

// `npm run demo` on a data directory an earlier version set up: its state file holds only the
// symmetric key (keyEncryptionKey) and its database the demo trackers' keys sealed with it (version
// 1). The start migrates it: a key pair added to the state file, the keys re-sealed to its public
// key, nothing lost (every tracker is imported as before).
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-old-demo-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

const SEED = 4242
const OLD_SECRET = LegacyKeyCipher.generateSecret()
const trackers = simulatedTrackers({ seed: SEED, trackers: 2, keysPerTracker: 2 })

/** What the earlier version left: its schema (the migrations before the key pair's), its keys, its state file. */
async function earlierVersionDataDir(): Promise<void> {
  const database = await connectEmbedded({ dataDir })
  try {
    await migrateToLatest(database.db)
    while (!(await pendingMigrations(database.db)).includes('20261218060000_key_sealing'))
      await rollback(database.db)
    const legacy = LegacyKeyCipher.fromSecret(OLD_SECRET)
    for (const [i, tracker] of trackers.entries()) {
      const row = await database.db
        .insertInto('trackers')
        .values({ name: `Demo tracker ${i + 1}` })
        .returning('id')
        .executeTakeFirstOrThrow()
      await database.db
        .insertInto('tracker_keys')
        .values(
          tracker.keys.map((k) => ({
            tracker_id: row.id,
            hashed_adv_key: k.hashedAdvKey,
            private_key_encrypted: legacy.seal(k.privateKey, k.hashedAdvKey),
          })),
        )
        .execute()
    }
    await ensureKeyEncryptionKey(database.db, legacy)
  } finally {
    await database.close()
  }
  writeFileSync(
    join(dataDir, 'local-stack.json'),
    `${JSON.stringify({ keyEncryptionKey: OLD_SECRET, apiToken: null, simulatorSeed: SEED, createdAt: new Date().toISOString() }, null, 2)}\n`,
  )
}

const env = {
  DATA_DIR: dataDir,
  API_PORT: '0',
  PG_PORT: '0',
  IMPORTER_HTTP_PORT: '0',
  REFRESHER_HTTP_PORT: '0',
  DEMO_TRACKERS: '2',
}

describe('the demo on a data directory of an earlier version', () => {
  it('starts, re-seals its keys to a new key pair kept in the state file, and imports every tracker; the next start is as usual', async () => {
    await earlierVersionDataDir()
    const stack = await startStack(env, pino({ level: 'silent' }))
    try {
      const result = (await stack.firstImport) as {
        outcome: string
        totals?: { keys: number; unreadableKeys: unknown[] }
      }
      expect(result.outcome).toBe('succeeded')
      expect(result.totals?.keys).toBe(4)
      expect(result.totals?.unreadableKeys).toEqual([])
    } finally {
      await stack.stop()
    }

    const state = JSON.parse(readFileSync(join(dataDir, 'local-stack.json'), 'utf8')) as Record<
      string,
      unknown
    >
    // The old key is kept (nothing is thrown away), the key pair added.
    expect(state.keyEncryptionKey).toBe(OLD_SECRET)
    expect(state.simulatorSeed).toBe(SEED)
    const opener = KeyOpener.fromPrivateKey(state.keySealingPrivateKey as string)
    expect(state.keySealingPublicKey).toBe(opener.sealer.publicKey.toString('base64'))

    const database = await connectEmbedded({ dataDir })
    try {
      expect(await countKeysByFormat(database.db)).toEqual({ sealed: 4, legacy: 0, unknown: 0 })
      // Nothing lost: every key opens with the new private key alone, to the demo's keys.
      const { opened } = openStoredKeys(opener, await listSealedKeys(database.db))
      expect(opened.map((k) => [k.hashedAdvKey, k.privateKey.toString('hex')]).sort()).toEqual(
        trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey.toString('hex')])).sort(),
      )
      const [record] = await database.db.selectFrom('key_sealing_check').selectAll().execute()
      expect(record?.fingerprint).toBe(opener.fingerprint)
      const reports = await database.db
        .selectFrom('location_reports')
        .select('tracker_id')
        .distinct()
        .execute()
      expect(reports).toHaveLength(2)
    } finally {
      await database.close()
    }

    const again = await startStack({ ...env, IMPORT_ON_START: 'false' }, pino({ level: 'silent' }))
    await again.stop()
    expect(JSON.parse(readFileSync(join(dataDir, 'local-stack.json'), 'utf8'))).toEqual(state)
  }, 300_000)
})
