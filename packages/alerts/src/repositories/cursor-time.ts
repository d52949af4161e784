import { sql } from '@tracker/db'

/**
 * A timestamp column as exact ISO text (microseconds, UTC) for keyset cursors: JS Dates keep only
 * milliseconds, and a cursor rounded to them would repeat or skip rows that share the millisecond.
 */
export function exactTime(column: string) {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

/** A keyset position: a row's exact time (as exactTime gives it) and its id. */
export interface KeysetPosition {
  time: string
  id: string
}
