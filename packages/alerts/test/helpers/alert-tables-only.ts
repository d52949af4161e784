import {
  connectDatabase,
  type Database,
  type Kysely,
  migrations,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'

/**
 * A fresh database on the machine's PostgreSQL (TEST_POSTGRES_URL), which has no TimescaleDB, so the
 * full migrations cannot run there: only the alert tables (the alerts migration itself) over the
 * few tracker and report columns they reference. For what needs real concurrent connections (SKIP LOCKED
 * between two pools) where the embedded engine has one session.
 */
export async function alertTablesOnly(): Promise<{
  url: string
  connect(): Promise<TrackerDatabase>
  close(): Promise<void>
}> {
  const fresh = await createFreshServerDatabase(testEnv.postgresUrl, 'tracker_alerts_test')
  const opened: TrackerDatabase[] = []
  const connect = async () => {
    const database = await connectDatabase({
      mode: 'postgres',
      url: fresh.url,
      poolSize: 4,
      applicationName: 'tracker-alerts-test',
    })
    opened.push(database)
    return database
  }
  try {
    const setup = await connect()
    await createTrackerTables(setup.db)
    const alerts = migrations['20261217060000_alerts']
    if (!alerts) throw new Error('the alerts migration is not listed')
    await alerts.up(setup.db as Kysely<unknown>)
  } catch (error) {
    await Promise.all(opened.map((database) => database.close()))
    await fresh.drop()
    throw error
  }
  return {
    url: fresh.url,
    connect,
    async close() {
      await Promise.all(opened.map((database) => database.close()))
      await fresh.drop()
    },
  }
}

async function createTrackerTables(db: Kysely<Database>): Promise<void> {
  await sql`
    CREATE TABLE trackers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      is_active boolean NOT NULL DEFAULT true,
      last_seen_at timestamptz,
      last_latitude double precision,
      last_longitude double precision
    )`.execute(db)
  await sql`
    CREATE TABLE tracker_keys (
      hashed_adv_key text PRIMARY KEY,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      private_key_encrypted bytea NOT NULL
    )`.execute(db)
  // A plain table with the columns the evaluator reads (the real one is a hypertable).
  await sql`
    CREATE TABLE location_reports (
      hashed_adv_key text NOT NULL,
      "timestamp" timestamptz NOT NULL,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      latitude double precision NOT NULL,
      longitude double precision NOT NULL,
      horizontal_accuracy integer,
      confidence smallint,
      status smallint,
      nearest_city text,
      published_at timestamptz,
      inserted_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tracker_id, hashed_adv_key, "timestamp")
    )`.execute(db)
}
