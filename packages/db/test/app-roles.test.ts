import { type Kysely, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EmbeddedDatabase, embeddedAsRole } from '../src/connect/embedded.ts'
import { migrateToLatest } from '../src/migrate.ts'
import { type AppRolesConfig, applyAppRoles, DEFAULT_ROLE_NAMES } from '../src/roles/app-roles.ts'
import type { Database } from '../src/schema/database.ts'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '../src/testing/index.ts'

// Real PostgreSQL privilege checks: the embedded engine runs each app's statements under SET ROLE.
const roles: AppRolesConfig = {
  api: { role: DEFAULT_ROLE_NAMES.api },
  importer: { role: DEFAULT_ROLE_NAMES.importer },
  refresher: { role: DEFAULT_ROLE_NAMES.refresher },
  bridge: { role: DEFAULT_ROLE_NAMES.bridge },
}

let database: TestDatabase
let api: EmbeddedDatabase
let importer: EmbeddedDatabase
let refresher: EmbeddedDatabase
let bridge: EmbeddedDatabase
beforeAll(async () => {
  database = await createTestDatabase()
  await applyAppRoles(database.db, roles)
  const embedded = database as unknown as EmbeddedDatabase
  api = embeddedAsRole(embedded, roles.api.role)
  importer = embeddedAsRole(embedded, roles.importer.role)
  refresher = embeddedAsRole(embedded, roles.refresher.role)
  bridge = embeddedAsRole(embedded, roles.bridge.role)
})
afterAll(async () => {
  for (const db of [api, importer, refresher, bridge]) await db?.close()
  await database?.close()
})

const refreshHourly = (db: Kysely<Database>) =>
  sql`CALL refresh_continuous_aggregate('location_history_hourly', NULL, NULL)`.execute(db)
const denied = /permission denied|must be owner/

describe('the API role', () => {
  it('cannot read the sealed private keys, only the keys’ other columns', async () => {
    await insertTracker(database.db)
    await expect(sql`SELECT private_key_encrypted FROM tracker_keys`.execute(api.db)).rejects.toThrow(
      /permission denied/,
    )
    await expect(sql`SELECT * FROM tracker_keys`.execute(api.db)).rejects.toThrow(/permission denied/)
    const { rows } =
      await sql`SELECT id, tracker_id, hashed_adv_key, is_active, created_at FROM tracker_keys`.execute(
        api.db,
      )
    expect(rows.length).toBeGreaterThan(0)
  })

  it('inserts sealed keys but cannot have them returned', async () => {
    const tracker = await insertTracker(database.db)
    await sql`INSERT INTO tracker_keys (tracker_id, hashed_adv_key, private_key_encrypted)
              VALUES (${tracker.id}::uuid, ${'k'.repeat(44)}, '\\x00'::bytea)`.execute(api.db)
    await expect(
      sql`INSERT INTO tracker_keys (tracker_id, hashed_adv_key, private_key_encrypted)
          VALUES (${tracker.id}::uuid, ${'j'.repeat(44)}, '\\x00'::bytea) RETURNING private_key_encrypted`.execute(
        api.db,
      ),
    ).rejects.toThrow(/permission denied/)
  })

  it('cannot insert reports', async () => {
    const tracker = await insertTracker(database.db)
    await expect(
      api.db
        .insertInto('location_reports')
        .values(reportRow(tracker.hashedAdvKeys[0]!, new Date()))
        .execute(),
    ).rejects.toThrow(/permission denied/)
  })

  it('cannot drop, alter or truncate anything, nor create tables', async () => {
    for (const statement of [
      sql`DROP TABLE api_tokens`,
      sql`DROP TABLE location_reports`,
      sql`DROP MATERIALIZED VIEW location_history_daily`,
      sql`ALTER TABLE trackers ADD COLUMN x int`,
      sql`TRUNCATE location_history`,
      sql`CREATE TABLE mine (id int)`,
      sql`DROP FUNCTION location_reports_fill_tracker()`,
    ]) {
      await expect(statement.execute(api.db)).rejects.toThrow(denied)
    }
  })

  it('cannot refresh the aggregates', async () => {
    await expect(refreshHourly(api.db)).rejects.toThrow(/must be owner/)
  })
})

describe('the importer role', () => {
  it('inserts reports, through the insert triggers (tracker lookup, refresh notification)', async () => {
    const tracker = await insertTracker(database.db)
    await importer.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date()))
      .execute()
    await sql`INSERT INTO location_reports (hashed_adv_key, "timestamp", latitude, longitude)
              VALUES (${tracker.hashedAdvKeys[0]!}, now() - interval '1 minute', 1, 1)`.execute(importer.db)
    await importer.db
      .updateTable('trackers')
      .set({ last_seen_at: new Date() })
      .where('id', '=', tracker.id)
      .execute()
  })

  it('reads sealed keys', async () => {
    const { rows } = await sql`SELECT private_key_encrypted FROM tracker_keys`.execute(importer.db)
    expect(rows.length).toBeGreaterThan(0)
  })

  it('cannot write or read API tokens, sessions, nor drop anything', async () => {
    await expect(
      sql`INSERT INTO api_tokens (name, token_hash, scope) VALUES ('x', 'y', 'admin')`.execute(importer.db),
    ).rejects.toThrow(/permission denied/)
    await expect(sql`SELECT token_hash FROM api_tokens`.execute(importer.db)).rejects.toThrow(
      /permission denied/,
    )
    await expect(sql`SELECT secret_hash FROM api_sessions`.execute(importer.db)).rejects.toThrow(
      /permission denied/,
    )
    await expect(sql`DROP TABLE import_runs`.execute(importer.db)).rejects.toThrow(denied)
    await expect(refreshHourly(importer.db)).rejects.toThrow(/must be owner/)
  })
})

