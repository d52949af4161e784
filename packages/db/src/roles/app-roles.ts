import { type Kysely, sql } from 'kysely'
import type { Database } from '../schema/database.ts'
import { DAILY_AGGREGATE, HOURLY_AGGREGATE } from '../storage-policies.ts'

/**
 * A database role per app, made by the migrate step (after the migrations, on every run, so a
 * table added by a later migration gets its grants). Each run, in one transaction: the roles are
 * created if missing (LOGIN with their password against a server; the embedded engine has no logins),
 * everything they hold on the schema is revoked, and exactly APP_GRANTS is granted again, so the
 * grants are always what this file says, never what an older release added.
 *
 * Only the migrator (the connection that runs the migrations) owns the schema, with one exception
 * TimescaleDB imposes: `refresh_continuous_aggregate` must be called by the owner of the continuous
 * aggregate, so the refresher's role owns the two aggregates (and nothing else). That lets it drop
 * or alter them too; membership of a separate owning role would give it exactly the same powers, so
 * the ownership is given to the refresher's role directly (reassigned when its name changes).
 */

export type AppName = 'api' | 'importer' | 'refresher' | 'bridge'
export const APP_NAMES: readonly AppName[] = ['api', 'importer', 'refresher', 'bridge']

export interface AppRoleConfig {
  /** The role's name. */
  role: string
  /** Its login password; without one the role cannot log in (the embedded engine, tests). */
  password?: string
}

export type AppRolesConfig = Record<AppName, AppRoleConfig>

export const DEFAULT_ROLE_NAMES: Record<AppName, string> = {
  api: 'tracker_api',
  importer: 'tracker_importer',
  refresher: 'tracker_refresher',
  bridge: 'tracker_bridge',
}

type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE'

/** A table's privileges; a privilege given as [privilege, columns] is granted on those columns only. */
type Grant = readonly (Privilege | readonly [Privilege, readonly string[]])[]

const ALL: Grant = ['SELECT', 'INSERT', 'UPDATE', 'DELETE']
const READ: Grant = ['SELECT']

/** The columns of tracker_keys other than the sealed private key. */
const TRACKER_KEY_PUBLIC_COLUMNS = [
  'id',
  'tracker_id',
  'hashed_adv_key',
  'is_active',
  'created_at',
  'readability',
] as const

/**
 * Tables granted only where they exist (the key checks come and go with the key formats). Every
 * other table listed must exist; a column list is cut to the columns that exist.
 */
const OPTIONAL_TABLES = new Set(['key_encryption_check', 'key_sealing_check'])

/**
 * Deleting a tracker (purgeTrackerHistory: the API's deleteTracker, the importer's `trackers delete`)
 * removes its rows from every tier and locks location_history_state's row FOR UPDATE, which needs
 * UPDATE on one of its columns. The aggregates' materialization tables are added at run time.
 */
const PURGE: Record<string, Grant> = {
  trackers: ['SELECT', 'UPDATE', 'DELETE'],
  location_reports: ['SELECT', 'DELETE'],
  location_history: ['SELECT', 'DELETE'],
  location_history_state: ['SELECT', ['UPDATE', ['updated_at']]],
  tracker_deletions: ['SELECT', 'INSERT'],
}

/** Marks the materialization tables of the continuous aggregates (looked up at run time). */
const MATERIALIZATIONS = '<materializations>'

