import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBackupManifest, restoreDataDir } from '../src/backup/data-dir-backup.ts'
import { readTar, tarStream } from '../src/backup/tar.ts'
import { connectEmbedded, type EmbeddedDatabase } from '../src/connect/embedded.ts'
import { DAY_MS, HOUR_MS, migrateToLatest } from '../src/index.ts'
import { insertTracker, reportRow } from '../src/testing/index.ts'

// Embedded-only by nature: the data directory's files. The commands run as a user runs them, as
// processes (the lock is per process), `npm run db:backup` as written in the root package.json.
const ROOT = join(import.meta.dirname, '../../..')
const dir = mkdtempSync(join(tmpdir(), 'tracker-backup-'))
const source = join(dir, 'source')
const backupFile = join(dir, 'backups', 'tracker.tar.gz')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// Each command opens the engine in a new process: seconds each on a loaded machine.
const SLOW = 240_000

function run(
  command: string,
  args: string[],
  dataDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}
const cli = (name: 'backup' | 'restore', args: string[], dataDir: string) =>
  run(
    process.execPath,
    ['--conditions=tracker-source', join(ROOT, `packages/db/src/cli/${name}.ts`), ...args],
    dataDir,
  )

/** Everything a history is made of, in a stable order. */
async function snapshot(database: EmbeddedDatabase) {
  const rows = async (query: string) => (await sql.raw(query).execute(database.db)).rows
  return {
    trackers: await rows('SELECT id, name, is_active FROM trackers ORDER BY id'),
    keys: await rows('SELECT tracker_id, hashed_adv_key FROM tracker_keys ORDER BY hashed_adv_key'),
    reports: await rows('SELECT * FROM location_reports ORDER BY tracker_id, hashed_adv_key, "timestamp"'),
    hourly: await rows('SELECT * FROM location_history_hourly ORDER BY tracker_id, bucket'),
    daily: await rows('SELECT * FROM location_history_daily ORDER BY tracker_id, bucket'),
    history: await rows('SELECT * FROM location_history ORDER BY tracker_id, bucket_size, "timestamp"'),
    compressedChunks: await rows(
      "SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'location_reports' AND is_compressed",
    ),
  }
}

let before: Awaited<ReturnType<typeof snapshot>>
beforeAll(async () => {
  const database = await connectEmbedded({ dataDir: source })
  try {
    await migrateToLatest(database.db)
    const now = Date.now()
    for (const name of ['Bike', 'Car']) {
      const tracker = await insertTracker(database.db, { name })
      await database.db
        .insertInto('location_reports')
        .values(
          [HOUR_MS, 5 * HOUR_MS, 2 * DAY_MS, 5 * DAY_MS, 6 * DAY_MS].map((ago, i) =>
            reportRow(tracker.hashedAdvKeys[0]!, new Date(now - ago), { latitude: 48 + i }),
          ),
        )
        .execute()
    }
    await sql`CALL refresh_continuous_aggregate('location_history_daily', now() - INTERVAL '8 days', now())`.execute(
      database.db,
    )
    await sql`CALL refresh_continuous_aggregate('location_history_hourly', now() - INTERVAL '2 days', now())`.execute(
      database.db,
    )
    await sql`SELECT compress_chunk(c) FROM show_chunks('location_reports', older_than => now() - INTERVAL '3 days') c`.execute(
      database.db,
    )
    await sql`INSERT INTO location_history SELECT * FROM location_history_view`.execute(database.db)
    before = await snapshot(database)
  } finally {
    await database.close()
  }
  // What a local stack keeps beside its database: its key pair.
  writeFileSync(join(source, 'local-stack.json'), '{"keyEncryptionKey":"secret"}\n')
}, SLOW)

