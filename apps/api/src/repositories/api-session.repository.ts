import type { ApiSession, ApiTokenScope, Database } from '@tracker/db'
import { type Kysely, sql } from 'kysely'
import { tokenTrackerIds } from './api-token.repository.ts'

/** A session as a request sees it: its own state and its token's, judged by the database's clock. */
export interface SessionLookupRow {
  id: string
  expires_at: Date
  expired: boolean
  revoked: boolean
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
      'api_tokens.id as token_id',
      'api_tokens.name as token_name',
      'api_tokens.scope as token_scope',
      sql<boolean>`api_tokens.revoked_at IS NOT NULL`.as('token_revoked'),
      tokenTrackerIds,
    ])
    .where('s.secret_hash', '=', secretHash)
    .executeTakeFirst()
}

/** Records when sessions were last used, in one statement (their tokens' use is recorded apart). */
export async function recordApiSessionUses(
  db: Kysely<Database>,
  uses: readonly { id: string; at: Date }[],
): Promise<void> {
  if (uses.length === 0) return
  await sql`
    UPDATE api_sessions SET last_used_at = GREATEST(api_sessions.last_used_at, u.at)
      FROM unnest(${uses.map((u) => u.id)}::uuid[], ${uses.map((u) => u.at.toISOString())}::timestamptz[]) AS u(id, at)
     WHERE api_sessions.id = u.id`.execute(db)
}

/** Idempotent: a revoked session keeps its first revocation time. false when no session has the hash. */
export async function revokeApiSession(db: Kysely<Database>, secretHash: string): Promise<boolean> {
  const result = await db
    .updateTable('api_sessions')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now')) }))
    .where('secret_hash', '=', secretHash)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
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