/** What each app may do, table by table (public schema); everything else it may not. */
export const APP_GRANTS: Record<AppName, Record<string, Grant>> = {
  // Reads history and trackers; writes tokens, sessions, tracker names and activity, sealed keys
  // (never reading one back), alert places, rules and channels; deletes trackers.
  api: {
    ...PURGE,
    trackers: ALL,
    tracker_keys: [['SELECT', TRACKER_KEY_PUBLIC_COLUMNS], 'INSERT', 'DELETE'],
    [HOURLY_AGGREGATE]: READ,
    [DAILY_AGGREGATE]: READ,
    [MATERIALIZATIONS]: ['SELECT', 'DELETE'],
    location_history_view: READ,
    import_runs: READ,
    coverage_gaps: READ,
    endpoint_request_hours: READ,
    endpoint_request_streak: READ,
    endpoint_request_log: READ,
    tracker_polling: ['SELECT', 'INSERT', 'UPDATE'],
    key_encryption_check: ['SELECT', 'INSERT'],
    key_sealing_check: READ,
    api_tokens: ALL,
    api_token_trackers: ['SELECT', 'INSERT', 'DELETE'],
    api_sessions: ALL,
    sign_in_links: ALL,
    alert_places: ALL,
    alert_rules: ALL,
    alert_channels: ALL,
    alert_events: READ,
    alert_outbox: READ,
    alert_delivery_attempts: READ,
    alert_pending: ['SELECT', 'INSERT'],
    alert_tracker_state: READ,
  },
  // Inserts reports, opens sealed keys, keeps its ledger, the trackers' last state, the endpoint's
  // health and polling cadence; evaluates and delivers alerts. Its CLI adds, (de)activates and
  // deletes trackers (`trackers import`, the demo's seed-demo), hence writes on trackers and keys.
  importer: {
    ...PURGE,
    trackers: ALL,
    tracker_keys: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    location_reports: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    [HOURLY_AGGREGATE]: READ,
    [DAILY_AGGREGATE]: READ,
    [MATERIALIZATIONS]: ['SELECT', 'DELETE'],
    location_history_view: READ,
    import_runs: ['SELECT', 'INSERT', 'UPDATE'],
    coverage_gaps: ['SELECT', 'INSERT'],
    endpoint_request_hours: ALL,
    endpoint_request_streak: ALL,
    endpoint_request_log: ALL,
    tracker_polling: ALL,
    key_encryption_check: ['SELECT', 'INSERT'],
    key_sealing_check: ['SELECT', 'INSERT'],
    alert_places: READ,
    alert_rules: READ,
    alert_channels: READ,
    alert_events: ALL,
    alert_outbox: ALL,
    alert_delivery_attempts: ['SELECT', 'INSERT'],
    alert_pending: ALL,
    alert_tracker_state: ALL,
  },
  // Owns the two aggregates (see above), keeps location_history.
  refresher: {
    trackers: READ,
    location_reports: READ,
    location_history_view: READ,
    location_history: ALL,
    location_history_state: ['SELECT', 'UPDATE'],
  },
  // Reads the trackers' latest state and LISTENs (which needs no privilege).
  bridge: {
    trackers: READ,
    location_reports: READ,
  },
}

const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`

async function ensureRole(db: Kysely<Database>, app: AppRoleConfig): Promise<void> {
  const role = sql.id(app.role)
  const { rows } = await sql<{ found: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${app.role}) AS found`.execute(db)
  if (!rows[0]?.found) {
    // Two migrate steps at once: the second CREATE fails with duplicate_object; it is caught here.
    await sql`DO $$ BEGIN
        CREATE ROLE ${role};
      EXCEPTION WHEN duplicate_object THEN NULL;
      END $$`.execute(db)
  }
  // Never a superuser, never creating roles or databases, never bypassing row security. Only the
  // attributes that differ are named: a migrator that is not a superuser (CREATEROLE) may not even
  // name SUPERUSER, REPLICATION or BYPASSRLS (nor CREATEDB without having it), and a new role already
  // has none of them. A role someone made a superuser stays an error a superuser must clear.
  const { rows: attributes } = await sql<Record<string, boolean>>`
    SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit
      FROM pg_roles WHERE rolname = ${app.role}`.execute(db)
  const current = attributes[0] ?? {}
  const wanted: [string, boolean, string][] = [
    ['rolsuper', false, 'NOSUPERUSER'],
    ['rolcreatedb', false, 'NOCREATEDB'],
    ['rolcreaterole', false, 'NOCREATEROLE'],
    ['rolreplication', false, 'NOREPLICATION'],
    ['rolbypassrls', false, 'NOBYPASSRLS'],
    ['rolinherit', true, 'INHERIT'],
  ]
  const changes = wanted.filter(([column, value]) => current[column] !== value).map(([, , option]) => option)
  const login = app.password
    ? sql`LOGIN PASSWORD ${sql.raw(quoteLiteral(app.password))}`
    : sql`NOLOGIN PASSWORD NULL`
  await sql`ALTER ROLE ${role} ${sql.raw(changes.join(' '))} ${login}`.execute(db)
}

