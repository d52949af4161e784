import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectDatabase, connectEmbedded, migrateToLatest, sql, type TrackerDatabase } from '@tracker/db'
import { createFreshServerDatabase } from '@tracker/db/testing'
import type { BenchEnv } from './env.ts'
import { removeNow, removeOnExit } from './temp-files.ts'

export interface BenchDatabase {
  readonly database: TrackerDatabase
  readonly mode: 'embedded' | 'postgres'
  /** "embedded (memory)", "embedded (disk)" or the fresh server database's name. */
  readonly label: string
  /** The fresh server database's URL (postgres only): for a connection of a figure's own (COPY). */
  readonly url?: string
  /** Closes the connection and removes the database (the temp directory, or DROP DATABASE). */
  close(): Promise<void>
}

export interface OpenOptions {
  /**
   * Embedded only. "disk" keeps the data in a temp directory, so the process's RSS is not the
   * database's size (the import figure's memory check) and large histories fit; "memory" is faster
   * to open.
   */
  storage?: 'memory' | 'disk'
}

/**
 * A fresh, migrated database for one figure: a new embedded engine, or a new database on the
 * DATABASE_URL server. Policy jobs are paused, so no retention or compression job changes the
 * history a figure builds (on the embedded engine nothing runs them anyway).
 */
export async function openBenchDatabase(env: BenchEnv, options: OpenOptions = {}): Promise<BenchDatabase> {
  const opened = env.databaseUrl ? await openServer(env.databaseUrl) : await openEmbedded(options)
  try {
    await migrateToLatest(opened.database.db)
    await sql`
      SELECT alter_job(job_id, scheduled => false)
        FROM timescaledb_information.jobs
       WHERE proc_name IN ('policy_retention', 'policy_compression', 'policy_refresh_continuous_aggregate')`.execute(
      opened.database.db,
    )
  } catch (error) {
    await opened.close().catch(() => {})
    throw error
  }
  return opened
}

async function openEmbedded(options: OpenOptions): Promise<BenchDatabase> {
  const dir =
    options.storage === 'disk' ? removeOnExit(mkdtempSync(join(tmpdir(), 'tracker-bench-'))) : undefined
  const database = await connectEmbedded(dir ? { dataDir: dir } : {})
  return {
    database,
    mode: 'embedded',
    label: dir ? 'embedded (disk)' : 'embedded (memory)',
    async close() {
      try {
        await database.close()
      } finally {
        if (dir) removeNow(dir)
      }
    },
  }
}

async function openServer(baseUrl: string): Promise<BenchDatabase> {
  const fresh = await createFreshServerDatabase(baseUrl, 'tracker_bench')
  const database = await connectDatabase({
    mode: 'postgres',
    url: fresh.url,
    poolSize: 10,
    applicationName: 'tracker-bench',
  })
  return {
    database,
    mode: 'postgres',
    label: new URL(fresh.url).pathname.slice(1),
    url: fresh.url,
    async close() {
      try {
        await database.close()
      } finally {
        await fresh.drop()
      }
    },
  }
}

/** Runs `fn` on a fresh database and always removes it, also when `fn` throws. */
export async function withBenchDatabase<T>(
  env: BenchEnv,
  options: OpenOptions,
  fn: (bench: BenchDatabase) => Promise<T>,
): Promise<T> {
  const bench = await openBenchDatabase(env, options)
  try {
    return await fn(bench)
  } finally {
    await bench.close().catch(() => {})
  }
}
