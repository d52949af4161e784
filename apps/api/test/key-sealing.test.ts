import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  KeyOpener,
  KeySealer,
  listImportableKeys,
  openStoredKeys,
  recordKeyReadability,
  type TrackerDatabase,
} from '@tracker/db'
import { createTestDatabase, insertTracker, type TestDatabase } from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { InProcessLockService } from '@tracker/locks'
import {
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  PostgresQueryCompiler,
} from 'kysely'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, parseApiEnv } from '../src/index.ts'
import {
  createTestApi,
  recordTestSealingKey,
  TEST_KEY_PAIR,
  type TestApi,
  testConfig,
  testKeyOpener,
} from './helpers.ts'

// The API and the sealed keys: it holds only the public key they are sealed to, cannot open any of
// them, never reads them back, and refuses to start or to seal with a public key that is not the one
// the importer recorded.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi()
})
afterAll(() => api?.close())

const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)
const createTracker = (target: TestApi, name: string, keys = [generateKeyPair()]) =>
  target.gql(
    'mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { id keys { hashedAdvKey status } } }',
    {
      variables: { input: { name, privateKeys: keys.map((k) => k.privateKey.toString('base64')) } },
    },
  )

const build = (database: TrackerDatabase, env: Record<string, string>) =>
  buildApp({
    database,
    locks: new InProcessLockService(),
    logger: pino({ level: 'silent' }),
    config: testConfig(env),
  })

