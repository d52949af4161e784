import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { connectEmbedded } from '../connect/embedded.ts'
import { connectPostgres } from '../connect/postgres.ts'
import type { TrackerDatabase } from '../connect/tracker-database.ts'
import { migrateToLatest } from '../migrate.ts'

/**
 * The test environment's one reader of process.env. TEST_DATABASE_URL points the integration tests
 * at a real TimescaleDB server; without it they run on the embedded engine.
 */
export const testEnv = {
  databaseUrl: process.env.TEST_DATABASE_URL || undefined,
  postgresUrl: process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379',
}

export interface TestDatabase extends TrackerDatabase {
  /** Where the test runs: "embedded" or the fresh server database's name. */
  readonly label: string
  /** The connection string of the fresh database (postgres mode only). */
  readonly url?: string
}

/**
 * A fresh database for one test file: a new in-memory embedded engine, or a new database created on
 * the TEST_DATABASE_URL server and dropped again on close. Migrated unless `migrate: false`.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const database = testEnv.databaseUrl
    ? await createServerDatabase(testEnv.databaseUrl)
    : await createEmbedded()
  if (options.migrate !== false) await migrateToLatest(database.db)
  return database
}

async function createEmbedded(): Promise<TestDatabase> {
  const database = await connectEmbedded()
  return Object.assign(database, { label: 'embedded' })
}

export async function createFreshServerDatabase(
  baseUrl: string,
  prefix = 'tracker_test',
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

async function createServerDatabase(baseUrl: string): Promise<TestDatabase> {
  const fresh = await createFreshServerDatabase(baseUrl)
  const database = connectPostgres({ url: fresh.url, poolSize: 5, applicationName: 'tracker-test' })
  const close = database.close
  return Object.assign(database, {
    label: new URL(fresh.url).pathname.slice(1),
    url: fresh.url,
    async close() {
      await close()
      await fresh.drop()
    },
  })
}
