import { createHash, randomBytes } from 'node:crypto'
import type { ApiTokenScope, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import {
  type ApiTokenListRow,
  existingTrackerIds,
  findApiTokenByHash,
  insertApiToken,
} from '../repositories/api-token.repository.ts'
import type { LastUseRecorder } from './last-use-recorder.ts'

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

export const API_TOKEN_SCOPES: readonly ApiTokenScope[] = ['read', 'write', 'admin']
/** Trackers one limited token may name. */
export const MAX_TOKEN_TRACKERS = 100

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The trackers a new token is limited to, checked: null (every tracker) or existing trackers. */
async function tokenTrackers(
  db: Kysely<Database>,
  scope: ApiTokenScope,
  requested: readonly string[] | null | undefined,
): Promise<string[] | null> {
  if (requested === null || requested === undefined) return null
  if (scope === 'admin') {
    throw new BadUserInputError(
      'an admin token cannot be limited to trackers (it could create itself an unlimited token)',
      { argument: 'trackerIds' },
    )
  }
  const ids = [...new Set(requested.map((id) => id.toLowerCase()))]
  if (ids.length === 0) {
    throw new BadUserInputError('name at least one tracker, or leave trackerIds out for every tracker', {
      argument: 'trackerIds',
    })
  }
  if (ids.length > MAX_TOKEN_TRACKERS) {
    throw new BadUserInputError(`a token may be limited to at most ${MAX_TOKEN_TRACKERS} trackers`, {
      argument: 'trackerIds',
      max: MAX_TOKEN_TRACKERS,
    })
  }
  const existing = await existingTrackerIds(
    db,
    ids.filter((id) => UUID.test(id)),
  )
  const unknown = ids.filter((id) => !existing.has(id))
  if (unknown.length > 0) {
    throw new BadUserInputError(`no tracker has the id ${unknown.join(', ')}`, {
      argument: 'trackerIds',
      unknown,
    })
  }
  return ids
}

/**
 * Creates a token and returns it, the one time it is ever shown. `trackerIds` limits it to those
 * trackers (it sees and changes nothing else); left out, it covers every tracker.
 */
export async function createApiToken(
  db: Kysely<Database>,
  input: { name: string; scope: ApiTokenScope; trackerIds?: readonly string[] | null },
): Promise<CreatedApiToken> {
  const name = input.name.trim()
  if (name.length < 1 || name.length > 200) {
    throw new BadUserInputError('a token name must be 1 to 200 characters', { argument: 'name' })
  }
  if (!API_TOKEN_SCOPES.includes(input.scope)) {
    throw new BadUserInputError('a token scope is "read", "write" or "admin"', { argument: 'scope' })
  }
  const trackerIds = await tokenTrackers(db, input.scope, input.trackerIds)
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const row = await insertApiToken(db, { name, scope: input.scope, tokenHash: hashToken(token), trackerIds })
  return { ...row, token }
}

interface CacheEntry {
  token: AuthenticatedToken
  expiresAt: number
}

/** A bounded map whose oldest entries are forgotten first. */
function remember<V>(map: Map<string, V>, key: string, value: V, maxEntries: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > maxEntries) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
}

/**
 * Checks bearer tokens against api_tokens (a read), remembering each answer for `ttlMs`, so a
 * client's burst costs one lookup: a revoked token stops working at once on the replica that
 * revoked it (`forget`) and within ttlMs on every other one. The same holds for a limited token's
 * trackers: one deleted meanwhile may still be named for ttlMs, but no longer exists to be read.
 *
 * Valid and unknown tokens are remembered apart, each bounded (the oldest forgotten first): a flood
 * of guessed tokens fills only the unknown ones' map and never pushes a valid token out. A use is
 * noted with `uses` (written later, at most once a minute per token), never on the request's path.
 */
export class TokenAuthenticator {
  readonly #db: Kysely<Database>
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #maxUnknownEntries: number
  readonly #uses: LastUseRecorder | undefined
  /** Token hash -> the valid token it stands for. */
  readonly #valid = new Map<string, CacheEntry>()
  /** Token hash -> until when it is known to name no valid token. */
  readonly #unknown = new Map<string, number>()
  readonly #revokedListeners: ((tokenId: string) => void)[] = []

  constructor(
    db: Kysely<Database>,
    options: { ttlMs: number; maxEntries?: number; maxUnknownEntries?: number; uses?: LastUseRecorder },
  ) {
    this.#db = db
    this.#ttlMs = options.ttlMs
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxUnknownEntries = options.maxUnknownEntries ?? 10_000
    this.#uses = options.uses
  }

  async authenticate(token: string): Promise<AuthenticatedToken | null> {
    const hash = hashToken(token)
    const now = Date.now()
    const valid = this.#valid.get(hash)
    if (valid && valid.expiresAt > now) {
      this.#uses?.tokenUsed(valid.token.id)
      return valid.token
    }
    if ((this.#unknown.get(hash) ?? 0) > now) return null
    const row = await findApiTokenByHash(this.#db, hash)
    const expiresAt = now + this.#ttlMs
    if (!row) {
      this.#valid.delete(hash)
      remember(this.#unknown, hash, expiresAt, this.#maxUnknownEntries)
      return null
    }
    const result = { id: row.id, name: row.name, scope: row.scope, trackerIds: row.tracker_ids }
    this.#unknown.delete(hash)
    remember(this.#valid, hash, { token: result, expiresAt }, this.#maxEntries)
    this.#uses?.tokenUsed(result.id)
    return result
  }

  /** Forgets every cached answer (after a revocation in this process). */
  clear(): void {
    this.#valid.clear()
    this.#unknown.clear()
  }

  /** Forgets the cached answer for one token (its revocation takes effect here at once). */
  forget(tokenId: string): void {
    for (const [hash, entry] of this.#valid) if (entry.token.id === tokenId) this.#valid.delete(hash)
  }

  /** The token was revoked in this process: forgets it and tells whoever holds it open (live sockets). */
  revoked(tokenId: string): void {
    this.forget(tokenId)
    for (const listener of this.#revokedListeners) listener(tokenId)
  }

  onRevoked(listener: (tokenId: string) => void): void {
    this.#revokedListeners.push(listener)
  }
}
