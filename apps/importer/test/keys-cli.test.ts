import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  connectEmbedded,
  ensureKeyEncryptionKey,
  KeyOpener,
  LegacyKeyCipher,
  listSealedKeys,
  migrateToLatest,
  openStoredKeys,
  pendingMigrations,
} from '@tracker/db'
import { hashedAdvKey } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// `keys generate | public | status | reseal` as an operator runs them: a real process on an embedded
// data directory whose keys the old version sealed (version 1, under KEY_ENCRYPTION_KEY).
const MAIN = join(import.meta.dirname, '../src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'tracker-keys-cli-'))
const dataDir = join(dir, 'data')
const OLD_SECRET = LegacyKeyCipher.generateSecret()
const pair = KeyOpener.generate()
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ['--conditions=tracker-source', MAIN, ...args], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, ...env },
    encoding: 'utf8',
  })
const failed = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the command to fail')
    },
    (error: { code: number; stdout: string; stderr: string }) => error,
  )

const originals = Array.from({ length: 5 }, () => ({
  hashedAdvKey: hashedAdvKey(),
  privateKey: randomBytes(28),
}))
const foreign = { hashedAdvKey: hashedAdvKey(), privateKey: randomBytes(28) }

const withDatabase = async <T>(fn: (db: Awaited<ReturnType<typeof connectEmbedded>>) => Promise<T>) => {
  const database = await connectEmbedded({ dataDir })
  try {
    return await fn(database)
  } finally {
    await database.close()
  }
}
const sealedColumn = () =>
  withDatabase(async (database) =>
    (await listSealedKeys(database.db))
      .map((k) => Buffer.from(k.private_key_encrypted).toString('hex'))
      .sort(),
  )

