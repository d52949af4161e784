import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, RateLimitedError, UnauthenticatedError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import { hashToken, type TokenAuthenticator } from '../services/api-tokens.ts'
import { SESSION_COOKIE, type SessionService } from '../services/session.service.ts'
import type { UnauthenticatedLimit } from './address-limit.ts'

declare module 'fastify' {
  interface FastifyRequest {
    apiToken: AuthenticatedToken | undefined
  }
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]{1,200})[ \t]*$/i

/** How long a token that was valid is trusted not to be a guess (its lookups skip the address limit). */
const KNOWN_VALID_MS = 60 * 60 * 1000
const MAX_KNOWN_VALID = 10_000

/** A session that has run out: the web app asks to sign in again (and says why). */
export class SessionExpiredError extends ApiError {
  constructor() {
    super('SESSION_EXPIRED', 'The session has expired: sign in again', { statusCode: 401 })
  }
}

/** A cookie sent along with a request another site made: refused (CSRF). */
export class CrossOriginError extends ApiError {
  constructor(why: string) {
    super('CROSS_ORIGIN', `Refused a session cookie sent by another site (${why})`, { statusCode: 403 })
  }
}

/** This request's own origin, as a browser writes it in `Origin` (default ports left out). */
function ownOrigin(request: FastifyRequest): string | undefined {
  try {
    return new URL(`${request.protocol}://${request.host}`).origin
  } catch {
    return undefined
  }
}

/**
 * Cookies go with every request to this origin, whoever made it: a request authenticated by the
 * cookie must come from this origin. Browsers say where a request comes from in `Origin` (every
 * POST, and cross-origin GETs) and `Sec-Fetch-Site`; SameSite=Strict already keeps the cookie from
 * most cross-site requests, this refuses the rest (and old browsers' ones).
 */
export function refuseCrossOrigin(request: FastifyRequest): void {
  if (request.headers['sec-fetch-site'] === 'cross-site')
    throw new CrossOriginError('Sec-Fetch-Site: cross-site')
  const origin = request.headers.origin
  if (origin === undefined) return
  let claimed: string
  try {
    claimed = new URL(origin).origin
  } catch {
    throw new CrossOriginError(`Origin ${origin.slice(0, 100)}`)
  }
  if (claimed !== ownOrigin(request)) throw new CrossOriginError(`Origin ${claimed} is not this origin`)
}

export interface RequestAuthDeps {
  tokens: TokenAuthenticator
  sessions: SessionService
  limit: UnauthenticatedLimit
}

/** Credentials as a request (or a WebSocket's connection_init) presents them. */
export interface PresentedCredentials {
  /** The client address the per-address limit counts against. */
  ip: string
  /** An `Authorization` value ("Bearer <token>"); wins over the cookie. */
  authorization?: string | undefined
  /** The `tracker_session` cookie's value. */
  cookie?: string | undefined
  /** The request that carried the cookie: it must come from this origin (CSRF, cross-site WebSockets). */
  request?: FastifyRequest
}

export interface Authenticated {
  token: AuthenticatedToken
  /** SHA-256 of the session secret when a session cookie authenticated (its sign-out ends its sockets). */
  sessionHash?: string
}

/**
 * Checks a bearer token or a web session cookie: the token they stand for, or an ApiError
 * (UNAUTHENTICATED, SESSION_EXPIRED, CROSS_ORIGIN, RATE_LIMITED with extensions.retryAfterSeconds).
 * `requestAuth` runs it for HTTP requests, the subscriptions for a WebSocket's connection_init.
 *
 * Requests without valid credentials count against their client address (`limit`), and once an
 * address has used up its allowance its requests are refused with 429 before anything is looked
 * up: a flood of guessed tokens or cookies costs a counter each, not a database query each. A token
 * this process saw valid within the last hour is no guess: it skips that check (and is still looked
 * up as ever, so a revocation holds), so clients behind the same address as a flood keep working.
 */
export function createCredentialCheck({ tokens, sessions, limit }: RequestAuthDeps) {
  // Token hash -> when it was last found valid; the oldest forgotten first.
  const knownValid = new Map<string, number>()
  const isKnownValid = (hash: string) => (knownValid.get(hash) ?? 0) > Date.now() - KNOWN_VALID_MS
  const rememberValid = (hash: string) => {
    knownValid.delete(hash)
    knownValid.set(hash, Date.now())
    if (knownValid.size > MAX_KNOWN_VALID) knownValid.delete(knownValid.keys().next().value as string)
  }

  return async (presented: PresentedCredentials): Promise<Authenticated> => {
    const header = presented.authorization
    const cookie = header ? undefined : presented.cookie
    if (cookie !== undefined && presented.request) refuseCrossOrigin(presented.request)
    const match = header ? BEARER.exec(header) : null
    // Known-valid keys: a token's hash, or a session secret's (prefixed: they never share a hash).
    const known = match ? hashToken(match[1]!) : cookie ? `session:${hashToken(cookie)}` : undefined

    if (!known || !isKnownValid(known)) {
      const retryAfter = await limit.retryAfterSeconds(presented.ip)
      if (retryAfter > 0)
        throw new RateLimitedError(retryAfter, 'without a valid API token from this address')
    }
    const refuse = async (error: ApiError) => {
      await limit.count(presented.ip)
      return error
    }
    if (cookie !== undefined) {
      const session = await sessions.check(cookie)
      if (!session.ok) {
        throw await refuse(
          session.reason === 'expired'
            ? new SessionExpiredError()
            : new UnauthenticatedError(
                session.reason === 'token-revoked'
                  ? 'The API token of this session was revoked: sign in again'
                  : 'No such session (signed out?): sign in again',
              ),
        )
      }
      rememberValid(known!)
      return { token: session.token, sessionHash: hashToken(cookie) }
    }
    if (!header) {
      throw await refuse(
        new UnauthenticatedError('Missing API token: send the header "Authorization: Bearer <token>"'),
      )
    }
    if (!match || !known) {
      throw await refuse(
        new UnauthenticatedError('Malformed Authorization header: expected "Bearer <token>"'),
      )
    }
    const token = await tokens.authenticate(match[1]!)
    if (!token) throw await refuse(new UnauthenticatedError('Invalid or revoked API token'))
    rememberValid(known)
    return { token }
  }
}

export type CredentialCheck = ReturnType<typeof createCredentialCheck>

/**
 * onRequest hook of every authenticated route (/graphql, /export/*): a valid, unrevoked bearer
 * token (`Authorization: Bearer`) or a live web session (the `tracker_session` cookie), else 401.
 * Either way `request.apiToken` is the token, so its scope and trackers apply to a session too. The
 * header wins when both are sent. A cookie-authenticated request from another origin is 403
 * CROSS_ORIGIN; an expired session is 401 SESSION_EXPIRED. See createCredentialCheck for the
 * per-address limit.
 */
export function requestAuth(check: CredentialCheck) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization
    const cookie = header ? undefined : request.cookies?.[SESSION_COOKIE]
    try {
      const { token } = await check({ ip: request.ip, authorization: header, cookie, request })
      request.apiToken = token
    } catch (error) {
      if (error instanceof RateLimitedError) {
        reply.header('retry-after', String(error.extensions.retryAfterSeconds))
      } else if (cookie === undefined && error instanceof ApiError && error.statusCode === 401) {
        reply.header('www-authenticate', 'Bearer realm="tracker"')
      }
      throw error
    }
  }
}
