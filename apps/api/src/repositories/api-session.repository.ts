import type { ApiSession, ApiTokenScope, Database } from '@tracker/db'
import { type Kysely, sql } from 'kysely'
import { tokenTrackerIds } from './api-token.repository.ts'

/** A session as a request sees it: its own state and its token's, judged by the database's clock. */
export interface SessionLookupRow {
  id: string
  expires_at: Date
  expired: boolean
  revoked: boolean
  last_used_at: Date | null
  token_id: string
  token_name: string
  token_scope: ApiTokenScope
  token_revoked: boolean
  tracker_ids: string[] | null
}

export async function insertApiSession(
  db: Kysely<Database>,
  session: { secretHash: string; apiTokenId: string; ttlMs: number },
): Promise<Pick<ApiSession, 'id' | 'expires_at'>> {
  return db
    .insertInto('api_sessions')
    .values({
      secret_hash: session.secretHash,
      api_token_id: session.apiTokenId,
      expires_at: sql<Date>`now() + make_interval(secs => ${session.ttlMs / 1000})`,
    })
    .returning(['id', 'expires_at'])
    .executeTakeFirstOrThrow()
}

/** The session with that secret hash and its token (scope, trackers, revoked or not); undefined if none. */
export async function findApiSession(
  db: Kysely<Database>,
  secretHash: string,
): Promise<SessionLookupRow | undefined> {
  return db
    .selectFrom('api_sessions as s')
    .innerJoin('api_tokens', 'api_tokens.id', 's.api_token_id')
    .select([
      's.id',
      's.expires_at',
      sql<boolean>`s.expires_at <= now()`.as('expired'),
      sql<boolean>`s.revoked_at IS NOT NULL`.as('revoked'),
      's.last_used_at',
      'api_tokens.id as token_id',
      'api_tokens.name as token_name',
      'api_tokens.scope as token_scope',
      sql<boolean>`api_tokens.revoked_at IS NOT NULL`.as('token_revoked'),
      tokenTrackerIds,
    ])
    .where('s.secret_hash', '=', secretHash)
    .executeTakeFirst()
}

/** Records the session's (and its token's) use. */
export async function touchApiSession(db: Kysely<Database>, id: string, tokenId: string): Promise<void> {
  await db
    .updateTable('api_sessions')
    .set((eb) => ({ last_used_at: eb.fn<Date>('now') }))
    .where('id', '=', id)
    .execute()
  await db
    .updateTable('api_tokens')
    .set((eb) => ({ last_used_at: eb.fn<Date>('now') }))
    .where('id', '=', tokenId)
    .execute()
}

/** Idempotent: a revoked session keeps its first revocation time. */
export async function revokeApiSession(db: Kysely<Database>, secretHash: string): Promise<void> {
  await db
    .updateTable('api_sessions')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now')) }))
    .where('secret_hash', '=', secretHash)
    .execute()
}

/** Sessions that can never be used again (expired or revoked a day ago), removed as new ones start. */
export async function deleteStaleApiSessions(db: Kysely<Database>): Promise<void> {
  await db
    .deleteFrom('api_sessions')
    .where((eb) =>
      eb.or([
        eb('expires_at', '<', sql<Date>`now() - interval '1 day'`),
        eb('revoked_at', '<', sql<Date>`now() - interval '1 day'`),
      ]),
    )
    .execute()
}
