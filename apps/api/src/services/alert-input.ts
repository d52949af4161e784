import { AlertInputError, type KeysetPosition } from '@tracker/alerts'
import { BadUserInputError, ForbiddenError } from '../errors.ts'
import type { Page } from '../graphql/models.ts'
import { cursorId, cursorTime, decodeCursor, encodeCursor, pageSize } from './input.ts'

/** The alerts package's refusals as the API's: BAD_USER_INPUT with extensions.field and .reason. */
export async function alertInput<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof AlertInputError) {
      throw new BadUserInputError(error.message, {
        field: error.field,
        reason: error.reason,
        ...error.details,
      })
    }
    throw error
  }
}

/**
 * Whether a token that sees `visible` trackers (null: every tracker) may own something for
 * `trackerIds` (null: every tracker): a limited token only what is limited to its own trackers.
 */
export function withinTrackers(
  visible: readonly string[] | null,
  trackerIds: readonly string[] | null,
): boolean {
  if (visible === null) return true
  return trackerIds?.every((id) => visible.includes(id)) ?? false
}

/** A limited token's view of a tracker list: its own trackers among them (null stays every tracker). */
export function visibleTrackerIds(
  trackerIds: readonly string[] | null,
  visible: readonly string[] | null,
): string[] | null {
  if (trackerIds === null) return null
  return visible === null ? [...trackerIds] : trackerIds.filter((id) => visible.includes(id))
}

export function refusedForLimitedToken(what: string): ForbiddenError {
  return new ForbiddenError(
    `${what}: a token limited to trackers may only name trackers that are all its own`,
  )
}

export interface PageArgs {
  first?: number | null
  after?: string | null
}

export type Pagination = { defaultPageSize: number; maxPageSize: number }

/** The page size and keyset position of a list's arguments. */
export function pageArgs(args: PageArgs, pagination: Pagination): { limit: number; after?: KeysetPosition } {
  const limit = pageSize(args.first, {
    defaultSize: pagination.defaultPageSize,
    maxSize: pagination.maxPageSize,
  })
  if (!args.after) return { limit }
  const [time, id] = decodeCursor<[string, string]>(args.after, ['string', 'string'])
  return { limit, after: { time: cursorTime(time), id: cursorId(id) } }
}

/** Rows fetched with limit + 1, as a page: the extra row only says there is more. */
export function pageOf<Row extends { cursor_time: string; id: string }, T>(
  rows: Row[],
  limit: number,
  map: (row: Row) => T,
): Page<T> {
  const kept = rows.slice(0, limit)
  const last = kept.at(-1)
  return {
    nodes: kept.map(map),
    pageInfo: {
      hasNextPage: rows.length > limit,
      endCursor: last ? encodeCursor([last.cursor_time, last.id]) : null,
    },
  }
}
