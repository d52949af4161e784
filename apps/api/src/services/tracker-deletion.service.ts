import { type Database, NotFoundError, type TrackerDeletion as TrackerDeletionRow } from '@tracker/db'
import { ConfirmationRequiredError as PurgeConfirmationError, purgeTrackerHistory } from '@tracker/history'
import type { Kysely } from 'kysely'
import { ConfirmationRequiredError, NotFoundApiError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import type { TrackerDeletion } from '../graphql/schema.generated.ts'
import { pageSize, requireId } from './input.ts'

function toTrackerDeletion(row: TrackerDeletionRow): TrackerDeletion {
  return {
    id: row.id,
    trackerId: row.tracker_id,
    trackerName: row.tracker_name,
    hashedAdvKeys: row.hashed_adv_keys,
    deletedBy: row.deleted_by,
    deletedAt: row.deleted_at,
    reportsDeleted: row.reports_deleted,
    hourlyRowsDeleted: row.hourly_rows_deleted,
    dailyRowsDeleted: row.daily_rows_deleted,
    historyRowsDeleted: row.history_rows_deleted,
    keysDeleted: row.keys_deleted,
  }
}

/** How the audit trail names a token: never the token itself. */
export const actorOfToken = (token: AuthenticatedToken | undefined) =>
  token ? `api token "${token.name}" (${token.id})` : 'api (no token)'

export function createTrackerDeletionService(
  db: Kysely<Database>,
  options: {
    pagination: { defaultPageSize: number; maxPageSize: number }
    /** After a deletion committed: kept history answers are dropped on this replica at once. */
    onDeleted?: () => void
  },
) {
  return {
    /** The purge of packages/history: every tier, one transaction, recorded; refused without the name. */
    async delete(args: { id: string; confirm: string }, deletedBy: string): Promise<TrackerDeletion> {
      const trackerId = requireId('tracker', args.id)
      try {
        const purge = await purgeTrackerHistory(db, { trackerId, confirm: args.confirm, deletedBy })
        options.onDeleted?.()
        const row = await db
          .selectFrom('tracker_deletions')
          .selectAll()
          .where('id', '=', purge.deletionId)
          .executeTakeFirstOrThrow()
        return toTrackerDeletion(row)
      } catch (error) {
        if (error instanceof PurgeConfirmationError) {
          throw new ConfirmationRequiredError(error.message, { argument: 'confirm' })
        }
        if (error instanceof NotFoundError) throw new NotFoundApiError('tracker', args.id)
        throw error
      }
    },

    /** The audit trail, newest first. */
    async list(first: number | null | undefined): Promise<TrackerDeletion[]> {
      const limit = pageSize(first, {
        defaultSize: options.pagination.defaultPageSize,
        maxSize: options.pagination.maxPageSize,
      })
      const rows = await db
        .selectFrom('tracker_deletions')
        .selectAll()
        .orderBy('deleted_at', 'desc')
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows.map(toTrackerDeletion)
    },
  }
}

export type TrackerDeletionService = ReturnType<typeof createTrackerDeletionService>
