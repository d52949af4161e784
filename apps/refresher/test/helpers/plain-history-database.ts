import { randomBytes } from 'node:crypto'
import { connectDatabase, sql, type TrackerDatabase } from '@tracker/db'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'
import pg from 'pg'

/**
 * A fresh database on the machine's plain PostgreSQL (no TimescaleDB), shaped like Tracker's where the
 * history engine looks: location_reports, location_history (the real table's DDL) and its state row,
 * and plain views standing in for the two continuous aggregates (same columns, same meaning). So
 * LISTEN/NOTIFY over the wire, the engine's upkeep statements, locks and cancellation are the real
 * thing. A test's "row n" is a report of tracker n, a minute old (inside the hourly tier).
 *
 * For tests about refreshes in flight, `setRefreshDelay` makes each read of the stand-in aggregates
 * take that long (their query sleeps) and `closeGate` holds them (their query waits for an advisory
 * lock) until the test opens it.
 */
export interface PlainHistoryDatabase {
  readonly url: string
  /** The refresher's connection (its listener's application_name is `${applicationName}-listener`). */
  readonly database: TrackerDatabase
  readonly applicationName: string
  /** A separate client, as another writer or an operator would be. */
  readonly admin: pg.Pool
  /** Inserts row n (a report of tracker n). */
  insert(id: number): Promise<void>
  /** The statement `insert` runs, for a client of the test's own (inside its transaction). */
  insertStatement(id: number): [string, unknown[]]
  notify(payload: string): Promise<void>
  /** The rows (trackers) location_history holds, ascending. */
  historyIds(): Promise<number[]>
  setRefreshDelay(seconds: number): Promise<void>
  /** Holds every refresh at its start until the returned function is called. */
  closeGate(): Promise<() => Promise<void>>
  /** Backend pids of the refresher's listener connection. */
  listenerPids(): Promise<number[]>
  /** Kills the listening backend, as a server restart or a network cut would. */
  terminateListener(): Promise<number>
  /** Refuses (false) or allows new connections to this database. */
  allowConnections(allow: boolean): Promise<void>
  close(): Promise<void>
}

export const trackerUuid = (id: number) => `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`

/** The primary key the upkeep's ON CONFLICT names; tests drop it to make upkeep fail. */
export const HISTORY_KEY_DDL =
  'ALTER TABLE location_history ADD CONSTRAINT location_history_key PRIMARY KEY (tracker_id, bucket_size, "timestamp")'

