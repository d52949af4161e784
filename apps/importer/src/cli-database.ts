import { connectDatabase, requireMigrated, type TrackerDatabase } from '@tracker/db'
import type { Logger } from 'pino'
import type { ImporterConfig } from './env.ts'

/**
 * Runs one CLI command against the configured database, closed again however the command ends;
 * a database not (fully) migrated is refused with what to run instead of a missing table's error.
 */
export async function withDatabase<T>(
  config: ImporterConfig,
  logger: Logger,
  fn: (db: TrackerDatabase) => Promise<T>,
): Promise<T> {
  const database = await connectDatabase({ ...config.connect, logger })
  try {
    await requireMigrated(database.db)
    return await fn(database)
  } finally {
    await database.close()
  }
}
