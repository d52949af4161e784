import { type Kysely, sql } from 'kysely'
import type { Database } from '../schema/database.ts'
import type { SessionOptions } from './tracker-database.ts'

/** One connection for `fn`, with an optional statement timeout that is reset before it goes back. */
export function runInSession<T>(
  db: Kysely<Database>,
  fn: (session: Kysely<Database>) => Promise<T>,
  options: SessionOptions = {},
): Promise<T> {
  return db.connection().execute(async (session) => {
    if (options.statementTimeoutMs === undefined) return fn(session)
    await sql`SELECT set_config('statement_timeout', ${String(Math.round(options.statementTimeoutMs))}, false)`.execute(
      session,
    )
    try {
      return await fn(session)
    } finally {
      await sql`RESET statement_timeout`.execute(session)
    }
  })
}
