import type { FastifyRequest } from 'fastify'
import { GraphQLError } from 'graphql'
import type { WebSocket } from 'ws'
import { ApiError, NotFoundApiError } from '../errors.ts'
import type { CredentialCheck } from '../http/auth.ts'
import {
  CLOSE_FORBIDDEN,
  CLOSE_TOO_MANY,
  CLOSE_UNAUTHORIZED,
  type LiveConnection,
  type LiveConnections,
  TooManySubscriptionsError,
} from '../live/live-connections.ts'
import type { LiveUpdates } from '../live/live-updates.ts'
import { requireScope, requireTracker } from '../services/access.ts'
import { requireId } from '../services/input.ts'
import type { Services } from '../services/services.ts'
import { SESSION_COOKIE } from '../services/session.service.ts'
import type { GraphQLContext } from './context.ts'
import type { HistoryChangeResolvers, SubscriptionResolvers } from './schema.generated.ts'

/** What a subscription's context carries besides the usual: this process's live updates and the socket. */
export interface LiveContext {
  updates: LiveUpdates
  connections: LiveConnections
  connection: LiveConnection
}

/** A socket has this long to send connection_init (graphql-ws closes with 4408 likewise). */
const CONNECTION_INIT_WAIT_MS = 10_000
/** WebSocket close reasons are at most 123 bytes. */
const closeReason = (text: string) =>
  Buffer.from(text)
    .subarray(0, 123)
    .toString()
    .replace(/\uFFFD$/, '')

/**
 * The error a subscription start answers with: an ApiError keeps its code (extensions.code); anything
 * else is masked and logged, as the HTTP edge does.
 */
function clientError(error: unknown, log: (error: unknown) => void): GraphQLError {
  if (error instanceof ApiError) {
    return new GraphQLError(error.message, { extensions: { ...error.extensions, code: error.code } })
  }
  if (error instanceof TooManySubscriptionsError) {
    return new GraphQLError(error.message, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } })
  }
  log(error)
  return new GraphQLError('Internal server error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })
}

function liveOf(ctx: GraphQLContext): LiveContext {
  const live = (ctx as GraphQLContext & { live?: LiveContext }).live
  if (!live) throw new ApiError('UNAUTHENTICATED', 'Subscriptions need an authenticated WebSocket connection')
  return live
}

export const subscriptionResolvers: {
  Subscription: SubscriptionResolvers
  HistoryChange: HistoryChangeResolvers
} = {
  Subscription: {
    trackerUpdated: {
      async subscribe(_parent, args, ctx) {
        try {
          const { updates, connections, connection } = liveOf(ctx)
          requireScope(connection.token, 'read', 'trackerUpdated')
          const ids = args.trackerIds
            ? [...new Set(args.trackerIds.map((id) => requireId('tracker', id)))]
            : null
          for (const id of ids ?? []) requireTracker(connection.token, id, 'trackerUpdated')
          if (ids) {
            const found = await ctx.services.trackers.byIds(ids)
            const missing = ids.find((_id, i) => !found[i])
            if (missing) throw new NotFoundApiError('tracker', missing)
          }
          const release = connections.claimSubscription(connection)
          return updates.subscribeTrackers(
            ids,
            { visibleTrackers: () => connection.token.trackerIds },
            release,
          )
        } catch (error) {
          throw clientError(error, (err) => ctx.app.log.error({ err }, 'trackerUpdated failed to start'))
        }
      },
      // One subscription's context serves all its events: each event's status is as of now.
      resolve(tracker: unknown, _args: unknown, ctx: GraphQLContext) {
        ctx.requestTime = new Date()
        return tracker
      },
    } as SubscriptionResolvers['trackerUpdated'],
    historyChanged: {
      async subscribe(_parent, args, ctx) {
        try {
          const { updates, connections, connection } = liveOf(ctx)
          requireScope(connection.token, 'read', 'historyChanged')
          const id = requireId('tracker', args.trackerId)
          requireTracker(connection.token, id, 'historyChanged')
          const [found] = await ctx.services.trackers.byIds([id])
          if (!found) throw new NotFoundApiError('tracker', args.trackerId)
          const release = connections.claimSubscription(connection)
          return updates.subscribeHistory(id, release)
        } catch (error) {
          throw clientError(error, (err) => ctx.app.log.error({ err }, 'historyChanged failed to start'))
        }
      },
      resolve: (change: unknown) => change,
    } as SubscriptionResolvers['historyChanged'],
  },
  HistoryChange: {},
}