beforeAll(async () => {
  // What the version before stored: keys sealed with the symmetric key, and its check value.
  await withDatabase(async (database) => {
    await migrateToLatest(database.db)
    const legacy = LegacyKeyCipher.fromSecret(OLD_SECRET)
    const tracker = await database.db
      .insertInto('trackers')
      .values({ name: 'old' })
      .returning('id')
      .executeTakeFirstOrThrow()
    await database.db
      .insertInto('tracker_keys')
      .values([
        ...originals.map((key) => ({
          tracker_id: tracker.id,
          hashed_adv_key: key.hashedAdvKey,
          private_key_encrypted: legacy.seal(key.privateKey, key.hashedAdvKey),
        })),
        // One the old version accepted sealed with another key: it never opened.
        {
          tracker_id: tracker.id,
          hashed_adv_key: foreign.hashedAdvKey,
          private_key_encrypted: LegacyKeyCipher.fromSecret(LegacyKeyCipher.generateSecret()).seal(
            foreign.privateKey,
            foreign.hashedAdvKey,
          ),
        },
      ])
      .execute()
    await ensureKeyEncryptionKey(database.db, legacy)
  })
}, 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('importer keys CLI', () => {
  it('generate prints a key pair; public derives the public key from the private one', async () => {
    const generated = await run(['keys', 'generate'])
    const lines = Object.fromEntries(
      generated.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    )
    expect(Object.keys(lines)).toEqual(['KEY_SEALING_PRIVATE_KEY', 'KEY_SEALING_PUBLIC_KEY'])
    const derived = KeyOpener.fromPrivateKey(lines.KEY_SEALING_PRIVATE_KEY).sealer.publicKey.toString(
      'base64',
    )
    expect(derived).toBe(lines.KEY_SEALING_PUBLIC_KEY)
    const printed = await run(['keys', 'public'], { KEY_SEALING_PRIVATE_KEY: pair.privateKey })
    expect(printed.stdout.trim()).toBe(pair.publicKey)
    expect((await failed(run(['keys', 'public']))).stderr).toMatch(/KEY_SEALING_PRIVATE_KEY is not set/)
  })

  it('status and trackers list on a data directory never migrated say to migrate first, and leave it unmigrated', async () => {
    const fresh = join(dir, 'never-migrated')
    const env = { DATA_DIR: fresh, KEY_SEALING_PRIVATE_KEY: pair.privateKey }
    for (const args of [
      ['keys', 'status'],
      ['trackers', 'list'],
    ]) {
      const error = await failed(run(args, env))
      expect(error.code).toBe(1)
      expect(error.stderr).toMatch(/The database is not migrated \(pending: \d{14}_/)
      expect(error.stderr).toContain('npm run db:migrate')
      expect(error.stderr).not.toMatch(/does not exist/)
    }
    const database = await connectEmbedded({ dataDir: fresh })
    try {
      expect((await pendingMigrations(database.db)).length).toBeGreaterThan(0)
    } finally {
      await database.close()
    }
  })

  it('the importer with only the new private key refuses to start while old keys remain, naming keys reseal', async () => {
    const refused = await failed(
      run(['--once'], {
        KEY_SEALING_PRIVATE_KEY: pair.privateKey,
        REPORT_ENDPOINT_URL: 'http://127.0.0.1:9',
      }),
    )
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /6 stored tracker key\(s\) are still sealed in the old format .*keys reseal/,
    )
  })

  it('reseal needs KEY_ENCRYPTION_KEY, and refuses a wrong one before writing anything', async () => {
    const before = await sealedColumn()
    const missing = await failed(run(['keys', 'reseal'], { KEY_SEALING_PRIVATE_KEY: pair.privateKey }))
    expect(missing.stderr).toMatch(/KEY_ENCRYPTION_KEY is not set/)
    const wrong = await failed(
      run(['keys', 'reseal'], {
        KEY_SEALING_PRIVATE_KEY: pair.privateKey,
        KEY_ENCRYPTION_KEY: LegacyKeyCipher.generateSecret(),
      }),
    )
    expect(wrong.stderr).toMatch(/KEY_ENCRYPTION_KEY \(fingerprint \w+\) is not the key/)
    const noPair = await failed(run(['keys', 'reseal'], { KEY_ENCRYPTION_KEY: OLD_SECRET }))
    expect(noPair.stderr).toMatch(/keys reseal needs the key pair .*KEY_SEALING_PRIVATE_KEY/)
    expect(await sealedColumn()).toEqual(before)
  })

  it('re-seals every old key once, nothing lost; the one that never opened is reported and left; a rerun is a no-op', async () => {
    const env = { KEY_ENCRYPTION_KEY: OLD_SECRET, KEY_SEALING_PRIVATE_KEY: pair.privateKey }
    const first = await failed(run(['keys', 'reseal', '--batch-size', '2'], env))
    // Exit 2: done, but a key was left as it is.
    expect(first.code).toBe(2)
    expect(first.stdout).toContain(
      're-sealed 5 of 6 key(s) in the old format to the public key (each opened again',
    )
    expect(first.stdout).toContain(`key ${foreign.hashedAdvKey}`)

    const status = JSON.parse((await run(['keys', 'status'])).stdout) as {
      keys: Record<string, number>
      publicKey: { base64: string }
    }
    expect(status.keys).toEqual({ sealedToPublicKey: 5, oldFormat: 1, unknownFormat: 0 })
    expect(status.publicKey.base64).toBe(pair.publicKey)

    // Every key opens with the private key alone, to the bytes the old version stored.
    await withDatabase(async (database) => {
      const { opened, unreadable } = openStoredKeys(
        KeyOpener.fromPrivateKey(pair.privateKey),
        await listSealedKeys(database.db),
      )
      expect(opened.map((k) => [k.hashedAdvKey, k.privateKey.toString('hex')]).sort()).toEqual(
        originals.map((k) => [k.hashedAdvKey, k.privateKey.toString('hex')]).sort(),
      )
      expect(unreadable.map((k) => k.hashedAdvKey)).toEqual([foreign.hashedAdvKey])
    })

    const before = await sealedColumn()
    const again = await failed(run(['keys', 'reseal'], env))
    expect(again.code).toBe(2)
    expect(again.stdout).toContain('re-sealed 0 of 1 key(s)')
    expect(await sealedColumn()).toEqual(before)

    // With the one that never opened gone, nothing is left to do, and the old key is not needed.
    await withDatabase((database) =>
      database.db.deleteFrom('tracker_keys').where('hashed_adv_key', '=', foreign.hashedAdvKey).execute(),
    )
    const done = await run(['keys', 'reseal'], { KEY_SEALING_PRIVATE_KEY: pair.privateKey })
    expect(done.stdout).toContain(
      'nothing to re-seal: no stored key is in the old format (5 sealed to the public key)',
    )
  })
})
