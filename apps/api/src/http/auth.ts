import type { FastifyReply, FastifyRequest } from 'fastify'
import { UnauthenticatedError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import type { TokenAuthenticator } from '../services/api-tokens.ts'

declare module 'fastify' {
  interface FastifyRequest {
    apiToken: AuthenticatedToken | undefined
  }
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]{1,200})[ \t]*$/i

/**
 * onRequest hook of the GraphQL routes: a valid, unrevoked bearer token or 401. The GraphiQL page
 * itself (served only when enabled) is open; the queries it sends need a token like any other.
 */
export function bearerAuth(authenticator: TokenAuthenticator) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.url.startsWith('/graphiql')) return
    const header = request.headers.authorization
    const challenge = () => reply.header('www-authenticate', 'Bearer realm="tracker"')
    if (!header) {
      challenge()
      throw new UnauthenticatedError('Missing API token: send the header "Authorization: Bearer <token>"')
    }
    const match = BEARER.exec(header)
    if (!match) {
      challenge()
      throw new UnauthenticatedError('Malformed Authorization header: expected "Bearer <token>"')
    }
    const token = await authenticator.authenticate(match[1]!)
    if (!token) {
      challenge()
      throw new UnauthenticatedError('Invalid or revoked API token')
    }
    request.apiToken = token
  }
}
