import type { ApiToken, ApiTokenScope, Database } from '@tracker/db'
import type { Kysely } from 'kysely'

export type ApiTokenListRow = Omit<ApiToken, 'token_hash'>

export async function insertApiToken(
  db: Kysely<Database>,
  token: { name: string; scope: ApiTokenScope; tokenHash: string },
): Promise<ApiTokenListRow> {
  return db
    .insertInto('api_tokens')
    .values({ name: token.name, scope: token.scope, token_hash: token.tokenHash })
    .returning(['id', 'name', 'scope', 'created_at', 'last_used_at', 'revoked_at'])
    .executeTakeFirstOrThrow()
}

export async function listApiTokens(db: Kysely<Database>): Promise<ApiTokenListRow[]> {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'scope', 'created_at', 'last_used_at', 'revoked_at'])
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
    .returning(['id', 'name', 'scope', 'created_at', 'last_used_at', 'revoked_at'])
    .executeTakeFirst()
}

/**
 * Looks a token up by its hash and records its use, in one statement. undefined when no unrevoked
 * token has that hash.
 */
export async function useApiToken(
  db: Kysely<Database>,
  tokenHash: string,
): Promise<Pick<ApiToken, 'id' | 'name' | 'scope'> | undefined> {
  return db
    .updateTable('api_tokens')
    .set((eb) => ({ last_used_at: eb.fn<Date>('now') }))
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .returning(['id', 'name', 'scope'])
    .executeTakeFirst()
}
