import type { Database, SignInLink } from '@tracker/db'
import { type Kysely, sql } from 'kysely'

export async function insertSignInLink(
  db: Kysely<Database>,
  link: { codeHash: string; apiTokenId: string; ttlMs: number },
): Promise<Pick<SignInLink, 'id' | 'expires_at'>> {
  return db
    .insertInto('sign_in_links')
    .values({
      code_hash: link.codeHash,
      api_token_id: link.apiTokenId,
      expires_at: sql<Date>`now() + make_interval(secs => ${link.ttlMs / 1000})`,
    })
    .returning(['id', 'expires_at'])
    .executeTakeFirstOrThrow()
}

/**
 * Marks the link used and returns its token, in one statement, when it is unused, unexpired and
 * its token unrevoked: two requests with the same code cannot both get it. undefined otherwise.
 */
export async function consumeSignInLink(
  db: Kysely<Database>,
  codeHash: string,
): Promise<{ api_token_id: string } | undefined> {
  return db
    .updateTable('sign_in_links')
    .set((eb) => ({ used_at: eb.fn<Date>('now') }))
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('api_tokens')
          .select('api_tokens.id')
          .whereRef('api_tokens.id', '=', 'sign_in_links.api_token_id')
          .where('api_tokens.revoked_at', 'is', null),
      ),
    )
    .returning('api_token_id')
    .executeTakeFirst()
}

/** Links used or expired a day ago: removed as new ones are made. */
export async function deleteStaleSignInLinks(db: Kysely<Database>): Promise<void> {
  await db
    .deleteFrom('sign_in_links')
    .where((eb) =>
      eb.or([
        eb('expires_at', '<', sql<Date>`now() - interval '1 day'`),
        eb('used_at', '<', sql<Date>`now() - interval '1 day'`),
      ]),
    )
    .execute()
}
