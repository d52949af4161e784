import type { ApiToken, ApiTokenScope, Database } from '@tracker/db'
import { type Kysely, sql } from 'kysely'

export type ApiTokenListRow = Omit<ApiToken, 'token_hash' | 'all_trackers'> & {
  /** The trackers the token is limited to; null: every tracker. */
  tracker_ids: string[] | null
}

/** A token's trackers, or null when it sees every tracker: one column of the token's own row. */
export const tokenTrackerIds = sql<string[] | null>`CASE WHEN api_tokens.all_trackers THEN NULL ELSE
  ARRAY(SELECT t.tracker_id::text FROM api_token_trackers t WHERE t.token_id = api_tokens.id ORDER BY t.tracker_id)
  END`.as('tracker_ids')

const LISTED = ['id', 'name', 'scope', 'created_at', 'last_used_at', 'revoked_at'] as const

/** The token and its trackers in one transaction: a limited token never exists without its list. */
export async function insertApiToken(
  db: Kysely<Database>,
  token: { name: string; scope: ApiTokenScope; tokenHash: string; trackerIds: string[] | null },
): Promise<ApiTokenListRow> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .insertInto('api_tokens')
      .values({
        name: token.name,
        scope: token.scope,
        token_hash: token.tokenHash,
        all_trackers: token.trackerIds === null,
      })
      .returning(LISTED)
      .executeTakeFirstOrThrow()
    const ids = [...new Set(token.trackerIds ?? [])].sort()
    if (ids.length > 0) {
      await tx
        .insertInto('api_token_trackers')
        .values(ids.map((tracker_id) => ({ token_id: row.id, tracker_id })))
        .execute()
    }
    return { ...row, tracker_ids: token.trackerIds === null ? null : ids }
  })
}

export async function listApiTokens(db: Kysely<Database>): Promise<ApiTokenListRow[]> {
  return db
    .selectFrom('api_tokens')
    .select([...LISTED, tokenTrackerIds])
    .orderBy('created_at')
    .orderBy('id')
    .execute()
}

/** Idempotent: a revoked token keeps its first revocation time. undefined when no token has the id. */
export async function revokeApiToken(db: Kysely<Database>, id: string): Promise<ApiTokenListRow | undefined> {
  return db
    .updateTable('api_tokens')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now')) }))
    .where('id', '=', id)
    .returning([...LISTED, tokenTrackerIds])
    .executeTakeFirst()
}

/** The trackers among `ids` that exist. */
export async function existingTrackerIds(db: Kysely<Database>, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const rows = await db
    .selectFrom('trackers')
    .select('id')
    .where('id', 'in', [...ids])
    .execute()
  return new Set(rows.map((r) => r.id))
}

/**
 * The unrevoked token with that hash, and its trackers: a read (its use is recorded apart, at most
 * once a minute: `recordApiTokenUses`). undefined when none.
 */
export async function findApiTokenByHash(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<(Pick<ApiToken, 'id' | 'name' | 'scope'> & { tracker_ids: string[] | null }) | undefined> {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'scope', tokenTrackerIds])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
}

/**
 * Records when tokens were last used, in one statement whatever their number. A time never moves
 * backwards (another replica may have written a later one).
 */
export async function recordApiTokenUses(
  db: Kysely<Database>,
  uses: readonly { id: string; at: Date }[],
): Promise<void> {
  if (uses.length === 0) return
  await sql`
    UPDATE api_tokens SET last_used_at = GREATEST(api_tokens.last_used_at, u.at)
      FROM unnest(${uses.map((u) => u.id)}::uuid[], ${uses.map((u) => u.at.toISOString())}::timestamptz[]) AS u(id, at)
     WHERE api_tokens.id = u.id`.execute(db)
}

/** An unrevoked token by id, with its trackers; undefined when none (or revoked). */
export async function findLiveApiToken(
  db: Kysely<Database>,
  id: string,
): Promise<(Pick<ApiToken, 'id' | 'name' | 'scope'> & { tracker_ids: string[] | null }) | undefined> {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'scope', tokenTrackerIds])
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
}
