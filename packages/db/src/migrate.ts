import { type Kysely, type MigrationResult, Migrator, NO_MIGRATIONS } from 'kysely'
import { migrationProvider } from './migrations/index.ts'
import type { Database } from './schema/database.ts'

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED'
  readonly results: MigrationResult[]
  constructor(message: string, results: MigrationResult[], cause: unknown) {
    super(message, { cause })
    this.results = results
  }
}

function migrator(db: Kysely<Database>): Migrator {
  // Kysely's Migrator takes a session-level advisory lock and runs the pending migrations in one
  // transaction, so two replicas starting together cannot migrate at once.
  return new Migrator({ db, provider: migrationProvider })
}

function settle(
  direction: string,
  results: MigrationResult[] | undefined,
  error: unknown,
): MigrationResult[] {
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')
    throw new MigrationError(
      `Migrating ${direction} failed${failed ? ` in ${failed.migrationName}` : ''}: ${(error as Error).message ?? error}`,
      results ?? [],
      error,
    )
  }
  return results ?? []
}

export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResult[]> {
  const { error, results } = await migrator(db).migrateToLatest()
  return settle('up', results, error)
}

/** Rolls back the latest migration (or, with `all`, every migration). */
export async function rollback(
  db: Kysely<Database>,
  options: { all?: boolean } = {},
): Promise<MigrationResult[]> {
  const m = migrator(db)
  const { error, results } = options.all ? await m.migrateTo(NO_MIGRATIONS) : await m.migrateDown()
  return settle('down', results, error)
}

export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const all = await migrator(db).getMigrations()
  return all.filter((migration) => !migration.executedAt).map((migration) => migration.name)
}

/** A database with migrations still to apply, found where an app or a CLI command starts. */
export class NotMigratedError extends Error {
  readonly code = 'NOT_MIGRATED'
  readonly pending: string[]
  constructor(pending: string[]) {
    super(`The database is not migrated (pending: ${pending.join(', ')}). Run \`npm run db:migrate\` first.`)
    this.pending = pending
  }
}

/** Throws NotMigratedError when any migration is pending (a fresh database has all of them pending). */
export async function requireMigrated(db: Kysely<Database>): Promise<void> {
  const pending = await pendingMigrations(db)
  if (pending.length > 0) throw new NotMigratedError(pending)
}
