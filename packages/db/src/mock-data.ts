import { readFileSync } from 'node:fs'
import { sql } from 'kysely'
import type { TrackerDatabase } from './connect/tracker-database.ts'

const MOCK_SQL = new URL('../sql/mock_location_reports_europe.sql', import.meta.url)

/**
 * The seed's bulk test: a week of reports around random European cities for every tracker that has
 * no history yet. Returns how many reports were inserted.
 */
export async function insertMockLocationReports(database: TrackerDatabase): Promise<number> {
  const statement = readFileSync(MOCK_SQL, 'utf8')
  const result = await sql.raw(statement).execute(database.db)
  return Number(result.numAffectedRows ?? 0n)
}