/** Every SQL statement the API sends, compiled: what it asks the database for, on the real database. */
class StatementLog implements KyselyPlugin {
  readonly sql: string[] = []
  readonly #compiler = new PostgresQueryCompiler()
  transformQuery(args: PluginTransformQueryArgs) {
    this.sql.push(this.#compiler.compileQuery(args.node, args.queryId).sql)
    return args.node
  }
  async transformResult(args: PluginTransformResultArgs) {
    return args.result
  }
}

describe('the API holds no key that opens a sealed key', () => {
  it('its configuration has the public key only; a private key in its environment is refused at start', () => {
    const config = testConfig()
    expect(config.keySealingPublicKey).toBe(TEST_KEY_PAIR.publicKey)
    const text = JSON.stringify(config)
    expect(text).not.toContain(TEST_KEY_PAIR.privateKey)
    expect(Object.keys(config).filter((k) => /private|encryption|secret/i.test(k))).toEqual([])
    for (const name of ['KEY_SEALING_PRIVATE_KEY', 'KEY_SEALING_PRIVATE_KEY_FILE']) {
      expect(() => testConfig({ [name]: TEST_KEY_PAIR.privateKey })).toThrow(
        new RegExp(`${name} must not be set for the API: .* only the importer may hold it`),
      )
    }
    // The old symmetric key is not read (a warning at start says to remove it).
    expect(JSON.stringify(testConfig({ KEY_ENCRYPTION_KEY: 'a'.repeat(43) }))).not.toContain('a'.repeat(43))
    expect(() => parseApiEnv({ KEY_SEALING_PUBLIC_KEY: 'not a key' })).toThrow(
      /KEY_SEALING_PUBLIC_KEY must be an X25519 public key/,
    )
  })

  it('has no code path that opens a key or reads the sealed column (its sources)', () => {
    const files: string[] = []
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (entry.name.endsWith('.ts')) files.push(path)
      }
    }
    walk(join(import.meta.dirname, '../src'))
    expect(files.length).toBeGreaterThan(20)
    const code = (file: string) =>
      readFileSync(file, 'utf8')
        .split('\n')
        // Its documentation may name them: comments, messages, the SDL's descriptions.
        .filter((line) => !/^\s*(\/\/|\*|\/\*\*|"|'|`)/.test(line))
        .join('\n')
    const forbidden =
      /\b(KeyOpener|LegacyKeyCipher|PrivateKeyCipher|openStoredKeys|openTrackerKey|listImportableKeys|listSealedKeys|ensureOpeningKey|resealLegacyKeys|private_key_encrypted)\b/
    expect(files.filter((file) => forbidden.test(code(file)))).toEqual([])
    // The old symmetric key: only looked for, to warn that it should not be there.
    const legacy = files.flatMap((file) => code(file).match(/.*\bKEY_ENCRYPTION_KEY\b.*/g) ?? [])
    expect(legacy.map((line) => line.trim())).toEqual([
      'return toConfig(parsed.data, retention, tiles, Boolean(env.KEY_ENCRYPTION_KEY?.trim()))',
    ])
  })

  it('never reads the sealed column: keys are only INSERTed, nothing of them returned', async () => {
    const log = new StatementLog()
    const recorded = await createTestApi({
      database: { ...api.database, db: api.database.db.withPlugin(log) } as TrackerDatabase,
    })
    try {
      const created = await createTracker(recorded, 'statements', [generateKeyPair(), generateKeyPair()])
      expect(created.body.errors).toBeUndefined()
      const id = (created.body.data!.createTracker as { id: string }).id
      const added = await recorded.gql(
        `mutation { addTrackerKey(trackerId: "${id}", privateKey: "${generateKeyPair().privateKey.toString('base64')}") { id } }`,
      )
      expect(added.body.errors).toBeUndefined()
      const file = JSON.stringify([
        { name: 'from a file', privateKey: generateKeyPair().privateKey.toString('base64') },
      ])
      const imported = await recorded.gql(
        'mutation ($c: String!) { importKeyFile(fileName: "a.json", content: $c) { id } }',
        { variables: { c: file } },
      )
      expect(imported.body.errors).toBeUndefined()
      const listed = await recorded.gql(`{ tracker(id: "${id}") { keys { hashedAdvKey status } } }`)
      expect(listed.body.errors).toBeUndefined()
      const touching = log.sql.filter((s) => s.includes('private_key_encrypted'))
      expect(touching.length).toBeGreaterThanOrEqual(3)
      for (const statement of touching) {
        expect(statement).toMatch(/^insert into "tracker_keys"/)
        expect(statement.slice(statement.indexOf(' returning '))).not.toContain('private_key_encrypted')
      }
      expect(log.sql.some((s) => /^select .*from "tracker_keys"/.test(s))).toBe(true)
    } finally {
      await recorded.close()
    }
  })
})

describe('TrackerKey.status', () => {
  it('UNCHECKED until the importer looked, then what it found: READABLE, UNDECRYPTABLE (sealed to another key), UNKNOWN_FORMAT', async () => {
    const created = await createTracker(api, 'status')
    const tracker = created.body.data!.createTracker as {
      id: string
      keys: { hashedAdvKey: string; status: string }[]
    }
    expect(tracker.keys.map((k) => k.status)).toEqual(['UNCHECKED'])
    const foreign = generateKeyPair()
    const otherPair = KeySealer.fromPublicKey(KeyOpener.generate().publicKey)
    await api.database.db
      .insertInto('tracker_keys')
      .values({
        tracker_id: tracker.id,
        hashed_adv_key: foreign.hashedAdvKey,
        private_key_encrypted: otherPair.seal(foreign.privateKey, foreign.hashedAdvKey),
      })
      .execute()
    const manual = await insertTracker(api.database.db, { keys: 1 })
    // What the importer does at start and on each run, with its private key.
    const found = openStoredKeys(testKeyOpener(), await listImportableKeys(api.database.db))
    await recordKeyReadability(api.database.db, found.readability)

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

describe('a KEY_SEALING_PUBLIC_KEY that is not the recorded one', () => {
  it('keeps the API from starting, naming KEY_SEALING_PUBLIC_KEY', async () => {
    // The shared database's public key was recorded (as by the importer's start) with TEST_KEY_PAIR.
    await expect(
      build(api.database, { KEY_SEALING_PUBLIC_KEY: KeyOpener.generate().publicKey }),
    ).rejects.toThrow(
      /^KEY_SEALING_PUBLIC_KEY \(public key \w+\) is not the public key this database's tracker keys are sealed to \(public key \w+, recorded by the importer/,
    )
    // The private key where the public one belongs: said so (and the API never keeps it).
    await expect(build(api.database, { KEY_SEALING_PUBLIC_KEY: TEST_KEY_PAIR.privateKey })).rejects.toThrow(
      /^KEY_SEALING_PUBLIC_KEY holds the private key of this database's key pair, not its public key/,
    )
  })

  it('before the importer recorded its key: the API starts, but stores no key until then', async () => {
    const database = await createTestDatabase()
    const early = await createTestApi({ database, sealingKeyRecorded: false })
    try {
      expect(early.logs.lines.some((l) => String(l.msg).startsWith('no public key is recorded'))).toBe(true)
      const refused = await createTracker(early, 'too early')
      expect(codes(refused.body)).toEqual(['SERVICE_UNAVAILABLE'])
      expect(refused.body.errors![0]!.message).toMatch(/importer .* Nothing was stored/)
      expect(await database.db.selectFrom('trackers').select('id').execute()).toEqual([])
      await recordTestSealingKey(database)
      expect((await createTracker(early, 'now')).body.errors).toBeUndefined()
    } finally {
      await early.close()
      await (database as TestDatabase).close()
    }
  })

  it('is refused before sealing: createTracker and addTrackerKey store nothing', async () => {
    const existing = await api.database.db
      .insertInto('trackers')
      .values({ name: 'no keys' })
      .returning('id')
      .executeTakeFirstOrThrow()
    const counts = async () => ({
      trackers: (await api.database.db.selectFrom('trackers').select('id').execute()).length,
      keys: (await api.database.db.selectFrom('tracker_keys').select('id').execute()).length,
    })
    const before = await counts()
    // The database was set up with another key pair since this API started (its record replaced).
    const original = await api.database.db
      .selectFrom('key_sealing_check')
      .selectAll()
      .executeTakeFirstOrThrow()
    const other = KeySealer.fromPublicKey(KeyOpener.generate().publicKey)
    await api.database.db
      .updateTable('key_sealing_check')
      .set({ public_key: other.publicKey, fingerprint: other.fingerprint })
      .execute()
    try {
      const created = await createTracker(api, 'refused')
      expect(codes(created.body)).toEqual(['SERVICE_UNAVAILABLE'])
      expect(created.body.errors![0]!.message).toMatch(/KEY_SEALING_PUBLIC_KEY .* nothing was stored/)
      const added = await api.gql(
        `mutation { addTrackerKey(trackerId: "${existing.id}", privateKey: "${generateKeyPair().privateKey.toString('base64')}") { id } }`,
      )
      expect(codes(added.body)).toEqual(['SERVICE_UNAVAILABLE'])
      expect(await counts()).toEqual(before)
      expect(api.logs.lines.some((l) => l.msg === 'refused to seal tracker keys')).toBe(true)
    } finally {
      await api.database.db
        .updateTable('key_sealing_check')
        .set({ public_key: original.public_key, fingerprint: original.fingerprint })
        .execute()
    }
  })
})
