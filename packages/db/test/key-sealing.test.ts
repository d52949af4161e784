import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  addTrackerKeys,
  countKeysByFormat,
  createTrackerWithKeys,
  ensureOpeningKey,
  ensureSealingKey,
  KeyOpener,
  KeySealer,
  KeySealingKeyError,
  KeySealingKeyMismatchError,
  KeySealingKeyNotRecordedError,
  LegacyKeyCipher,
  listImportableKeys,
  localStackKeyHint,
  openStoredKeys,
  recordKeyReadability,
  SEALED_KEY_VERSION,
  sealedKeyVersion,
} from '../src/index.ts'
import { createTestDatabase, hashedAdvKey, insertTracker, type TestDatabase } from '../src/testing/index.ts'

// Version 2 of the sealed keys: sealed to an X25519 public key (what the API holds), opened only with
// its private key (what the importer holds).

const pairA = KeyOpener.generate()
const pairB = KeyOpener.generate()
const openerA = KeyOpener.fromPrivateKey(pairA.privateKey)
const openerB = KeyOpener.fromPrivateKey(pairB.privateKey)
const sealerA = KeySealer.fromPublicKey(pairA.publicKey)
const sealerB = KeySealer.fromPublicKey(pairB.publicKey)
const plainKeys = (n: number) =>
  Array.from({ length: n }, () => ({ hashedAdvKey: hashedAdvKey(), privateKey: randomBytes(28) }))

describe('a sealed key', () => {
  it('opens with the private key to the same bytes (round trip), in format version 2', () => {
    const key = hashedAdvKey()
    const plain = randomBytes(28)
    const sealed = sealerA.seal(plain, key)
    expect(sealed[0]).toBe(SEALED_KEY_VERSION)
    expect(sealedKeyVersion(sealed)).toBe(2)
    // version, ephemeral public key, tag, ciphertext (as long as the key)
    expect(sealed.length).toBe(1 + 32 + 16 + 28)
    expect(openerA.open(sealed, key).equals(plain)).toBe(true)
    // The opener's own sealer seals to the same public key.
    expect(openerA.sealer.publicKey.equals(sealerA.publicKey)).toBe(true)
    expect(openerA.open(openerA.sealer.seal(plain, key), key).equals(plain)).toBe(true)
  })

  it('is sealed anew each time (an ephemeral key pair per key): equal keys do not look equal', () => {
    const key = hashedAdvKey()
    const plain = randomBytes(28)
    const one = sealerA.seal(plain, key)
    const two = sealerA.seal(plain, key)
    expect(one.equals(two)).toBe(false)
    expect(one.subarray(1, 33).equals(two.subarray(1, 33))).toBe(false)
    expect(openerA.open(two, key).equals(plain)).toBe(true)
  })

  it('is bound to its hashed id (AAD): moved to another key, it does not open', () => {
    const key = hashedAdvKey()
    const sealed = sealerA.seal(randomBytes(28), key)
    expect(openerA.readability(sealed, key)).toBe('readable')
    expect(openerA.readability(sealed, hashedAdvKey())).toBe('undecryptable')
  })

  it('does not open with another private key, nor once a byte is changed', () => {
    const key = hashedAdvKey()
    const sealed = sealerA.seal(randomBytes(28), key)
    expect(openerB.readability(sealed, key)).toBe('undecryptable')
    expect(() => openerB.open(sealed, key)).toThrow(
      new RegExp(
        `cannot be opened with this KEY_SEALING_PRIVATE_KEY \\(public key ${openerB.fingerprint}\\)`,
      ),
    )
    for (const at of [1, 20, 40, 50, sealed.length - 1]) {
      const damaged = Buffer.from(sealed)
      damaged[at]! ^= 0x01
      expect(openerA.readability(damaged, key)).toBe('undecryptable')
    }
    // An ephemeral key of low order (all zero): the shared secret would be zero; refused, not a crash.
    const lowOrder = Buffer.from(sealed)
    lowOrder.fill(0, 1, 33)
    expect(openerA.readability(lowOrder, key)).toBe('undecryptable')
  })

  it('in no known format is unknown_format; in version 1 it opens only with the legacy key', () => {
    const key = hashedAdvKey()
    expect(openerA.readability(Buffer.from([0]), key)).toBe('unknown_format')
    expect(openerA.readability(Buffer.from([]), key)).toBe('unknown_format')
    expect(openerA.readability(Buffer.from([2, 1, 2, 3]), key)).toBe('unknown_format')
    const legacy = LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret())
    const plain = randomBytes(28)
    const old = legacy.seal(plain, key)
    expect(sealedKeyVersion(old)).toBe(1)
    expect(() => openerA.open(old, key)).toThrow(/still sealed in the old format .* keys reseal/)
    expect(openerA.withLegacy(legacy).open(old, key).equals(plain)).toBe(true)
    expect(openerA.withLegacy(legacy).opensLegacyKeys).toBe(true)
    expect(openerA.opensLegacyKeys).toBe(false)
  })
})

