import { type RawBuilder, sql } from 'kysely'

/**
 * Keyset paging by (a timestamp, id), shared by every repository that pages a table oldest first.
 * The timestamp travels as exact ISO text (microseconds, UTC): JS Dates keep only milliseconds, and a
 * cursor rounded to them would repeat or skip rows that share the millisecond.
 */
export function exactTime(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

/** A keyset position: a row's exact time (as exactTime gives it) and its id. */
export interface KeysetPosition {
  time: string
  id: string
}

/** Rows after `after` in (column, id) order. */
export function afterKeyset(after: KeysetPosition, column = 'created_at'): RawBuilder<boolean> {
  return sql<boolean>`(${sql.ref(column)}, id) > (${after.time}::timestamptz, ${after.id}::uuid)`
}

/** Rows for every tracker (tracker_ids NULL) or for one of `trackerIds`. */
export function forAnyOfTrackers(trackerIds: Iterable<string>): RawBuilder<boolean> {
  return sql<boolean>`(tracker_ids IS NULL OR tracker_ids && ${[...trackerIds]}::uuid[])`
}
