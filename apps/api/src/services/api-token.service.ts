import type { ApiTokenScope, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { NotFoundApiError } from '../errors.ts'
import type { ApiToken, CreatedApiToken } from '../graphql/schema.generated.ts'
import type { ApiTokenListRow } from '../repositories/api-token.repository.ts'
import { createApiToken, listApiTokens, revokeApiToken, type TokenAuthenticator } from './api-tokens.ts'
import { requireId } from './input.ts'

type ScopeName = ApiToken['scope']

function toApiToken(row: ApiTokenListRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope.toUpperCase() as ScopeName,
    trackerIds: row.tracker_ids,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  }
}

/** The admin side of API tokens, as GraphQL offers it (the CLI calls the same functions). */
export function createApiTokenService(db: Kysely<Database>, authenticator: TokenAuthenticator) {
  return {
    async list(): Promise<ApiToken[]> {
      return (await listApiTokens(db)).map(toApiToken)
    },

    async create(args: {
      name: string
      scope: ScopeName
      trackerIds?: readonly string[] | null
    }): Promise<CreatedApiToken> {
      const created = await createApiToken(db, {
        name: args.name,
        scope: args.scope.toLowerCase() as ApiTokenScope,
        trackerIds: args.trackerIds ?? null,
      })
      return { token: created.token, apiToken: toApiToken(created) }
    },

    /** Revoked in the database, and forgotten by this replica's token cache at once. */
    async revoke(id: string): Promise<ApiToken> {
      const row = await revokeApiToken(db, requireId('API token', id))
      if (!row) throw new NotFoundApiError('API token', id)
      authenticator.revoked(row.id)
      return toApiToken(row)
    },
  }
}

export type ApiTokenService = ReturnType<typeof createApiTokenService>
