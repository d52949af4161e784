import { randomBytes } from 'node:crypto'
import { connectDatabase, sql, type TrackerDatabase } from '@tracker/db'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'
import pg from 'pg'

/**
 * A fresh database on the machine's plain PostgreSQL (no TimescaleDB) holding a plain table and a
 * real materialized view named location_history with a unique index, so LISTEN/NOTIFY over the wire
 * and REFRESH MATERIALIZED VIEW CONCURRENTLY are the real thing. For tests about refreshes in
 * flight, `setRefreshDelay` makes each refresh take that long (the view's query sleeps) and
 * `closeGate` holds them (the view's query waits for an advisory lock) until the test opens it.
 */
export interface PlainHistoryDatabase {
  readonly url: string
  /** The refresher's connection (its listener's application_name is `${applicationName}-listener`). */
  readonly database: TrackerDatabase
  readonly applicationName: string
  /** A separate client, as another writer or an operator would be. */
  readonly admin: pg.Pool
  insert(id: number): Promise<void>
  notify(payload: string): Promise<void>
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

export async function createPlainHistoryDatabase(): Promise<PlainHistoryDatabase> {
  const fresh = await createFreshServerDatabase(testEnv.postgresUrl, 'refresher_test')
  const admin = new pg.Pool({ connectionString: fresh.url, max: 10 })
  // The database is dropped WITH (FORCE) at the end: a connection still closing then is no failure.
  admin.on('error', () => {})
  await admin.query(`
    CREATE TABLE src (id integer PRIMARY KEY, note text);
    CREATE TABLE refresh_delay (seconds double precision NOT NULL);
    INSERT INTO refresh_delay VALUES (0);
    -- STABLE: the rows are read in the refresh's own snapshot, as a view's query would be, not
    -- after the sleep (a row committed during a refresh is not in it).
    CREATE FUNCTION history_rows() RETURNS TABLE (id integer, note text) LANGUAGE plpgsql STABLE AS $$
    BEGIN
      PERFORM pg_advisory_lock_shared(4242);
      PERFORM pg_advisory_unlock_shared(4242);
      PERFORM pg_sleep((SELECT seconds FROM refresh_delay));
      RETURN QUERY SELECT s.id, s.note FROM src s;
    END $$;
    CREATE MATERIALIZED VIEW location_history AS SELECT * FROM history_rows();
    CREATE UNIQUE INDEX location_history_key ON location_history (id);
  `)
  const applicationName = `refresher-test-${randomBytes(4).toString('hex')}`
  const database = await connectDatabase({ mode: 'postgres', url: fresh.url, poolSize: 4, applicationName })
  const serverAdmin = () => new pg.Client({ connectionString: testEnv.postgresUrl })
  const dbName = new URL(fresh.url).pathname.slice(1)

  return {
    url: fresh.url,
    database,
    applicationName,
    admin,
    async insert(id) {
      await admin.query('INSERT INTO src VALUES ($1, $2)', [id, `row ${id}`])
    },
    async notify(payload) {
      await admin.query(`SELECT pg_notify('refresh_location_history', $1)`, [payload])
    },
    async historyIds() {
      const { rows } = await admin.query<{ id: number }>('SELECT id FROM location_history ORDER BY id')
      return rows.map((r) => r.id)
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

/** True while some backend of `db` is running REFRESH MATERIALIZED VIEW. */
export async function refreshInFlight(db: PlainHistoryDatabase): Promise<boolean> {
  const { rows } = await db.admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND query ILIKE 'REFRESH MATERIALIZED VIEW%'`,
  )
  return (rows[0]?.n ?? 0) > 0
}

export { sql }
