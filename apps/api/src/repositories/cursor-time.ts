import { type RawBuilder, sql } from 'kysely'

/**
 * A timestamp column as exact ISO text (microseconds, UTC) for keyset cursors: JS Dates keep only
 * milliseconds, and a cursor rounded to them would repeat or skip rows that share the millisecond.
 */
export function exactTime(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}