describe('the refresher role', () => {
  it('refreshes the aggregates and owns nothing else', async () => {
    await refreshHourly(refresher.db)
    await sql`CALL refresh_continuous_aggregate('location_history_daily', NULL, NULL)`.execute(refresher.db)
    const { rows } = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE pg_get_userbyid(c.relowner) = ${roles.refresher.role} AND n.nspname = 'public'
       ORDER BY 1`.execute(database.db)
    expect(rows.map((r) => r.name)).toEqual(['location_history_daily', 'location_history_hourly'])
    await expect(sql`DROP TABLE location_history`.execute(refresher.db)).rejects.toThrow(denied)
    await expect(sql`SELECT * FROM api_tokens`.execute(refresher.db)).rejects.toThrow(/permission denied/)
    await expect(sql`SELECT * FROM tracker_keys`.execute(refresher.db)).rejects.toThrow(/permission denied/)
  })
})

describe('the bridge role', () => {
  it('reads trackers and nothing private', async () => {
    await sql`SELECT * FROM trackers`.execute(bridge.db)
    await expect(sql`SELECT hashed_adv_key FROM tracker_keys`.execute(bridge.db)).rejects.toThrow(
      /permission denied/,
    )
    await expect(sql`UPDATE trackers SET name = 'x'`.execute(bridge.db)).rejects.toThrow(/permission denied/)
  })
})

describe('the migrate step', () => {
  it('is idempotent: run again, the grants are the same', async () => {
    const grants = () =>
      sql<{ grantee: string; table_name: string; privilege_type: string }>`
        SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
         WHERE grantee IN (${sql.join(Object.values(roles).map((r) => r.role))})
         ORDER BY 1, 2, 3`.execute(database.db)
    const before = (await grants()).rows
    expect(before.length).toBeGreaterThan(20)
    await migrateToLatest(database.db)
    await applyAppRoles(database.db, roles)
    expect((await grants()).rows).toEqual(before)
  })

  it('grants a table a later migration adds, and revokes what an older release granted', async () => {
    // A new table under a name APP_GRANTS lists: the next run grants it. And a stray grant goes.
    await sql`GRANT SELECT ON api_tokens TO ${sql.id(roles.bridge.role)}`.execute(database.db)
    await sql`ALTER TABLE endpoint_request_log RENAME TO endpoint_request_log_old`.execute(database.db)
    await sql`CREATE TABLE endpoint_request_log (at timestamptz NOT NULL)`.execute(database.db)
    await expect(sql`SELECT * FROM endpoint_request_log`.execute(importer.db)).rejects.toThrow(
      /permission denied/,
    )
    await applyAppRoles(database.db, roles)
    await sql`INSERT INTO endpoint_request_log VALUES (now())`.execute(importer.db)
    await expect(sql`SELECT * FROM api_tokens`.execute(bridge.db)).rejects.toThrow(/permission denied/)
    await sql`DROP TABLE endpoint_request_log`.execute(database.db)
    await sql`ALTER TABLE endpoint_request_log_old RENAME TO endpoint_request_log`.execute(database.db)
    await applyAppRoles(database.db, roles)
  })

  it('takes back attributes given by hand, naming only those that differ (a CREATEROLE migrator may not name the others)', async () => {
    const role = sql.id(roles.refresher.role)
    await sql`ALTER ROLE ${role} CREATEDB CREATEROLE BYPASSRLS NOINHERIT`.execute(database.db)
    await applyAppRoles(database.db, roles)
    const { rows } = await sql`
      SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, rolcanlogin
        FROM pg_roles WHERE rolname = ${roles.refresher.role}`.execute(database.db)
    expect(rows).toEqual([
      {
        rolsuper: false,
        rolcreatedb: false,
        rolcreaterole: false,
        rolreplication: false,
        rolbypassrls: false,
        rolinherit: true,
        rolcanlogin: false,
      },
    ])
  })

  it('refuses one role for two apps', async () => {
    await expect(applyAppRoles(database.db, { ...roles, bridge: { role: roles.api.role } })).rejects.toThrow(
      /role of its own/,
    )
  })

  it('quotes passwords', async () => {
    await applyAppRoles(database.db, {
      ...roles,
      bridge: { role: roles.bridge.role, password: "it's; DROP" },
    })
    const { rows } = await sql<{ rolcanlogin: boolean }>`
      SELECT rolcanlogin FROM pg_roles WHERE rolname = ${roles.bridge.role}`.execute(database.db)
    expect(rows).toEqual([{ rolcanlogin: true }])
    await applyAppRoles(database.db, roles)
  })
})
