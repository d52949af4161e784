import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  ensureKeyEncryptionKey,
  KeyEncryptionKeyMismatchError,
  KeyOpener,
  LegacyKeyCipher,
  listImportableKeys,
  localStackKeyHint,
  openStoredKeys,
} from '../src/index.ts'
import { createTestDatabase, hashedAdvKey, insertTracker, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())
// Each test starts from a database without trackers or check value.
beforeEach(async () => {
  await database.db.deleteFrom('trackers').execute()
  await database.db.deleteFrom('key_encryption_check').execute()
})

// The check value of the version-1 key (KEY_ENCRYPTION_KEY), which `keys reseal` and the importer
// during the transition still check before they open version-1 keys.
const cipherA = LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret())
const cipherB = LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret())
const opener = KeyOpener.fromPrivateKey(KeyOpener.generate().privateKey)
const plainKeys = (n: number) =>
  Array.from({ length: n }, () => ({ hashedAdvKey: hashedAdvKey(), privateKey: randomBytes(28) }))

const storedCheck = () => database.db.selectFrom('key_encryption_check').selectAll().execute()
/** Keys sealed by a version from before the check value: sealed as it did, no check value stored. */
async function sealedBeforeTheCheck(cipher: LegacyKeyCipher, keys: number) {
  const tracker = await database.db
    .insertInto('trackers')
    .values({ name: 'old' })
    .returning('id')
    .executeTakeFirstOrThrow()
  await database.db
    .insertInto('tracker_keys')
    .values(
      plainKeys(keys).map((key) => ({
        tracker_id: tracker.id,
        hashed_adv_key: key.hashedAdvKey,
        private_key_encrypted: cipher.seal(key.privateKey, key.hashedAdvKey),
      })),
    )
    .execute()
}

describe('the key-check value', () => {
  it('is recorded on first use, never the key itself, then matches the same key and refuses another', async () => {
    expect(await ensureKeyEncryptionKey(database.db, cipherA)).toBe('recorded')
    const [row] = await storedCheck()
    expect(row).toMatchObject({ id: true, fingerprint: cipherA.fingerprint })
    expect(Buffer.from(row!.check_value).equals(cipherA.checkValue())).toBe(true)
    expect(Buffer.from(row!.check_value).equals(cipherB.checkValue())).toBe(false)

    expect(await ensureKeyEncryptionKey(database.db, cipherA)).toBe('matched')
    const refused = ensureKeyEncryptionKey(database.db, cipherB, { hint: ' (hint)' })
    await expect(refused).rejects.toBeInstanceOf(KeyEncryptionKeyMismatchError)
    await expect(refused).rejects.toThrow(
      new RegExp(
        `KEY_ENCRYPTION_KEY \\(fingerprint ${cipherB.fingerprint}\\) is not the key .* \\(fingerprint ${cipherA.fingerprint}\\).*nothing was written\\. \\(hint\\)`,
      ),
    )
    expect(await storedCheck()).toEqual([row])
  })

  it('an existing install (keys, no check value) gets it from the first key that opens them, never from another', async () => {
    await sealedBeforeTheCheck(cipherA, 3)
    await expect(ensureKeyEncryptionKey(database.db, cipherB)).rejects.toThrow(
      /KEY_ENCRYPTION_KEY \(fingerprint \w+\) is not the key this database's tracker keys are sealed with: it opens 0 of the 3 stored keys/,
    )
    expect(await storedCheck()).toEqual([])
    expect(await ensureKeyEncryptionKey(database.db, cipherA)).toBe('recorded')
    expect((await storedCheck())[0]?.fingerprint).toBe(cipherA.fingerprint)
    await expect(ensureKeyEncryptionKey(database.db, cipherB)).rejects.toThrow(/is not the key/)
  })

  it('of keys sealed with two keys (accepted before the check existed), the one that opens most wins', async () => {
    await sealedBeforeTheCheck(cipherA, 3)
    await sealedBeforeTheCheck(cipherB, 1)
    await expect(ensureKeyEncryptionKey(database.db, cipherB)).rejects.toThrow(/opens 1 of the 4 stored keys/)
    expect(await ensureKeyEncryptionKey(database.db, cipherA)).toBe('recorded')
    // The minority key is then one unreadable key, not a reason to stop.
    const { opened, unreadable } = openStoredKeys(
      opener.withLegacy(cipherA),
      await listImportableKeys(database.db),
    )
    expect(opened).toHaveLength(3)
    expect(unreadable.map((k) => k.reason)).toEqual(['undecryptable'])
  })

  it('keys in no known format (typed in by hand, as the README manual test does) say nothing about the key', async () => {
    const manual = await insertTracker(database.db, { keys: 2 })
    expect(await ensureKeyEncryptionKey(database.db, cipherB)).toBe('recorded')
    const { opened, unreadable } = openStoredKeys(
      opener.withLegacy(cipherB),
      await listImportableKeys(database.db),
    )
    expect(opened).toEqual([])
    expect(unreadable.map((k) => [k.trackerId, k.reason]).sort()).toEqual(
      manual.hashedAdvKeys.map(() => [manual.id, 'unknown_format']),
    )
  })

  it('two processes recording at once: one value is stored, the other key is refused', async () => {
    const results = await Promise.allSettled([
      ensureKeyEncryptionKey(database.db, cipherA),
      ensureKeyEncryptionKey(database.db, cipherB),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1)
    expect(await storedCheck()).toHaveLength(1)
  })
})

describe('the readability of a stored key', () => {
  it('readable, in no known format, or sealed with another key', () => {
    const key = hashedAdvKey()
    const sealed = cipherA.seal(randomBytes(28), key)
    expect(cipherA.readability(sealed, key)).toBe('readable')
    expect(cipherA.readability(Buffer.from([0]), key)).toBe('unknown_format')
    expect(cipherB.readability(sealed, key)).toBe('undecryptable')
    // Moved to another key's row: the hashed id is authenticated too.
    expect(cipherA.readability(sealed, hashedAdvKey())).toBe('undecryptable')
  })
})

describe('key-encryption-key messages', () => {
  it('say where the local stack keeps its key, without showing it', () => {
    expect(() =>
      LegacyKeyCipher.fromSecret(
        undefined,
        'KEY_ENCRYPTION_KEY',
        localStackKeyHint(undefined, 'KEY_ENCRYPTION_KEY'),
      ),
    ).toThrow(/KEY_ENCRYPTION_KEY is not set.*keyEncryptionKey in \.tracker-data\/local-stack\.json/)
  })
})
