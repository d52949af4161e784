import {
  ensureKeyEncryptionKey,
  LegacyKeyCipher,
  listSealedKeys,
  openStoredKeys,
  resealLegacyKeys,
} from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ImporterConfig } from '../src/env.ts'
import { startImporter } from '../src/importer.ts'
import { countReports, expectedReports, fixedNow, type ImportFixture, importFixture } from './fixtures.ts'

// An installation upgraded with keys still in the old format (version 1, under KEY_ENCRYPTION_KEY):
// the importer says `keys reseal` is due, or opens both formats while KEY_ENCRYPTION_KEY is set too.
let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const LEGACY_SECRET = LegacyKeyCipher.generateSecret()
const legacy = LegacyKeyCipher.fromSecret(LEGACY_SECRET)
const start = (config: ImporterConfig) =>
  startImporter({
    database,
    locks: new InProcessLockService(),
    logger: pino({ level: 'silent' }),
    config,
    http: false,
    schedule: false,
    decryptThreads: 0,
  })

/** Turns the fixture's first tracker's keys into what the old version stored, with its check value. */
async function sealTheOldWay(fixture: ImportFixture): Promise<void> {
  const keys = (await listSealedKeys(database.db)).filter((k) => k.tracker_id === fixture.trackerIds[0])
  for (const key of openStoredKeys(fixture.opener, keys).opened) {
    await database.db
      .updateTable('tracker_keys')
      .set({ private_key_encrypted: legacy.seal(key.privateKey, key.hashedAdvKey) })
      .where('hashed_adv_key', '=', key.hashedAdvKey)
      .execute()
  }
  await ensureKeyEncryptionKey(database.db, legacy)
}

describe('keys still in the old format', () => {
  it('without KEY_ENCRYPTION_KEY the importer refuses to start and says to run keys reseal', async () => {
    const fixture = await importFixture(database, { seed: 31, trackers: 2 })
    await sealTheOldWay(fixture)
    await expect(start(fixture.config)).rejects.toThrow(
      /^2 stored tracker key\(s\) are still sealed in the old format \(version 1, under KEY_ENCRYPTION_KEY\), which KEY_SEALING_PRIVATE_KEY does not open\. Re-seal them once: "npm run importer -- keys reseal"/,
    )
  })

  it('with KEY_ENCRYPTION_KEY alongside it opens both formats and imports every tracker; after keys reseal it needs only its private key', async () => {
    await database.db.deleteFrom('trackers').execute()
    const fixture = await importFixture(database, { seed: 32, trackers: 2 })
    await sealTheOldWay(fixture)
    const expected = expectedReports(fixture, fixedNow()())

    // A wrong old key is refused against its check value.
    const wrong = { ...fixture.config, keyEncryptionKey: LegacyKeyCipher.generateSecret() }
    await expect(start(wrong)).rejects.toThrow(/^KEY_ENCRYPTION_KEY \(fingerprint \w+\) is not the key/)

    const transition = await start({ ...fixture.config, keyEncryptionKey: LEGACY_SECRET })
    try {
      const result = await transition.runNow()
      expect(result.outcome).toBe('succeeded')
      expect(result.totals?.unreadableKeys).toEqual([])
      expect(await countReports(database, fixture.trackerIds)).toBe(expected.length)
    } finally {
      await transition.stop()
    }

    expect(await resealLegacyKeys(database.db, { legacy, sealing: fixture.opener })).toMatchObject({
      resealed: 2,
      failed: [],
    })
    const after = await start(fixture.config)
    try {
      const result = await after.runNow()
      expect(result.outcome).toBe('succeeded')
      expect(result.totals?.keys).toBe(4)
      expect(result.totals?.unreadableKeys).toEqual([])
    } finally {
      await after.stop()
    }
  })
})