export async function createPlainHistoryDatabase(): Promise<PlainHistoryDatabase> {
  const fresh = await createFreshServerDatabase(testEnv.postgresUrl, 'refresher_test')
  const admin = new pg.Pool({ connectionString: fresh.url, max: 10 })
  // The database is dropped WITH (FORCE) at the end: a connection still closing then is no failure.
  admin.on('error', () => {})
  await admin.query(`
    CREATE TABLE location_reports (
      tracker_id uuid NOT NULL,
      "timestamp" timestamptz NOT NULL,
      latitude double precision NOT NULL,
      longitude double precision NOT NULL,
      nearest_city text,
      horizontal_accuracy integer,
      PRIMARY KEY (tracker_id, "timestamp"));
    CREATE TABLE refresh_delay (seconds double precision NOT NULL);
    INSERT INTO refresh_delay VALUES (0);
    -- STABLE: the rows are read in the statement's own snapshot, as an aggregate's would be.
    CREATE FUNCTION bucket_rows(size text) RETURNS TABLE (
      tracker_id uuid, bucket timestamptz, latitude double precision, longitude double precision,
      nearest_city text, horizontal_accuracy integer, best_accuracy integer, report_count bigint,
      first_report_at timestamptz, last_report_at timestamptz) LANGUAGE plpgsql STABLE AS $$
    BEGIN
      PERFORM pg_advisory_lock_shared(4242);
      PERFORM pg_advisory_unlock_shared(4242);
      PERFORM pg_sleep((SELECT seconds FROM refresh_delay));
      RETURN QUERY
        SELECT r.tracker_id, date_trunc(size, r."timestamp", 'UTC'),
               (array_agg(r.latitude ORDER BY r."timestamp" DESC))[1],
               (array_agg(r.longitude ORDER BY r."timestamp" DESC))[1],
               (array_agg(r.nearest_city ORDER BY r."timestamp" DESC))[1],
               (array_agg(r.horizontal_accuracy ORDER BY r."timestamp" DESC))[1],
               min(r.horizontal_accuracy), count(*), min(r."timestamp"), max(r."timestamp")
          FROM location_reports r GROUP BY 1, 2;
    END $$;
    CREATE VIEW location_history_hourly AS SELECT * FROM bucket_rows('hour');
    CREATE VIEW location_history_daily AS SELECT * FROM bucket_rows('day');
    CREATE TABLE location_history (
      tracker_id uuid NOT NULL,
      "timestamp" timestamptz NOT NULL,
      bucket_size text NOT NULL,
      latitude double precision NOT NULL,
      longitude double precision NOT NULL,
      nearest_city text,
      horizontal_accuracy integer,
      best_accuracy integer,
      report_count bigint NOT NULL,
      first_report_at timestamptz NOT NULL,
      last_report_at timestamptz NOT NULL);
    ${HISTORY_KEY_DDL};
    CREATE TABLE location_history_state (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      hourly_tier_start timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO location_history_state DEFAULT VALUES;
  `)
  const applicationName = `refresher-test-${randomBytes(4).toString('hex')}`
  const database = await connectDatabase({ mode: 'postgres', url: fresh.url, poolSize: 4, applicationName })
  const serverAdmin = () => new pg.Client({ connectionString: testEnv.postgresUrl })
  const dbName = new URL(fresh.url).pathname.slice(1)
  const insertStatement = (id: number): [string, unknown[]] => [
    `INSERT INTO location_reports (tracker_id, "timestamp", latitude, longitude, nearest_city, horizontal_accuracy)
     VALUES ($1, now() - interval '1 minute', 52.5, 13.4, $2, 10)`,
    [trackerUuid(id), `row ${id}`],
  ]

  return {
    url: fresh.url,
    database,
    applicationName,
    admin,
    insertStatement,
    async insert(id) {
      await admin.query(...insertStatement(id))
    },
    async notify(payload) {
      await admin.query(`SELECT pg_notify('refresh_location_history', $1)`, [payload])
    },
    async historyIds() {
      const { rows } = await admin.query<{ id: string }>(
        'SELECT DISTINCT tracker_id::text AS id FROM location_history ORDER BY 1',
      )
      return rows.map((r) => Number(r.id.slice(-12)))
    },
    async setRefreshDelay(seconds) {
      await admin.query('UPDATE refresh_delay SET seconds = $1', [seconds])
    },
    async closeGate() {
      const client = await admin.connect()
      await client.query('SELECT pg_advisory_lock(4242)')
      return async () => {
        await client.query('SELECT pg_advisory_unlock(4242)')
        client.release()
      }
    },
    async listenerPids() {
      const { rows } = await admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
        [`${applicationName}-listener`],
      )
      return rows.map((r) => r.pid)
    },
    async terminateListener() {
      const { rows } = await admin.query<{ terminated: boolean }>(
        'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
        [`${applicationName}-listener`],
      )
      return rows.filter((r) => r.terminated).length
    },
    async allowConnections(allow) {
      const client = serverAdmin()
      await client.connect()
      try {
        await client.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`)
      } finally {
        await client.end()
      }
    },
    async close() {
      await database.close()
      await admin.end()
      await fresh.drop()
    },
  }
}

/** True while some backend of `db` is running location_history's upkeep statement. */
export async function refreshInFlight(db: PlainHistoryDatabase): Promise<boolean> {
  const { rows } = await db.admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
        AND query LIKE '/* location_history upkeep */%'`,
  )
  return (rows[0]?.n ?? 0) > 0
}

export { sql }
