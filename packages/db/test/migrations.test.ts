import { Migrator, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateToLatest, migrationProvider, migrations, pendingMigrations, rollback } from '../src/index.ts'
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false })
})
afterAll(() => database?.close())

// Extension members are left out: a server's template database may hold extensions in public.
const notInExtension = (catalog: string, oid: string) =>
  sql`NOT EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = ${sql.lit(catalog)}::regclass AND d.objid = ${sql.ref(oid)} AND d.deptype = 'e')`

async function relations(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
       AND c.relname NOT LIKE 'kysely_%' AND ${notInExtension('pg_class', 'c.oid')}
     ORDER BY 1`.execute(database.db)
  return rows.map((r) => r.name)
}

/**
 * What a down must restore besides the relations: the project's functions (whole definitions, SET
 * clauses included) and plain views (continuous aggregates name their materialization hypertable,
 * which a re-creation renumbers).
 */
async function definitions() {
  const { rows: functions } = await sql<{ definition: string }>`
    SELECT pg_get_functiondef(p.oid) AS definition
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') AND ${notInExtension('pg_proc', 'p.oid')}
     ORDER BY p.oid::regprocedure::text`.execute(database.db)
  const { rows: views } = await sql<{ name: string; definition: string }>`
    SELECT c.relname AS name, pg_get_viewdef(c.oid) AS definition
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') AND ${notInExtension('pg_class', 'c.oid')}
       AND c.relname NOT IN (SELECT view_name FROM timescaledb_information.continuous_aggregates)
     ORDER BY 1`.execute(database.db)
  return { relations: await relations(), functions: functions.map((f) => f.definition), views }
}

describe('migrations', () => {
  const expected = [
    'alert_channels',
    'alert_delivery_attempts',
    'alert_events',
    'alert_outbox',
    'alert_pending',
    'alert_places',
    'alert_rules',
    'alert_tracker_state',
    'api_sessions',
    'api_token_trackers',
    'api_tokens',
    'coverage_gaps',
    'endpoint_request_hours',
    'endpoint_request_log',
    'endpoint_request_streak',
    'import_runs',
    'key_encryption_check',
    'key_sealing_check',
    'location_history',
    'location_history_daily',
    'location_history_hourly',
    'location_history_state',
    'location_history_view',
    'location_reports',
    'sign_in_links',
    'tracker_deletions',
    'tracker_keys',
    'tracker_polling',
    'trackers',
  ]

  it('go up, all the way down, and up again', async () => {
    await migrateToLatest(database.db)
    expect(await pendingMigrations(database.db)).toEqual([])
    expect(await relations()).toEqual(expected)

    const down = await rollback(database.db, { all: true })
    expect(down.map((r) => r.status)).toEqual(Object.keys(migrations).map(() => 'Success'))
    expect(await relations()).toEqual([])
    expect(await pendingMigrations(database.db)).toEqual(Object.keys(migrations))

    await migrateToLatest(database.db)
    expect(await relations()).toEqual(expected)
  })

  it('go up one step at a time, and each down leaves exactly what the migration before it left', async () => {
    await migrateToLatest(database.db) // the first migration creates the extension; no down drops it
    await rollback(database.db, { all: true })
    const migrator = new Migrator({ db: database.db, provider: migrationProvider })
    const names = Object.keys(migrations)
    const after = [await definitions()]
    for (const name of names) {
      const { error, results } = await migrator.migrateUp()
      expect(error).toBeUndefined()
      expect(results?.map((r) => r.migrationName)).toEqual([name])
      after.push(await definitions())
    }
    for (let step = names.length; step > 0; step--) {
      const results = await rollback(database.db)
      expect(results.map((r) => [r.migrationName, r.direction])).toEqual([[names[step - 1], 'Down']])
      expect(await definitions(), `after rolling back ${names[step - 1]}`).toEqual(after[step - 1])
    }
  })

  it('two migrators started together apply each migration once', async () => {
    await rollback(database.db, { all: true })
    const [a, b] = await Promise.all([migrateToLatest(database.db), migrateToLatest(database.db)])
    const applied = [...a, ...b].filter((r) => r.status === 'Success').map((r) => r.migrationName)
    expect(applied.sort()).toEqual(Object.keys(migrations).sort())
    expect(await relations()).toEqual(expected)
  })
})
