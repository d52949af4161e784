import { PrivateKeyCipher } from '@tracker/db'
import { createTestDatabase, insertTracker, type TestDatabase } from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { InProcessLockService } from '@tracker/locks'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/index.ts'
import { createTestApi, TEST_KEY_ENCRYPTION_KEY, type TestApi, testConfig } from './helpers.ts'

// The API and KEY_ENCRYPTION_KEY: refused at start and before sealing when it is not the database's
// key; every key shows whether it opens.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi()
})
afterAll(() => api?.close())

const other = PrivateKeyCipher.fromSecret(PrivateKeyCipher.generateSecret())
const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)

const newTracker = (database: { db: TestApi['database']['db'] }) =>
  database.db.insertInto('trackers').values({ name: 'no keys' }).returning('id').executeTakeFirstOrThrow()

const build = (database: TestDatabase, keyEncryptionKey: string) =>
  buildApp({
    database,
    locks: new InProcessLockService(),
    logger: pino({ level: 'silent' }),
    config: testConfig({ KEY_ENCRYPTION_KEY: keyEncryptionKey }),
  })

describe('TrackerKey.status', () => {
  it('READABLE, UNKNOWN_FORMAT (stored by hand) or UNDECRYPTABLE (sealed with another key)', async () => {
    const created = await api.gql(
      'mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { id keys { hashedAdvKey } } }',
      {
        variables: {
          input: { name: 'status', privateKeys: [generateKeyPair().privateKey.toString('base64')] },
        },
      },
    )
    const tracker = created.body.data!.createTracker as { id: string; keys: { hashedAdvKey: string }[] }
    const foreign = generateKeyPair()
    await api.database.db
      .insertInto('tracker_keys')
      .values({
        tracker_id: tracker.id,
        hashed_adv_key: foreign.hashedAdvKey,
        private_key_encrypted: other.seal(foreign.privateKey, foreign.hashedAdvKey),
      })
      .execute()
    const manual = await insertTracker(api.database.db, { keys: 1 })

    const response = await api.gql(
      `{ a: tracker(id: "${tracker.id}") { keys { hashedAdvKey status } } b: tracker(id: "${manual.id}") { keys { hashedAdvKey status } } }`,
    )
    expect(response.body.errors).toBeUndefined()
    expect(response.body.data).toEqual({
      a: {
        keys: expect.arrayContaining([
          { hashedAdvKey: tracker.keys[0]!.hashedAdvKey, status: 'READABLE' },
          { hashedAdvKey: foreign.hashedAdvKey, status: 'UNDECRYPTABLE' },
        ]),
      },
      b: { keys: [{ hashedAdvKey: manual.hashedAdvKeys[0], status: 'UNKNOWN_FORMAT' }] },
    })
  })

  it('importRuns list the keys a run could not open', async () => {
    await api.database.db
      .insertInto('import_runs')
      .values({
        status: 'succeeded',
        owner: 'host:1',
        lookback_days: 7,
        rejected: '{}',
        source_errors: '[]',
        unreadable_keys: JSON.stringify([
          {
            hashedAdvKey: 'dGVzdF9rZXlfdGVzdF9rZXlfdGVzdF9rZXlfdGVzdF8=',
            trackerId: '00000000-0000-0000-0000-000000000001',
            reason: 'unknown_format',
            message: 'not in a known format',
          },
        ]),
      })
      .execute()
    const response = await api.gql(
      '{ importRuns(first: 1) { nodes { unreadableKeys { hashedAdvKey trackerId status message } } } }',
    )
    expect(response.body.data).toEqual({
      importRuns: {
        nodes: [
          {
            unreadableKeys: [
              {
                hashedAdvKey: 'dGVzdF9rZXlfdGVzdF9rZXlfdGVzdF9rZXlfdGVzdF8=',
                trackerId: '00000000-0000-0000-0000-000000000001',
                status: 'UNKNOWN_FORMAT',
                message: 'not in a known format',
              },
            ],
          },
        ],
      },
    })
  })
})

describe('a KEY_ENCRYPTION_KEY that is not the database key', () => {
  it('keeps the API from starting, naming KEY_ENCRYPTION_KEY', async () => {
    // The shared database's check value was recorded by the API's start with TEST_KEY_ENCRYPTION_KEY.
    await expect(build(api.database as TestDatabase, PrivateKeyCipher.generateSecret())).rejects.toThrow(
      /^KEY_ENCRYPTION_KEY \(fingerprint \w+\) is not the key this database's tracker keys are sealed with/,
    )
  })

  it('an existing install (keys, no check value yet): another key is refused, its own key records the check value', async () => {
    const database = await createTestDatabase()
    try {
      const sealer = PrivateKeyCipher.fromSecret(TEST_KEY_ENCRYPTION_KEY)
      const tracker = await newTracker(database)
      const pair = generateKeyPair()
      await database.db
        .insertInto('tracker_keys')
        .values({
          tracker_id: tracker.id,
          hashed_adv_key: pair.hashedAdvKey,
          private_key_encrypted: sealer.seal(pair.privateKey, pair.hashedAdvKey),
        })
        .execute()
      await expect(build(database, PrivateKeyCipher.generateSecret())).rejects.toThrow(
        /KEY_ENCRYPTION_KEY .* it opens 0 of the 1 stored keys/,
      )
      expect(await database.db.selectFrom('key_encryption_check').selectAll().execute()).toEqual([])
      const app = await build(database, TEST_KEY_ENCRYPTION_KEY)
      await app.close()
      const [check] = await database.db.selectFrom('key_encryption_check').selectAll().execute()
      expect(check?.fingerprint).toBe(sealer.fingerprint)
    } finally {
      await database.close()
    }
  })

  it('is refused before sealing: createTracker and addTrackerKey store nothing', async () => {
    const existing = await newTracker(api.database)
    const counts = async () => ({
      trackers: (await api.database.db.selectFrom('trackers').select('id').execute()).length,
      keys: (await api.database.db.selectFrom('tracker_keys').select('id').execute()).length,
    })
    const before = await counts()
    // The database was set up with another key since this API started (its check value replaced).
    const original = await api.database.db
      .selectFrom('key_encryption_check')
      .selectAll()
      .executeTakeFirstOrThrow()
    await api.database.db
      .updateTable('key_encryption_check')
      .set({ check_value: other.checkValue(), fingerprint: other.fingerprint })
      .execute()
    try {
      const key = generateKeyPair().privateKey.toString('base64')
      const created = await api.gql(
        'mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { id } }',
        { variables: { input: { name: 'refused', privateKeys: [key] } } },
      )
      expect(codes(created.body)).toEqual(['SERVICE_UNAVAILABLE'])
      expect(created.body.errors![0]!.message).toMatch(/KEY_ENCRYPTION_KEY .* nothing was stored/)
      const added = await api.gql(
        `mutation { addTrackerKey(trackerId: "${existing.id}", privateKey: "${key}") { id } }`,
      )
      expect(codes(added.body)).toEqual(['SERVICE_UNAVAILABLE'])
      expect(await counts()).toEqual(before)
      expect(api.logs.lines.some((l) => l.msg === 'refused to seal tracker keys')).toBe(true)
    } finally {
      await api.database.db
        .updateTable('key_encryption_check')
        .set({ check_value: original.check_value, fingerprint: original.fingerprint })
        .execute()
    }
  })
})
