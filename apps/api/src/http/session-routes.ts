import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, RateLimitedError, UnauthenticatedError } from '../errors.ts'
import { SESSION_COOKIE, type SessionService, sessionView } from '../services/session.service.ts'
import type { UnauthenticatedLimit } from './address-limit.ts'
import { refuseCrossOrigin, SessionExpiredError } from './auth.ts'
import { jsonErrors } from './json-errors.ts'

/** Where a one-time link that does not work sends the browser: the page says so. */
export const SIGN_IN_LINK_INVALID = '/?sign-in=link-invalid'

const TOKEN = /^[A-Za-z0-9._~+/=-]{1,200}$/

/**
 * The web app's sign-in: POST /session exchanges an API token for a session cookie, GET /session
 * says who is signed in, DELETE /session signs out, GET /sign-in/:code uses a one-time link.
 * Failed attempts count against the same per-address limit as requests without a valid token.
 */
export async function sessionRoutes(
  scope: FastifyInstance,
  options: { sessions: SessionService; limit: UnauthenticatedLimit },
): Promise<void> {
  const { sessions, limit } = options
  jsonErrors(scope)
  scope.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  const refuseWhenLimited = async (request: FastifyRequest, reply: FastifyReply) => {
    const retryAfter = await limit.retryAfterSeconds(request.ip)
    if (retryAfter > 0) {
      reply.header('retry-after', String(retryAfter))
      throw new RateLimitedError(retryAfter, 'without a valid API token from this address')
    }
  }
  // A new session lives WEB_SESSION_TTL: the cookie as long (the database holds the exact end).
  const maxAge = Math.max(1, Math.floor(sessions.ttlMs / 1000))
  const setCookie = (request: FastifyRequest, reply: FastifyReply, secret: string) =>
    reply.setCookie(SESSION_COOKIE, secret, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      maxAge,
      // Over HTTPS only (the connection's, or the proxy's with API_TRUST_PROXY).
      secure: request.protocol === 'https',
    })

  scope.post('/session', async (request, reply) => {
    refuseCrossOrigin(request)
    const body = request.body as { token?: unknown } | null | undefined
    const token = body && typeof body === 'object' && !Array.isArray(body) ? body.token : undefined
    if (typeof token !== 'string' || !TOKEN.test(token.trim())) {
      throw new ApiError('BAD_REQUEST', 'Send {"token": "<API token>"} as JSON', { statusCode: 400 })
    }
    await refuseWhenLimited(request, reply)
    const opened = await sessions.signIn(token.trim())
    if (!opened) {
      await limit.count(request.ip)
      throw new UnauthenticatedError('Invalid or revoked API token')
    }
    setCookie(request, reply, opened.secret)
    return opened.view
  })

  scope.get('/session', async (request, reply) => {
    const secret = request.cookies[SESSION_COOKIE]
    if (secret === undefined) throw new UnauthenticatedError('Not signed in')
    refuseCrossOrigin(request)
    await refuseWhenLimited(request, reply)
    const session = await sessions.check(secret)
    if (session.ok) return sessionView(session.token, session.expiresAt)
    await limit.count(request.ip)
    if (session.reason === 'expired') throw new SessionExpiredError()
    throw new UnauthenticatedError(
      session.reason === 'token-revoked'
        ? 'The API token of this session was revoked: sign in again'
        : 'No such session (signed out?): sign in again',
    )
  })

  scope.delete('/session', async (request, reply) => {
    const secret = request.cookies[SESSION_COOKIE]
    if (secret !== undefined) {
      refuseCrossOrigin(request)
      // A cookie that names no session counts like any other refused credential.
      await refuseWhenLimited(request, reply)
      if (!(await sessions.signOut(secret))) await limit.count(request.ip)
    }
    reply.clearCookie(SESSION_COOKIE, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: request.protocol === 'https',
    })
    return reply.code(204).send()
  })

  scope.get<{ Params: { code: string } }>('/sign-in/:code', async (request, reply) => {
    await refuseWhenLimited(request, reply)
    const opened = await sessions.signInWithCode(request.params.code)
    if (!opened) {
      await limit.count(request.ip)
      return reply.redirect(SIGN_IN_LINK_INVALID, 303)
    }
    setCookie(request, reply, opened.secret)
    return reply.redirect('/', 303)
  })
}