describe('npm run db:backup / db:restore', () => {
  it(
    'refuses to back up while another process holds the data directory, naming it',
    async () => {
      const holder = await connectEmbedded({ dataDir: source })
      try {
        const refused = await cli('backup', [backupFile], source)
        expect(refused.code).toBe(1)
        expect(refused.stderr).toContain(`in use by another Tracker process (pid ${process.pid}`)
        expect(refused.stderr).toMatch(/npm run demo[\s\S]*stop it/)
        expect(existsSync(backupFile)).toBe(false)
      } finally {
        await holder.close()
      }
    },
    SLOW,
  )

  it(
    'backs up, restores into a new directory, and the restored database holds the same history',
    async () => {
      expect(before.reports).toHaveLength(10)
      expect(before.daily.length).toBeGreaterThan(0)
      expect(before.history.length).toBeGreaterThan(0)
      expect(before.compressedChunks).not.toEqual([{ n: 0 }])

      const backup = await run('npm', ['run', '--silent', 'db:backup', '--', backupFile], source)
      expect(backup.stderr).toBe('')
      expect(backup.code).toBe(0)
      expect(backup.stdout).toMatch(
        /backed up .* \(.* MB, .*\): 2 trackers, 10 raw reports, \d+ location_history rows/,
      )
      expect(await readBackupManifest(backupFile)).toMatchObject({
        format: 'tracker-data-dir-backup',
        counts: { trackers: 2, locationReports: 10, locationHistory: before.history.length },
      })

      const target = join(dir, 'restored')
      const restored = await cli('restore', [backupFile], target)
      expect(restored.stderr).toBe('')
      expect(restored.code).toBe(0)
      expect(restored.stdout).toContain('2 trackers, 10 raw reports')
      expect(readFileSync(join(target, 'local-stack.json'), 'utf8')).toContain('secret')
      expect(existsSync(join(target, 'tracker.lock'))).toBe(false)

      const database = await connectEmbedded({ dataDir: target })
      try {
        expect(await snapshot(database)).toEqual(before)
        // A working TimescaleDB, not only files: a new report reaches the aggregate.
        const [key] = before.keys as { hashed_adv_key: string }[]
        await database.db
          .insertInto('location_reports')
          .values(reportRow(key!.hashed_adv_key, new Date()))
          .execute()
        const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM location_history_hourly WHERE bucket >= now() - INTERVAL '1 hour'`.execute(
          database.db,
        )
        expect(rows[0]!.n).toBeGreaterThan(0)
      } finally {
        await database.close()
      }
    },
    SLOW,
  )

  it(
    'restore refuses a directory that is not empty unless --force, and a file that is no backup',
    async () => {
      const target = join(dir, 'occupied')
      mkdirSync(target)
      writeFileSync(join(target, 'notes.txt'), 'mine')
      const refused = await cli('restore', [backupFile], target)
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/is not empty: a restore would replace what it holds.*--force/s)
      expect(readFileSync(join(target, 'notes.txt'), 'utf8')).toBe('mine')

      const notABackup = join(dir, 'not-a-backup.tar.gz')
      writeFileSync(notABackup, 'hello')
      await expect(restoreDataDir(notABackup, join(dir, 'elsewhere'))).rejects.toMatchObject({
        code: 'NOT_A_BACKUP',
      })
      expect(existsSync(join(dir, 'elsewhere'))).toBe(false)

      const forced = await restoreDataDir(backupFile, target, { force: true })
      expect(forced.counts).toEqual({
        trackers: 2,
        locationReports: 10,
        locationHistory: before.history.length,
      })
      expect(existsSync(join(target, 'notes.txt'))).toBe(false)
      expect(existsSync(join(target, 'pgdata', 'PG_VERSION'))).toBe(true)
    },
    SLOW,
  )
})

describe('the tar format', () => {
  it('round-trips files, directories and paths longer than 100 bytes', async () => {
    const long = `${'deep/'.repeat(30)}file.bin`
    const content = Buffer.from('x'.repeat(1500))
    async function* entries() {
      yield { path: 'a', type: 'directory' as const, mode: 0o700, size: 0, mtime: new Date(0) }
      yield {
        path: long,
        type: 'file' as const,
        mode: 0o600,
        size: content.length,
        mtime: new Date(1e12),
        content,
      }
    }
    const chunks: Buffer[] = []
    for await (const chunk of tarStream(entries())) chunks.push(chunk)
    const archive = Buffer.concat(chunks)
    expect(archive.length % 512).toBe(0)
    const read: { path: string; type: string; data: string }[] = []
    for await (const entry of readTar(Readable.from([archive.subarray(0, 700), archive.subarray(700)]))) {
      const parts: Buffer[] = []
      for await (const part of entry.chunks()) parts.push(part)
      read.push({ path: entry.path, type: entry.type, data: Buffer.concat(parts).toString() })
    }
    expect(read).toEqual([
      { path: 'a', type: 'directory', data: '' },
      { path: long, type: 'file', data: content.toString() },
    ])
    await expect(async () => {
      for await (const _ of readTar(Readable.from([archive.subarray(0, 1024)])))
        for await (const __ of _.chunks());
    }).rejects.toThrow(/truncated/)
  })
})
