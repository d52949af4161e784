import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateToLatest, migrations, pendingMigrations, rollback } from '../src/index.ts'
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false })
})
afterAll(() => database?.close())

async function relations(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
       AND c.relname NOT LIKE 'kysely_%'
     ORDER BY 1`.execute(database.db)
  return rows.map((r) => r.name)
}

describe('migrations', () => {
  const expected = [
    'api_tokens',
    'import_runs',
    'location_history',
    'location_history_daily',
    'location_history_hourly',
    'location_history_view',
    'location_reports',
    'tracker_keys',
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

  it('roll back one step at a time', async () => {
    const names = Object.keys(migrations)
    const last = await rollback(database.db)
    expect(last.map((r) => [r.migrationName, r.direction])).toEqual([[names.at(-1), 'Down']])
    expect(await relations()).not.toContain('api_tokens')
    expect(await relations()).toContain('import_runs')
    await migrateToLatest(database.db)
    expect(await relations()).toContain('api_tokens')
  })

  it('two migrators started together apply each migration once', async () => {
    await rollback(database.db, { all: true })
    const [a, b] = await Promise.all([migrateToLatest(database.db), migrateToLatest(database.db)])
    const applied = [...a, ...b].filter((r) => r.status === 'Success').map((r) => r.migrationName)
    expect(applied.sort()).toEqual(Object.keys(migrations).sort())
    expect(await relations()).toEqual(expected)
  })
})