/** mercurius' SubscriptionConnection, as its onConnect sees itself (`this`): the socket and the upgrade request. */
interface MercuriusConnection {
  socket?: WebSocket
  context?: { request?: FastifyRequest }
}

function authorizationOf(payload: unknown): string | undefined {
  if (!payload || typeof payload !== 'object') return undefined
  const p = payload as Record<string, unknown>
  const headers = (p.headers && typeof p.headers === 'object' ? p.headers : {}) as Record<string, unknown>
  const value = p.authorization ?? p.Authorization ?? headers.authorization ?? headers.Authorization
  return typeof value === 'string' ? value : undefined
}

/**
 * Mercurius' `subscription` options: authentication in connection_init (the payload's
 * `authorization`, else the upgrade request's Authorization header, else its session cookie, from
 * this origin only), the per-token connection limit, and the socket's registration for revocation.
 * Refusals close the socket with graphql-ws' codes: 4401 (credentials refused), 4403 (a cookie
 * from another origin), 4429 (too many sockets for the token, or too many bad attempts).
 */
export function subscriptionOptions(options: {
  services: Services
  check: CredentialCheck
  updates: LiveUpdates
  connections: LiveConnections
  keepAliveMs: number
}) {
  const { check, updates, connections } = options
  const initialised = new WeakSet<WebSocket>()
  return {
    ...(options.keepAliveMs > 0 ? { keepAlive: options.keepAliveMs } : {}),
    context: (_socket: WebSocket, request: FastifyRequest): Partial<GraphQLContext> => ({
      services: options.services,
      requestTime: new Date(),
      requestId: request.id,
      truncations: [],
    }),
    // Mercurius calls onConnect as its connection's method: `this` holds the socket and the request.
    async onConnect(this: MercuriusConnection, data: { payload?: unknown }) {
      const socket = this?.socket
      const request = this?.context?.request
      if (!socket || !request) return false
      initialised.add(socket)
      const authorization = authorizationOf(data.payload) ?? request.headers.authorization
      const cookie = authorization ? undefined : request.cookies?.[SESSION_COOKIE]
      let authenticated: Awaited<ReturnType<CredentialCheck>>
      try {
        authenticated = await check({ ip: request.ip, authorization, cookie, request })
      } catch (error) {
        const code =
          error instanceof ApiError && error.code === 'CROSS_ORIGIN'
            ? CLOSE_FORBIDDEN
            : error instanceof ApiError && error.code === 'RATE_LIMITED'
              ? CLOSE_TOO_MANY
              : CLOSE_UNAUTHORIZED
        if (!(error instanceof ApiError))
          request.log.error({ err: error }, 'subscription authentication failed')
        const message = error instanceof ApiError ? error.message : 'Authentication failed'
        socket.close(code, closeReason(message))
        return false
      }
      const connection: LiveConnection = {
        token: authenticated.token,
        sessionHash: authenticated.sessionHash,
        subscriptions: 0,
        close(code, reason) {
          connections.remove(connection)
          socket.close(code, closeReason(reason))
        },
      }
      if (!connections.add(connection)) {
        socket.close(
          CLOSE_TOO_MANY,
          closeReason(
            'Too many subscription connections for this token (API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN)',
          ),
        )
        return false
      }
      const live: LiveContext = { updates, connections, connection }
      return { token: authenticated.token, live }
    },
    onDisconnect(context: { live?: LiveContext }) {
      if (context.live) connections.remove(context.live.connection)
    },
    /** Called for every new socket: one that never sends connection_init is closed (4408). */
    watchInitialisation(socket: WebSocket) {
      const timer = setTimeout(() => {
        if (!initialised.has(socket)) socket.close(4408, 'Connection initialisation timeout')
      }, CONNECTION_INIT_WAIT_MS)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    },
  }
}
