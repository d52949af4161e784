import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  countKeysByFormat,
  createTrackerWithKeys,
  ensureKeyEncryptionKey,
  ensureOpeningKey,
  KeyEncryptionKeyMismatchError,
  KeyOpener,
  KeySealer,
  KeySealingKeyNotRecordedError,
  LegacyKeyCipher,
  listSealedKeys,
  openStoredKeys,
  resealLegacyKeys,
} from '../src/index.ts'
import { createTestDatabase, hashedAdvKey, type TestDatabase } from '../src/testing/index.ts'

// `keys reseal` on a database of version-1 keys, as the version before sealed them: AES-256-GCM under
// KEY_ENCRYPTION_KEY (LegacyKeyCipher is that code), with the check value it recorded.

const legacy = LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret())
const otherLegacy = LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret())
const pair = KeyOpener.generate()
const opener = KeyOpener.fromPrivateKey(pair.privateKey)
const sealer = KeySealer.fromPublicKey(pair.publicKey)

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())
beforeEach(async () => {
  await database.db.deleteFrom('trackers').execute()
  await database.db.deleteFrom('key_encryption_check').execute()
  await database.db.deleteFrom('key_sealing_check').execute()
})

interface Original {
  hashedAdvKey: string
  privateKey: Buffer
}

/** A tracker whose keys are stored as the old version did: sealed with `cipher` (version 1). */
async function oldFormatTracker(cipher: LegacyKeyCipher, keys: number): Promise<Original[]> {
  const tracker = await database.db
    .insertInto('trackers')
    .values({ name: `old ${randomBytes(2).toString('hex')}` })
    .returning('id')
    .executeTakeFirstOrThrow()
  const originals = Array.from({ length: keys }, () => ({
    hashedAdvKey: hashedAdvKey(),
    privateKey: randomBytes(28),
  }))
  await database.db
    .insertInto('tracker_keys')
    .values(
      originals.map((key) => ({
        tracker_id: tracker.id,
        hashed_adv_key: key.hashedAdvKey,
        private_key_encrypted: cipher.seal(key.privateKey, key.hashedAdvKey),
      })),
    )
    .execute()
  return originals
}

const sealedColumn = async () =>
  Object.fromEntries(
    (
      await database.db
        .selectFrom('tracker_keys')
        .select(['hashed_adv_key', 'private_key_encrypted'])
        .execute()
    ).map((r) => [r.hashed_adv_key, Buffer.from(r.private_key_encrypted).toString('hex')]),
  )

