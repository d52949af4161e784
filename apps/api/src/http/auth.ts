import type { FastifyReply, FastifyRequest } from 'fastify'
import { RateLimitedError, UnauthenticatedError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import { hashToken, type TokenAuthenticator } from '../services/api-tokens.ts'
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

/**
 * onRequest hook of the GraphQL routes: a valid, unrevoked bearer token or 401.
 *
 * Requests without a valid token count against their client address (`limit`), and once an address
 * has used up its allowance its requests are refused with 429 before any token is looked up: a
 * flood of guessed tokens costs a counter each, not a database query each. A token this process saw
 * valid within the last hour is no guess: it skips that check (and is still looked up as ever, so
 * a revocation holds), so clients behind the same address as a flood keep working.
 */
export function bearerAuth(authenticator: TokenAuthenticator, limit: UnauthenticatedLimit) {
  // Token hash -> when it was last found valid; the oldest forgotten first.
  const knownValid = new Map<string, number>()
  const isKnownValid = (hash: string) => (knownValid.get(hash) ?? 0) > Date.now() - KNOWN_VALID_MS
  const rememberValid = (hash: string) => {
    knownValid.delete(hash)
    knownValid.set(hash, Date.now())
    if (knownValid.size > MAX_KNOWN_VALID) knownValid.delete(knownValid.keys().next().value as string)
  }

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization
    const match = header ? BEARER.exec(header) : null
    const hash = match ? hashToken(match[1]!) : undefined

    if (!hash || !isKnownValid(hash)) {
      const retryAfter = await limit.retryAfterSeconds(request.ip)
      if (retryAfter > 0) {
        reply.header('retry-after', String(retryAfter))
        throw new RateLimitedError(retryAfter, 'without a valid API token from this address')
      }
    }
    const refuse = async (message: string) => {
      reply.header('www-authenticate', 'Bearer realm="tracker"')
      await limit.count(request.ip)
      return new UnauthenticatedError(message)
    }
    if (!header) {
      throw await refuse('Missing API token: send the header "Authorization: Bearer <token>"')
    }
    if (!match || !hash) throw await refuse('Malformed Authorization header: expected "Bearer <token>"')
    const token = await authenticator.authenticate(match[1]!)
    if (!token) throw await refuse('Invalid or revoked API token')
    rememberValid(hash)
    request.apiToken = token
  }
}