describe('what seals holds no way to open', () => {
  it('a KeySealer has the public key only, and no open method', () => {
    expect('open' in sealerA).toBe(false)
    expect('readability' in sealerA).toBe(false)
    expect(Object.keys(sealerA).sort()).toEqual(['fingerprint', 'publicKey'])
    // Nothing reachable from it is the private key.
    const raw = Buffer.from(pairA.privateKey, 'base64')
    expect(JSON.stringify(sealerA)).not.toContain(raw.toString('hex'))
    expect(sealerA.publicKey.equals(raw)).toBe(false)
  })
})

describe('the keys as configured', () => {
  it('base64 or hex of the 32 raw bytes, or PEM (openssl genpkey -algorithm x25519)', () => {
    const hex = Buffer.from(pairA.privateKey, 'base64').toString('hex')
    expect(KeyOpener.fromPrivateKey(hex).fingerprint).toBe(openerA.fingerprint)
    expect(KeySealer.fromPublicKey(Buffer.from(pairA.publicKey, 'base64').toString('hex')).fingerprint).toBe(
      sealerA.fingerprint,
    )
    const pem = generateKeyPairSync('x25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    })
    const fromPem = KeyOpener.fromPrivateKey(pem.privateKey)
    expect(KeySealer.fromPublicKey(pem.publicKey).fingerprint).toBe(fromPem.fingerprint)
  })

  it('missing or malformed: an error naming the variable, the hint and how to generate a pair', () => {
    expect(() => KeyOpener.fromPrivateKey(undefined, 'KEY_SEALING_PRIVATE_KEY', ' (hint)')).toThrow(
      /^KEY_SEALING_PRIVATE_KEY is not set: .* \(hint\) .*keys generate/,
    )
    expect(() => KeySealer.fromPublicKey('', 'KEY_SEALING_PUBLIC_KEY')).toThrow(
      /^KEY_SEALING_PUBLIC_KEY is not set: .*keys public/,
    )
    expect(() => KeySealer.fromPublicKey('abc')).toThrow(KeySealingKeyError)
    expect(() => KeyOpener.fromPrivateKey(randomBytes(31).toString('base64'))).toThrow(
      /^KEY_SEALING_PRIVATE_KEY must be an X25519 private key/,
    )
    // An Ed25519 PEM is not an X25519 key.
    const ed = generateKeyPairSync('ed25519', {
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    expect(() => KeySealer.fromPublicKey(ed.publicKey)).toThrow(/must be an X25519 public key/)
  })

  it("messages say where the local stack keeps its keys, by the state file's field", () => {
    expect(localStackKeyHint(undefined, 'KEY_SEALING_PUBLIC_KEY')).toMatch(
      /keySealingPublicKey in \.tracker-data\/local-stack\.json.*KEY_SEALING_PUBLIC_KEY=/,
    )
    expect(localStackKeyHint()).toMatch(/keySealingPrivateKey in .*KEY_SEALING_PRIVATE_KEY=/)
  })
})

describe('the recorded public key (key_sealing_check)', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(() => database?.close())
  beforeEach(async () => {
    await database.db.deleteFrom('trackers').execute()
    await database.db.deleteFrom('key_sealing_check').execute()
  })
  const recorded = () => database.db.selectFrom('key_sealing_check').selectAll().execute()
  const counts = async () => ({
    trackers: (await database.db.selectFrom('trackers').select('id').execute()).length,
    keys: (await database.db.selectFrom('tracker_keys').select('id').execute()).length,
  })

  it('is recorded by the private key’s holder, then matches it and refuses another private key, naming the variable', async () => {
    expect(await ensureOpeningKey(database.db, openerA)).toBe('recorded')
    const [row] = await recorded()
    expect(row).toMatchObject({ id: true, fingerprint: openerA.fingerprint })
    expect(Buffer.from(row!.public_key).equals(sealerA.publicKey)).toBe(true)
    expect(await ensureOpeningKey(database.db, openerA)).toBe('matched')
    await expect(ensureOpeningKey(database.db, openerB, { hint: ' (hint)' })).rejects.toThrow(
      new RegExp(
        `^KEY_SEALING_PRIVATE_KEY \\(public key ${openerB.fingerprint}\\) is not the private key this database's tracker keys are sealed to \\(public key ${openerA.fingerprint}\\).*nothing was opened or written\\. \\(hint\\)`,
      ),
    )
    expect(await recorded()).toEqual([row])
  })

  it('a public key alone never records it: nothing is sealed before the importer recorded its key', async () => {
    await expect(
      createTrackerWithKeys(database.db, sealerA, { name: 'too early', keys: plainKeys(1) }),
    ).rejects.toBeInstanceOf(KeySealingKeyNotRecordedError)
    await expect(ensureSealingKey(database.db, sealerA)).rejects.toThrow(
      /no public key is recorded .* KEY_SEALING_PUBLIC_KEY .* start the importer once/,
    )
    expect(await counts()).toEqual({ trackers: 0, keys: 0 })
    expect(await recorded()).toEqual([])
  })

  it('a public key that is not the recorded one seals nothing; the private key given as the public one is named so', async () => {
    await ensureOpeningKey(database.db, openerA)
    const tracker = await createTrackerWithKeys(database.db, sealerA, { name: 'ok', keys: plainKeys(1) })
    const before = await counts()
    await expect(
      createTrackerWithKeys(database.db, sealerB, { name: 'other key', keys: plainKeys(2) }),
    ).rejects.toThrow(
      new RegExp(
        `^KEY_SEALING_PUBLIC_KEY \\(public key ${sealerB.fingerprint}\\) is not the public key this database's tracker keys are sealed to \\(public key ${sealerA.fingerprint}`,
      ),
    )
    await expect(addTrackerKeys(database.db, sealerB, tracker.id, plainKeys(1))).rejects.toBeInstanceOf(
      KeySealingKeyMismatchError,
    )
    const privateAsPublic = KeySealer.fromPublicKey(pairA.privateKey)
    await expect(ensureSealingKey(database.db, privateAsPublic)).rejects.toThrow(
      /^KEY_SEALING_PUBLIC_KEY holds the private key of this database's key pair, not its public key/,
    )
    // The tracker row went with the refused keys (one transaction).
    expect(await counts()).toEqual(before)
  })

  it('keys sealed to a public key before any was recorded: recorded by the private key that opens most of them', async () => {
    // (A database whose record was lost: version-2 keys, no row.)
    await ensureOpeningKey(database.db, openerA)
    await createTrackerWithKeys(database.db, sealerA, { name: 'a', keys: plainKeys(3) })
    await database.db.deleteFrom('key_sealing_check').execute()
    await expect(ensureOpeningKey(database.db, openerB)).rejects.toThrow(
      /KEY_SEALING_PRIVATE_KEY \(public key \w+\) is not the private key .*: it opens 0 of the 3 keys sealed to a public key/,
    )
    expect(await recorded()).toEqual([])
    expect(await ensureOpeningKey(database.db, openerA)).toBe('recorded')
  })

  it('two key pairs recording at once: one is stored, the other refused', async () => {
    const results = await Promise.allSettled([
      ensureOpeningKey(database.db, openerA),
      ensureOpeningKey(database.db, openerB),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(await recorded()).toHaveLength(1)
  })

  it('sealing returns the key rows without the sealed column', async () => {
    await ensureOpeningKey(database.db, openerA)
    const tracker = await createTrackerWithKeys(database.db, sealerA, { name: 'rows', keys: [] })
    const rows = await addTrackerKeys(database.db, sealerA, tracker.id, plainKeys(2))
    expect(rows).toHaveLength(2)
    for (const row of rows) {
      expect(row).not.toHaveProperty('private_key_encrypted')
      expect(row.readability).toBe('unchecked')
    }
  })

  it('a sealed key moved to another row does not open there; the importer records what it found', async () => {
    await ensureOpeningKey(database.db, openerA)
    const keys = plainKeys(2)
    await createTrackerWithKeys(database.db, sealerA, { name: 'moved', keys })
    const manual = await insertTracker(database.db, { keys: 1 })
    const [first, second] = keys
    const firstRow = await database.db
      .selectFrom('tracker_keys')
      .select('private_key_encrypted')
      .where('hashed_adv_key', '=', first!.hashedAdvKey)
      .executeTakeFirstOrThrow()
    await database.db
      .updateTable('tracker_keys')
      .set({ private_key_encrypted: firstRow.private_key_encrypted })
      .where('hashed_adv_key', '=', second!.hashedAdvKey)
      .execute()
    const found = openStoredKeys(openerA, await listImportableKeys(database.db))
    expect(found.opened.map((k) => k.hashedAdvKey)).toEqual([first!.hashedAdvKey])
    expect(found.opened[0]!.privateKey.equals(first!.privateKey)).toBe(true)
    expect(found.unreadable.map((k) => [k.hashedAdvKey, k.reason]).sort()).toEqual(
      [
        [second!.hashedAdvKey, 'undecryptable'],
        [manual.hashedAdvKeys[0], 'unknown_format'],
      ].sort(),
    )
    expect(await recordKeyReadability(database.db, found.readability)).toBe(3)
    // Written once: the same findings change nothing.
    expect(await recordKeyReadability(database.db, found.readability)).toBe(0)
    const stored = await database.db
      .selectFrom('tracker_keys')
      .select(['hashed_adv_key', 'readability'])
      .execute()
    expect(Object.fromEntries(stored.map((r) => [r.hashed_adv_key, r.readability]))).toEqual({
      [first!.hashedAdvKey]: 'readable',
      [second!.hashedAdvKey]: 'undecryptable',
      [manual.hashedAdvKeys[0]!]: 'unknown_format',
    })
    expect(await countKeysByFormat(database.db)).toEqual({ sealed: 2, legacy: 0, unknown: 1 })
  })
})
