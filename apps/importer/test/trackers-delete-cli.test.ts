import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connectEmbedded, KeyOpener, migrateToLatest } from '@tracker/db'
import { reportRow } from '@tracker/db/testing'
import { simulatedTrackers } from '@tracker/findmy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// `trackers reactivate` and `trackers delete` as a user runs them: a real process on an embedded data directory.
const MAIN = join(import.meta.dirname, '../src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'tracker-delete-cli-'))
const dataDir = join(dir, 'data')
const secret = KeyOpener.generate().privateKey
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--conditions=tracker-source', MAIN, ...args], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, KEY_SEALING_PRIVATE_KEY: secret },
    encoding: 'utf8',
  })
const refused = (args: string[]) =>
  run(args).then(
    () => {
      throw new Error(`${args.join(' ')} succeeded`)
    },
    (error: { code: number; stderr: string }) => error,
  )

async function withDatabase<T>(fn: (db: Awaited<ReturnType<typeof connectEmbedded>>['db']) => Promise<T>) {
  const database = await connectEmbedded({ dataDir })
  try {
    return await fn(database.db)
  } finally {
    await database.close()
  }
}

// Each command is a process that opens the embedded engine (seconds each on a loaded machine).
const SLOW = 240_000
let id: string
let key: string
beforeAll(async () => {
  await withDatabase((db) => migrateToLatest(db))
  const pair = simulatedTrackers({ seed: 11, trackers: 1 })[0]!.keys[0]!
  key = pair.hashedAdvKey
  const added = await run([
    'trackers',
    'add',
    '--name',
    'Old bike',
    '--key',
    pair.privateKey.toString('base64'),
  ])
  id = /added tracker (\S+)/.exec(added.stdout)![1]!
  await withDatabase((db) =>
    db
      .insertInto('location_reports')
      .values([
        reportRow(key, new Date(Date.now() - 3_600_000)),
        reportRow(key, new Date(Date.now() - 86_400_000)),
      ])
      .execute(),
  )
}, SLOW)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const listed = async () =>
  JSON.parse((await run(['trackers', 'list', '--json'])).stdout) as { id: string; active: boolean }[]

describe('importer trackers CLI: reactivate and delete', () => {
  it(
    'reactivates a deactivated tracker',
    async () => {
      await run(['trackers', 'deactivate', id])
      const reactivated = await run(['trackers', 'reactivate', id])
      expect(reactivated.stdout).toContain(`reactivated tracker ${id}`)
      expect((await listed()).find((t) => t.id === id)?.active).toBe(true)
    },
    SLOW,
  )

  it(
    'refuses to delete without --confirm NAME, or with another name (exit 2): nothing is deleted',
    async () => {
      const without = await refused(['trackers', 'delete', id])
      expect(without.code).toBe(2)
      expect(without.stderr).toContain('--confirm "Old bike"')
      const wrong = await refused(['trackers', 'delete', id, '--confirm', 'old bike'])
      expect(wrong.code).toBe(2)
      expect(wrong.stderr).toMatch(/cannot be undone/)
      const bad = await refused(['trackers', 'delete', 'not-an-id', '--confirm', 'x'])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain('not a tracker ID')
      expect(
        await withDatabase((db) => db.selectFrom('location_reports').select('tracker_id').execute()),
      ).toHaveLength(2)
    },
    SLOW,
  )

  it(
    'deletes the tracker and its history with the name, and records who did it',
    async () => {
      const deleted = await run(['trackers', 'delete', id, '--confirm', 'Old bike'])
      expect(deleted.stdout).toContain(`deleted tracker ${id} (Old bike): 2 raw reports`)
      const left = await withDatabase(async (db) => ({
        trackers: await db.selectFrom('trackers').select('id').execute(),
        reports: await db.selectFrom('location_reports').select('tracker_id').execute(),
        keys: await db.selectFrom('tracker_keys').select('id').execute(),
        audit: await db.selectFrom('tracker_deletions').selectAll().execute(),
      }))
      expect(left.trackers).toEqual([])
      expect(left.reports).toEqual([])
      expect(left.keys).toEqual([])
      expect(left.audit).toEqual([
        expect.objectContaining({
          tracker_id: id,
          tracker_name: 'Old bike',
          hashed_adv_keys: [key],
          deleted_by: expect.stringMatching(/^cli .+@.+/),
          reports_deleted: 2,
          keys_deleted: 1,
        }),
      ])
      const again = await refused(['trackers', 'delete', id, '--confirm', 'Old bike'])
      expect(again.code).toBe(1)
      expect(again.stderr).toContain('does not exist')
    },
    SLOW,
  )
})
