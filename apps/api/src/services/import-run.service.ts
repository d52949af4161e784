import type { Database, ImportRunStatus } from '@tracker/db'
import type { Kysely } from 'kysely'
import type { Page } from '../graphql/models.ts'
import type { ImportRun } from '../graphql/schema.generated.ts'
import { toImportRun } from '../mappers/import-run.mapper.ts'
import { selectImportRunPage } from '../repositories/import-run.repository.ts'
import { cursorId, cursorTime, decodeCursor, encodeCursor, pageSize } from './input.ts'

export function createImportRunService(
  db: Kysely<Database>,
  options: { pagination: { defaultPageSize: number; maxPageSize: number } },
) {
  return {
    async list(args: {
      status?: ImportRun['status'] | null
      first?: number | null
      after?: string | null
    }): Promise<Page<ImportRun>> {
      const limit = pageSize(args.first, {
        defaultSize: options.pagination.defaultPageSize,
        maxSize: options.pagination.maxPageSize,
      })
      let after: { startedAt: string; id: string } | undefined
      if (args.after) {
        const [startedAt, id] = decodeCursor<[string, string]>(args.after, ['string', 'string'])
        after = { startedAt: cursorTime(startedAt), id: cursorId(id) }
      }
      const rows = await selectImportRunPage(db, {
        ...(args.status ? { status: args.status.toLowerCase() as ImportRunStatus } : {}),
        ...(after ? { after } : {}),
        limit: limit + 1,
      })
      const kept = rows.slice(0, limit)
      const last = kept.at(-1)
      return {
        nodes: kept.map(toImportRun),
        pageInfo: {
          hasNextPage: rows.length > limit,
          endCursor: last ? encodeCursor([last.cursor_time, last.id]) : null,
        },
      }
    },
  }
}

export type ImportRunService = ReturnType<typeof createImportRunService>