async function materializationTables(db: Kysely<Database>): Promise<[string, string][]> {
  const { rows } = await sql<{ schema: string; name: string }>`
    SELECT materialization_hypertable_schema AS schema, materialization_hypertable_name AS name
      FROM timescaledb_information.continuous_aggregates
     WHERE view_name IN (${HOURLY_AGGREGATE}, ${DAILY_AGGREGATE})
     ORDER BY view_name`.execute(db)
  return rows.map((r) => [r.schema, r.name])
}

/** The public schema's tables and views, with their columns. */
async function existingRelations(db: Kysely<Database>): Promise<Map<string, Set<string>>> {
  const { rows } = await sql<{ name: string; columns: string[] }>`
    SELECT c.relname AS name, array_agg(a.attname::text) AS columns FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
     GROUP BY c.relname`.execute(db)
  return new Map(rows.map((r) => [r.name, new Set(r.columns)]))
}

function privilegeSql(privilege: Grant[number], columns: Set<string> | undefined) {
  if (typeof privilege === 'string') return sql.raw(privilege)
  const [name, listed] = privilege
  const present = listed.filter((c) => !columns || columns.has(c))
  return sql`${sql.raw(name)} (${sql.join(present.map((c) => sql.id(c)))})`
}

/**
 * Creates or updates the apps' roles and makes their privileges exactly APP_GRANTS. Idempotent; run
 * by the migrate step after the migrations. Throws, naming it, when a table APP_GRANTS lists is
 * missing (a migration renamed it: this file must follow).
 */
export async function applyAppRoles(db: Kysely<Database>, config: AppRolesConfig): Promise<void> {
  const names = APP_NAMES.map((app) => config[app].role)
  if (new Set(names).size !== names.length) {
    throw new Error(`each app needs a role of its own: ${names.join(', ')}`)
  }
  await db.transaction().execute(async (tx) => {
    for (const app of APP_NAMES) await ensureRole(tx, config[app])
    const relations = await existingRelations(tx)
    const materializations = await materializationTables(tx)
    const roles = sql.join(names.map((name) => sql.id(name)))

    // The slate wiped: what an older release granted, and PUBLIC's right to create in the schema.
    await sql`REVOKE CREATE ON SCHEMA public FROM PUBLIC`.execute(tx)
    await sql`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${roles}`.execute(tx)
    await sql`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${roles}`.execute(tx)
    for (const table of materializations) {
      await sql`REVOKE ALL ON ${sql.id(...table)} FROM ${roles}`.execute(tx)
    }
    await sql`GRANT USAGE ON SCHEMA public TO ${roles}`.execute(tx)

    // The refresher's exception: owner of the aggregates, which the refresh reads location_reports as.
    const refresher = sql.id(config.refresher.role)
    for (const aggregate of [HOURLY_AGGREGATE, DAILY_AGGREGATE]) {
      await sql`ALTER MATERIALIZED VIEW ${sql.id(aggregate)} OWNER TO ${refresher}`.execute(tx)
      // The owner's own privileges, which the REVOKE above took from it once it owned them.
      await sql`GRANT ALL ON ${sql.id(aggregate)} TO ${refresher}`.execute(tx)
    }
    for (const table of materializations)
      await sql`GRANT ALL ON ${sql.id(...table)} TO ${refresher}`.execute(tx)

    for (const app of APP_NAMES) {
      const role = sql.id(config[app].role)
      for (const [table, grant] of Object.entries(APP_GRANTS[app])) {
        const targets =
          table === MATERIALIZATIONS ? materializations : [['public', table] as [string, string]]
        if (table !== MATERIALIZATIONS && !relations.has(table)) {
          if (OPTIONAL_TABLES.has(table)) continue
          throw new Error(`app roles: ${app} is granted ${table}, which does not exist`)
        }
        const privileges = sql.join(grant.map((p) => privilegeSql(p, relations.get(table))))
        for (const target of targets) {
          await sql`GRANT ${privileges} ON ${sql.id(...target)} TO ${role}`.execute(tx)
        }
      }
      // Sequences behind ids (coverage_gaps, the alert tables' identities): nextval only.
      if (app === 'api' || app === 'importer') {
        await sql`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role}`.execute(tx)
      }
    }
  })
}
