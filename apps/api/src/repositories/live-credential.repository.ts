import type { ApiTokenScope, Database } from '@tracker/db'
import { type Kysely, sql } from 'kysely'
import { tokenTrackerIds } from './api-token.repository.ts'

export interface LiveTokenRow {
  id: string
  name: string
  scope: ApiTokenScope
  tracker_ids: string[] | null
}

/** Of these tokens, the ones not revoked, with their current scope and trackers: one query for all. */
export async function findLiveApiTokens(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<LiveTokenRow[]> {
  if (ids.length === 0) return []
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'scope', tokenTrackerIds])
    .where('id', 'in', [...ids])
    .where('revoked_at', 'is', null)
    .execute()
}

/** Of these session secret hashes, the ones whose session is neither signed out nor expired. */
export async function findLiveSessionHashes(
  db: Kysely<Database>,
  secretHashes: readonly string[],
): Promise<string[]> {
  if (secretHashes.length === 0) return []
  const rows = await db
    .selectFrom('api_sessions')
    .select('secret_hash')
    .where('secret_hash', 'in', [...secretHashes])
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .execute()
  return rows.map((row) => row.secret_hash)
}