describe('keys reseal (resealLegacyKeys)', () => {
  it('re-seals every version-1 key to the public key, in batches; every key opens to the original; a rerun changes nothing', async () => {
    const originals = [...(await oldFormatTracker(legacy, 4)), ...(await oldFormatTracker(legacy, 3))]
    // As the old version left it: its check value recorded by its first start.
    expect(await ensureKeyEncryptionKey(database.db, legacy)).toBe('recorded')
    // Left as they are, and reported: a damaged version-1 key, one sealed with another legacy key,
    // and one in no known format (typed in by hand).
    const [damaged] = await oldFormatTracker(legacy, 1)
    const sealed = await database.db
      .selectFrom('tracker_keys')
      .select('private_key_encrypted')
      .where('hashed_adv_key', '=', damaged!.hashedAdvKey)
      .executeTakeFirstOrThrow()
    const flipped = Buffer.from(sealed.private_key_encrypted)
    flipped[20]! ^= 0x01
    await database.db
      .updateTable('tracker_keys')
      .set({ private_key_encrypted: flipped })
      .where('hashed_adv_key', '=', damaged!.hashedAdvKey)
      .execute()
    const [foreign] = await oldFormatTracker(otherLegacy, 1)
    const manual = await database.db
      .insertInto('tracker_keys')
      .values({
        tracker_id: (await database.db.selectFrom('trackers').select('id').executeTakeFirstOrThrow()).id,
        hashed_adv_key: hashedAdvKey(),
        private_key_encrypted: Buffer.from([0]),
      })
      .returning('hashed_adv_key')
      .executeTakeFirstOrThrow()
    const untouched = [damaged!.hashedAdvKey, foreign!.hashedAdvKey, manual.hashed_adv_key]
    const before = await sealedColumn()
    expect(await countKeysByFormat(database.db)).toEqual({ sealed: 0, legacy: 9, unknown: 1 })

    const progress: number[] = []
    const result = await resealLegacyKeys(database.db, {
      legacy,
      sealing: opener,
      batchSize: 3,
      onBatch: (p) => progress.push(p.resealed),
    })
    expect(result).toMatchObject({ resealed: 7, alreadySealed: 0, unknownFormat: 1, verified: true })
    expect(result.failed.map((k) => [k.hashedAdvKey, k.reason]).sort()).toEqual(
      [
        [damaged!.hashedAdvKey, 'undecryptable'],
        [foreign!.hashedAdvKey, 'undecryptable'],
      ].sort(),
    )
    // 9 version-1 keys in batches of 3.
    expect(progress).toHaveLength(3)
    expect(await countKeysByFormat(database.db)).toEqual({ sealed: 7, legacy: 2, unknown: 1 })
    // The public key is recorded: the API's KEY_SEALING_PUBLIC_KEY is checked against it.
    const [record] = await database.db.selectFrom('key_sealing_check').selectAll().execute()
    expect(record?.fingerprint).toBe(opener.fingerprint)

    // Nothing lost: every re-sealed key opens with the private key alone, to the original bytes.
    const { opened, unreadable } = openStoredKeys(opener, await listSealedKeys(database.db))
    expect(opened).toHaveLength(7)
    for (const original of originals) {
      const key = opened.find((k) => k.hashedAdvKey === original.hashedAdvKey)
      expect(key?.privateKey.equals(original.privateKey)).toBe(true)
    }
    expect(unreadable.map((k) => k.hashedAdvKey).sort()).toEqual([...untouched].sort())
    const after = await sealedColumn()
    for (const key of untouched) expect(after[key]).toBe(before[key])
    const readability = await database.db
      .selectFrom('tracker_keys')
      .select(['hashed_adv_key', 'readability'])
      .where('readability', '=', 'readable')
      .execute()
    expect(readability).toHaveLength(7)

    // Once: a second run finds nothing more to re-seal and writes nothing.
    const again = await resealLegacyKeys(database.db, { legacy, sealing: opener, batchSize: 3 })
    expect(again).toMatchObject({ resealed: 0, alreadySealed: 7 })
    expect(again.failed).toHaveLength(2)
    expect(await sealedColumn()).toEqual(after)
  })

  it('a wrong KEY_ENCRYPTION_KEY is refused before anything is written', async () => {
    await oldFormatTracker(legacy, 2)
    await ensureKeyEncryptionKey(database.db, legacy)
    const before = await sealedColumn()
    await expect(
      resealLegacyKeys(database.db, { legacy: otherLegacy, sealing: opener }),
    ).rejects.toBeInstanceOf(KeyEncryptionKeyMismatchError)
    expect(await sealedColumn()).toEqual(before)
    expect(await database.db.selectFrom('key_sealing_check').selectAll().execute()).toEqual([])
  })

  it('with the public key alone: only once its private key is recorded, and the keys then open with it', async () => {
    const originals = await oldFormatTracker(legacy, 2)
    await expect(resealLegacyKeys(database.db, { legacy, sealing: sealer })).rejects.toBeInstanceOf(
      KeySealingKeyNotRecordedError,
    )
    expect(await countKeysByFormat(database.db)).toMatchObject({ legacy: 2, sealed: 0 })
    await ensureOpeningKey(database.db, opener)
    const result = await resealLegacyKeys(database.db, { legacy, sealing: sealer })
    expect(result).toMatchObject({ resealed: 2, verified: false })
    const { opened } = openStoredKeys(opener, await listSealedKeys(database.db))
    expect(opened.map((k) => k.privateKey.toString('hex')).sort()).toEqual(
      originals.map((k) => k.privateKey.toString('hex')).sort(),
    )
  })

  it('keys added since in version 2 are never touched', async () => {
    await ensureOpeningKey(database.db, opener)
    await createTrackerWithKeys(database.db, sealer, {
      name: 'new',
      keys: [{ hashedAdvKey: hashedAdvKey(), privateKey: randomBytes(28) }],
    })
    const before = await sealedColumn()
    expect(await resealLegacyKeys(database.db, { legacy, sealing: opener })).toMatchObject({
      resealed: 0,
      alreadySealed: 1,
      failed: [],
    })
    expect(await sealedColumn()).toEqual(before)
  })
})
