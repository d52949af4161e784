import { randomBytes } from 'node:crypto'
import type { Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError, NotFoundApiError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import {
  deleteStaleApiSessions,
  findApiSession,
  insertApiSession,
  revokeApiSession,
} from '../repositories/api-session.repository.ts'
import { findLiveApiToken } from '../repositories/api-token.repository.ts'
import {
  consumeSignInLink,
  deleteStaleSignInLinks,
  insertSignInLink,
} from '../repositories/sign-in-link.repository.ts'
import { hashToken, type TokenAuthenticator } from './api-tokens.ts'
import { requireId } from './input.ts'
import type { LastUseRecorder } from './last-use-recorder.ts'

/** The cookie that carries a web session's secret. */
export const SESSION_COOKIE = 'tracker_session'
/** How long a one-time sign-in link stays valid unless told otherwise. */
export const SIGN_IN_LINK_TTL_MS = 24 * 60 * 60 * 1000
// Secrets and codes are 32 random bytes as base64url; anything else is no session and costs no query.
const SECRET = /^[A-Za-z0-9_-]{43}$/
const newSecret = () => randomBytes(32).toString('base64url')

/** What GET and POST /session answer: the token the session stands for, never the token itself. */
export interface SessionView {
  token: { id: string; name: string; scope: 'READ' | 'WRITE' | 'ADMIN'; trackerIds: readonly string[] | null }
  expiresAt: string
}

export type SessionCheck =
  | { ok: true; token: AuthenticatedToken; expiresAt: Date }
  | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'token-revoked' }

export function sessionView(token: AuthenticatedToken, expiresAt: Date): SessionView {
  return {
    token: {
      id: token.id,
      name: token.name,
      scope: token.scope.toUpperCase() as SessionView['token']['scope'],
      trackerIds: token.trackerIds,
    },
    expiresAt: expiresAt.toISOString(),
  }
}

/**
 * A one-time link that opens a web session for the token: `path` (`/sign-in/<code>`) is shown once;
 * only the code's hash is stored. Refused for a token that does not exist or is revoked.
 */
export async function createSignInLink(
  db: Kysely<Database>,
  input: { apiTokenId: string; ttlMs?: number },
): Promise<{ code: string; path: string; expiresAt: Date }> {
  const id = requireId('API token', input.apiTokenId)
  if (!(await findLiveApiToken(db, id))) throw new NotFoundApiError('unrevoked API token', input.apiTokenId)
  const ttlMs = input.ttlMs ?? SIGN_IN_LINK_TTL_MS
  if (!(ttlMs >= 1000)) throw new BadUserInputError('a sign-in link must live at least a second')
  await deleteStaleSignInLinks(db)
  const code = newSecret()
  const row = await insertSignInLink(db, { codeHash: hashToken(code), apiTokenId: id, ttlMs })
  return { code, path: `/sign-in/${code}`, expiresAt: row.expires_at }
}

/**
 * Web sessions: an API token (or a one-time link) exchanged for a secret the browser keeps in an
 * HttpOnly cookie. A session stands for its token (scope, trackers) until it expires, is signed out,
 * or the token is revoked; each request checks all three in the database.
 */
export function createSessionService(
  db: Kysely<Database>,
  options: { ttlMs: number; tokens: TokenAuthenticator; uses?: LastUseRecorder },
) {
  const open = async (tokenId: string) => {
    await deleteStaleApiSessions(db)
    const secret = newSecret()
    const row = await insertApiSession(db, {
      secretHash: hashToken(secret),
      apiTokenId: tokenId,
      ttlMs: options.ttlMs,
    })
    return { secret, expiresAt: row.expires_at }
  }

  const signedOutListeners: ((secretHash: string) => void)[] = []

  return {
    ttlMs: options.ttlMs,

    /** Told the secret's hash when a session is signed out in this process (its live sockets close). */
    onSignedOut(listener: (secretHash: string) => void): void {
      signedOutListeners.push(listener)
    },

    /** A valid API token opens a session; null when the token is refused. */
    async signIn(apiToken: string): Promise<{ secret: string; view: SessionView } | null> {
      const token = await options.tokens.authenticate(apiToken)
      if (!token) return null
      const { secret, expiresAt } = await open(token.id)
      return { secret, view: sessionView(token, expiresAt) }
    },

    /** Consumes a one-time code and opens a session; null when the code is unknown, used or expired. */
    async signInWithCode(code: string): Promise<{ secret: string; expiresAt: Date } | null> {
      if (!SECRET.test(code)) return null
      const link = await consumeSignInLink(db, hashToken(code))
      return link ? open(link.api_token_id) : null
    },

    async check(secret: string): Promise<SessionCheck> {
      if (!SECRET.test(secret)) return { ok: false, reason: 'unknown' }
      const row = await findApiSession(db, hashToken(secret))
      if (!row) return { ok: false, reason: 'unknown' }
      if (row.revoked) return { ok: false, reason: 'revoked' }
      if (row.token_revoked) return { ok: false, reason: 'token-revoked' }
      if (row.expired) return { ok: false, reason: 'expired' }
      // Written later, at most once a minute each: never on the request's path.
      options.uses?.sessionUsed(row.id)
      options.uses?.tokenUsed(row.token_id)
      return {
        ok: true,
        token: {
          id: row.token_id,
          name: row.token_name,
          scope: row.token_scope,
          trackerIds: row.tracker_ids,
        },
        expiresAt: row.expires_at,
      }
    },

    /** Revokes the session the secret opened, if any (idempotent); false when it names no session. */
    async signOut(secret: string): Promise<boolean> {
      if (!SECRET.test(secret)) return false
      const found = await revokeApiSession(db, hashToken(secret))
      for (const listener of signedOutListeners) listener(hashToken(secret))
      return found
    },
  }
}

export type SessionService = ReturnType<typeof createSessionService>
