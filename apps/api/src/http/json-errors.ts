import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.ts'

/**
 * The error answer of the plain JSON routes (/session, /sign-in, the web app's):
 * `{ error, code, requestId }`. A client's mistake keeps its message; anything else is masked
 * and logged with the request id.
 */
export function jsonErrors(scope: FastifyInstance): void {
  scope.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ApiError) {
      return reply
        .code(error.statusCode ?? 400)
        .send({ error: error.message, code: error.code, ...error.extensions, requestId: request.id })
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return reply
        .code(500)
        .send({ error: 'Internal server error', code: 'INTERNAL_SERVER_ERROR', requestId: request.id })
    }
    // Fastify's own: a body that is not JSON, too large, of another media type.
    return reply.code(status).send({ error: error.message, code: 'BAD_REQUEST', requestId: request.id })
  })
}
