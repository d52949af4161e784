import {
  type AggregateName,
  DAILY_AGGREGATE,
  type Database,
  HOURLY_AGGREGATE,
  type Kysely,
  NotFoundError,
  notifyHistoryRefreshed,
  sql,
} from '@tracker/db'

/** The tracker's name must be given back to delete it: a deletion cannot be undone. */
export class ConfirmationRequiredError extends Error {
  readonly code = 'CONFIRMATION_REQUIRED'
  readonly trackerId: string
  constructor(trackerId: string, message: string) {
    super(message)
    this.trackerId = trackerId
  }
}

export interface PurgeRequest {
  trackerId: string
  /** Must equal the tracker's name (surrounding blanks ignored). */
  confirm: string
  /** Who asks, for the audit record: "api token NAME (ID)", "cli USER@HOST". */
  deletedBy: string
}

/** Rows removed, per tier. */
export interface PurgedRows {
  reports: number
  hourly: number
  daily: number
  history: number
  keys: number
}

/** What a purge did, as recorded in tracker_deletions. */
export interface TrackerPurge {
  deletionId: string
  trackerId: string
  trackerName: string
  hashedAdvKeys: string[]
  deletedBy: string
  deletedAt: Date
  rows: PurgedRows
}

const affected = (result: { numAffectedRows?: bigint }) => Number(result.numAffectedRows ?? 0n)

/**
 * The continuous aggregates over location_reports and their materialization hypertables. Their
 * materialized rows are deleted there directly: refreshing the aggregates instead would rebuild
 * buckets from the raw reports that are left, which is wrong beyond raw retention (every tracker's
 * daily history older than RAW_RETENTION has no raw rows left: a refresh would erase it).
 */
async function materializations(tx: Kysely<Database>): Promise<{ view: AggregateName; table: string[] }[]> {
  const { rows } = await sql<{ view_name: AggregateName; schema: string; name: string }>`
    SELECT view_name, materialization_hypertable_schema AS schema, materialization_hypertable_name AS name
      FROM timescaledb_information.continuous_aggregates
     WHERE view_name IN (${HOURLY_AGGREGATE}, ${DAILY_AGGREGATE})
       AND hypertable_name = 'location_reports'`.execute(tx)
  return rows.map((r) => ({ view: r.view_name, table: [r.schema, r.name] }))
}

/**
 * Deletes a tracker and every row of its history, from every tier, in one transaction: its raw
 * reports (compressed chunks too), both continuous aggregates' materialized rows, its rows of
 * location_history, then its keys and the tracker itself (tokens limited to it lose it), and
 * records the deletion in tracker_deletions. Afterwards no table holds a row of the tracker and
 * location_history still equals what the aggregates say (HistoryEngine.check finds nothing).
 *
 * Refuses (ConfirmationRequiredError) unless `confirm` is the tracker's name; NotFoundError when no
 * tracker has the id. Caches of history answers are told through location_history_refreshed.
 */
export async function purgeTrackerHistory(
  db: Kysely<Database>,
  request: PurgeRequest,
): Promise<TrackerPurge> {
  return db.transaction().execute(async (tx) => {
    // Held to the end: an import inserting this tracker's reports takes FOR KEY SHARE on this row
    // (location_reports_fill_tracker), so it either committed before (its rows are deleted below)
    // or waits and then finds no tracker (its rows are dropped).
    const tracker = await tx
      .selectFrom('trackers')
      .select(['id', 'name'])
      .where('id', '=', request.trackerId)
      .forUpdate()
      .executeTakeFirst()
    if (!tracker) throw new NotFoundError('tracker', request.trackerId)
    if (request.confirm.trim() !== tracker.name) {
      throw new ConfirmationRequiredError(
        tracker.id,
        `Deleting tracker ${tracker.id} erases its whole history and cannot be undone: ` +
          `confirm with the tracker's name, "${tracker.name}"`,
      )
    }

    const { rows: extension } = await sql<{ found: boolean }>`
      SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS found`.execute(tx)
    const timescale = extension[0]?.found === true
    if (timescale) {
      // Raw reports older than RAW_COMPRESS_AFTER sit in compressed chunks. Deleting by tracker_id,
      // the segmentby column, touches only this tracker's batches, but TimescaleDB (2.23 at least)
      // still decompresses them first, and stops the DELETE once that exceeds
      // timescaledb.max_tuples_decompressed_per_dml_transaction (100,000 by default): a tracker
      // with that many compressed reports could never be deleted. The work is bounded by this
      // tracker's own rows, so the guard is lifted (0 = unlimited) for this transaction only:
      // SET LOCAL ends at commit or rollback, and no other statement of the session is affected.
      await sql`SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0`.execute(tx)
    }

    // Writers that could put the tracker's rows back after they are deleted, waited for first:
    // - an aggregate refresh materializing from raw rows it read before this commit. SHARE ROW
    //   EXCLUSIVE on the materialization tables waits for a refresh that is writing them, and makes
    //   one that starts now wait for this commit (its statements then see the reports gone);
    // - an upkeep of location_history writing rows from aggregates it read before this commit: it
    //   holds location_history_state's row for its whole transaction, as this purge does now.
    const aggregates = timescale ? await materializations(tx) : []
    for (const aggregate of aggregates) {
      await sql`LOCK TABLE ${sql.id(...aggregate.table)} IN SHARE ROW EXCLUSIVE MODE`.execute(tx)
    }
    await sql`SELECT 1 FROM location_history_state FOR UPDATE`.execute(tx)

    const rows: PurgedRows = { reports: 0, hourly: 0, daily: 0, history: 0, keys: 0 }
    rows.reports = affected(
      await sql`DELETE FROM location_reports WHERE tracker_id = ${tracker.id}::uuid`.execute(tx),
    )
    for (const aggregate of aggregates) {
      const result =
        await sql`DELETE FROM ${sql.id(...aggregate.table)} WHERE tracker_id = ${tracker.id}::uuid`.execute(
          tx,
        )
      rows[aggregate.view === HOURLY_AGGREGATE ? 'hourly' : 'daily'] = affected(result)
    }
    rows.history = affected(
      await sql`DELETE FROM location_history WHERE tracker_id = ${tracker.id}::uuid`.execute(tx),
    )
    const keys = await tx
      .deleteFrom('tracker_keys')
      .where('tracker_id', '=', tracker.id)
      .returning('hashed_adv_key')
      .execute()
    rows.keys = keys.length
    await tx.deleteFrom('trackers').where('id', '=', tracker.id).execute()

    const deletion = await tx
      .insertInto('tracker_deletions')
      .values({
        tracker_id: tracker.id,
        tracker_name: tracker.name,
        hashed_adv_keys: keys.map((k) => k.hashed_adv_key).sort(),
        deleted_by: request.deletedBy,
        reports_deleted: rows.reports,
        hourly_rows_deleted: rows.hourly,
        daily_rows_deleted: rows.daily,
        history_rows_deleted: rows.history,
        keys_deleted: rows.keys,
      })
      .returning(['id', 'hashed_adv_keys', 'deleted_at'])
      .executeTakeFirstOrThrow()
    // Kept history answers (the API's caches, on every replica) are dropped at commit.
    await notifyHistoryRefreshed(tx, { object: 'location_history' })
    return {
      deletionId: deletion.id,
      trackerId: tracker.id,
      trackerName: tracker.name,
      hashedAdvKeys: deletion.hashed_adv_keys,
      deletedBy: request.deletedBy,
      deletedAt: deletion.deleted_at,
      rows,
    }
  })
}
