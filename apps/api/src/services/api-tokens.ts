import { createHash, randomBytes } from 'node:crypto'
import type { ApiTokenScope, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import type { AuthenticatedToken } from '../graphql/context.ts'
import { type ApiTokenListRow, insertApiToken, useApiToken } from '../repositories/api-token.repository.ts'

export { listApiTokens, revokeApiToken } from '../repositories/api-token.repository.ts'

/** A recognizable prefix (secret scanners, logs) before 32 random bytes. */
export const TOKEN_PREFIX = 'trk_'

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export interface CreatedApiToken extends ApiTokenListRow {
  /** The bearer token itself: shown once, stored only as its hash. */
  token: string
}

export async function createApiToken(
  db: Kysely<Database>,
  input: { name: string; scope: ApiTokenScope },
): Promise<CreatedApiToken> {
  const name = input.name.trim()
  if (name.length < 1 || name.length > 200) throw new Error('a token name must be 1 to 200 characters')
  if (input.scope !== 'read' && input.scope !== 'write') throw new Error('a token scope is "read" or "write"')
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const row = await insertApiToken(db, { name, scope: input.scope, tokenHash: hashToken(token) })
  return { ...row, token }
}

interface CacheEntry {
  token: AuthenticatedToken | null
  expiresAt: number
}

/**
 * Checks bearer tokens against api_tokens, remembering each answer (valid or not) for `ttlMs`, so
 * a client's burst costs one lookup: a revoked token stops working within ttlMs on every replica.
 * Bounded: the oldest answers are forgotten first.
 */
export class TokenAuthenticator {
  readonly #db: Kysely<Database>
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #cache = new Map<string, CacheEntry>()

  constructor(db: Kysely<Database>, options: { ttlMs: number; maxEntries?: number }) {
    this.#db = db
    this.#ttlMs = options.ttlMs
    this.#maxEntries = options.maxEntries ?? 10_000
  }

  async authenticate(token: string): Promise<AuthenticatedToken | null> {
    const hash = hashToken(token)
    const now = Date.now()
    const cached = this.#cache.get(hash)
    if (cached && cached.expiresAt > now) return cached.token
    const row = await useApiToken(this.#db, hash)
    const result = row ? { id: row.id, name: row.name, scope: row.scope } : null
    this.#cache.delete(hash)
    this.#cache.set(hash, { token: result, expiresAt: now + this.#ttlMs })
    if (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    return result
  }

  /** Forgets every cached answer (after a revocation in this process). */
  clear(): void {
    this.#cache.clear()
  }
}
