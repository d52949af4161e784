import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connectDatabase, type TrackerDatabase } from '@tracker/db'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'
import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { exportRoutes } from '../src/http/export.ts'
import { createExportService } from '../src/services/export.service.ts'
import { testConfig } from './helpers.ts'

// A client that goes away mid-export stops the query: over a real connection to the machine's
// PostgreSQL, the statement is gone from pg_stat_activity and the connection is back in the pool
// (idle, not idle in transaction). `location_reports` here is a view whose rows each sleep a
// millisecond, so the export's first FETCH (sorted: every row before the first) runs for seconds.

const APP = 'api-export-disconnect-test'
const TRACKER = '00000000-0000-4000-8000-000000000001'
let fresh: { url: string; drop(): Promise<void> }
let database: TrackerDatabase
let admin: pg.Pool
let app: FastifyInstance

beforeEach(async () => {
  fresh = await createFreshServerDatabase(testEnv.postgresUrl, 'api_export_disconnect')
  admin = new pg.Pool({ connectionString: fresh.url, max: 2 })
  await admin.query(`
    CREATE TABLE trackers (id uuid PRIMARY KEY, name text NOT NULL);
    INSERT INTO trackers VALUES ('${TRACKER}', 'slow');
    CREATE TABLE reports_data AS
      SELECT '${TRACKER}'::uuid AS tracker_id, now() - g * interval '1 second' AS "timestamp",
             52.5::float8 AS latitude, 13.4::float8 AS longitude, 10 AS horizontal_accuracy,
             'Berlin'::text AS nearest_city, 'k'::text AS hashed_adv_key, 2 AS confidence, 0 AS status,
             NULL::timestamptz AS published_at, g
        FROM generate_series(1, 30000) g;
    CREATE VIEW location_reports AS
      SELECT tracker_id, "timestamp", latitude, longitude, horizontal_accuracy, nearest_city, hashed_adv_key,
             confidence, status, published_at, pg_sleep(CASE WHEN g <= 20000 THEN 0.001 ELSE 0 END)::text AS slow
        FROM reports_data;`)
  database = await connectDatabase({ mode: 'postgres', url: fresh.url, applicationName: APP, poolSize: 2 })
  const config = testConfig()
  app = Fastify()
  await app.register(exportRoutes, {
    exports: createExportService(database, {
      maxRangeHourlyMs: 31 * 86_400_000,
      maxRangeDailyMs: 1,
      rawRetentionMs: 10 * 86_400_000,
    }),
    config,
    auth: async () => {},
    maxConcurrent: 1,
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
})

afterEach(async () => {
  await app?.close()
  await database?.close()
  await admin?.end()
  await fresh?.drop()
})

/** The export's server sessions: what each runs and in which state. */
async function exportSessions(): Promise<{ state: string; query: string }[]> {
  const { rows } = await admin.query(
    `SELECT state, query FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
    [APP],
  )
  return rows
}

/** Starts a download and reads until `bytes` arrived; then `drop()` closes the connection. */
function download(bytes: number): Promise<{ drop: () => void }> {
  const port = (app.server.address() as AddressInfo).port
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path: `/export/reports.gpx?trackerId=${TRACKER}` },
      (response) => {
        expect(response.statusCode).toBe(200)
        let received = 0
        response.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received >= bytes) resolve({ drop: () => request.destroy() })
        })
        response.on('error', () => {})
      },
    )
    request.on('error', (error) => (request.destroyed ? undefined : reject(error)))
    request.end()
  })
}

it('a client that disconnects during a long FETCH cancels it: no statement left running', async () => {
  const { drop } = await download(1)
  // The first FETCH is running (sorting 20 s worth of slow rows) when the client goes away...
  await expect
    .poll(async () => (await exportSessions()).some((s) => s.state === 'active' && /FETCH/i.test(s.query)), {
      timeout: 5_000,
    })
    .toBe(true)
  const started = Date.now()
  drop()
  // ...and is cancelled: the session is idle again (transaction rolled back) long before 20 s.
  await expect
    .poll(async () => (await exportSessions()).every((s) => s.state === 'idle'), { timeout: 8_000 })
    .toBe(true)
  expect(Date.now() - started).toBeLessThan(8_000)
  expect(
    (await exportSessions()).filter((s) => /FETCH|DECLARE/i.test(s.query) && s.state !== 'idle'),
  ).toEqual([])
})

it('a client that stops reading between pages and disconnects: cursor closed, transaction ended', async () => {
  await admin.query(`CREATE OR REPLACE VIEW location_reports AS
      SELECT tracker_id, "timestamp", latitude, longitude, horizontal_accuracy, nearest_city, hashed_adv_key,
             confidence, status, published_at, ''::text AS slow FROM reports_data`)
  ;(await download(64 * 1024)).drop()
  await expect
    .poll(async () => (await exportSessions()).every((s) => s.state === 'idle'), { timeout: 8_000 })
    .toBe(true)
  // The pool's connection is usable again: a second export runs to its end.
  const port = (app.server.address() as AddressInfo).port
  const response = await fetch(`http://127.0.0.1:${port}/export/reports.csv?trackerId=${TRACKER}`)
  expect(response.status).toBe(200)
  expect((await response.text()).split('\r\n').length).toBe(30_000 + 2)
})
