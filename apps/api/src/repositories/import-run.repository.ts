import type { Database, ImportRun, ImportRunStatus } from '@tracker/db'
import { exactTime } from '@tracker/db'
import type { Kysely } from 'kysely'

export interface ImportRunPageQuery {
  status?: ImportRunStatus
  after?: { startedAt: string; id: string }
  limit: number
}

export type ImportRunPageRow = ImportRun & { cursor_time: string }

/** The importer's ledger newest first, by (started_at, id). */
export async function selectImportRunPage(
  db: Kysely<Database>,
  q: ImportRunPageQuery,
): Promise<ImportRunPageRow[]> {
  let query = db
    .selectFrom('import_runs')
    .selectAll()
    .select(exactTime('started_at').as('cursor_time'))
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit)
  if (q.status) query = query.where('status', '=', q.status)
  const after = q.after
  if (after) {
    query = query.where((eb) =>
      eb(
        eb.refTuple('started_at', 'id'),
        '<',
        eb.tuple(eb.val(after.startedAt).$castTo<Date>(), eb.val(after.id)),
      ),
    )
  }
  return query.execute()
}
