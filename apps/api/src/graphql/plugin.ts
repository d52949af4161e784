import rateLimit from '@fastify/rate-limit'
import websocket from '@fastify/websocket'
import { REDIS_NAMESPACES, redisKey } from '@tracker/locks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GraphQLError, Location, specifiedRules, validate } from 'graphql'
import type { Redis } from 'ioredis'
import mercurius, { type IResolvers, type MercuriusLoaders } from 'mercurius'
import type { WebSocketServer } from 'ws'
import type { ChangeFeedCache } from '../cache/change-feed-cache.ts'
import type { ApiConfig } from '../env.ts'
import { ApiError, RateLimitedError } from '../errors.ts'
import type { CredentialCheck } from '../http/auth.ts'
import type { ApiMetrics } from '../http/metrics.ts'
import type { LiveConnections } from '../live/live-connections.ts'
import type { LiveUpdates } from '../live/live-updates.ts'
import type { Services } from '../services/services.ts'
import type { GraphQLContext } from './context.ts'
import { createErrorFormatter } from './error-formatter.ts'
import { loaders } from './loaders.ts'
import { operationLabel } from './operation-label.ts'
import { requestChecks, requestedOperationName } from './request-checks.ts'
import { resolvers } from './resolvers.ts'
import { type CachedResponse, responseCache } from './response-cache.ts'
import { typeDefs } from './schema.ts'
import { subscriptionOptions, subscriptionResolvers } from './subscriptions.ts'
import {
  argumentNamesRule,
  complexityLimitRule,
  DATABASE_FIELD_COST,
  depthLimitRule,
  noNulCharacterRule,
  rootFieldLimitRule,
} from './validation-rules.ts'

/**
 * Fields below the root that run a query of their own for each parent (not through a loader):
 * they cost DATABASE_FIELD_COST each, as root fields do, so aliases of them cannot multiply queries.
 */
const PER_PARENT_QUERY_FIELDS = new Set(['Tracker.coverage', 'Tracker.coverageGaps', 'Tracker.polling'])

declare module 'fastify' {
  interface FastifyRequest {
    graphqlOperation: string | undefined
  }
}

export interface GraphQLPluginOptions {
  services: Services
  /** Whole responses of history-only queries (see response-cache.ts). */
  responses: ChangeFeedCache<CachedResponse>
  config: ApiConfig
  metrics: ApiMetrics
  /** Shared rate-limit counters across replicas; per process when left out. */
  rateLimitRedis?: Redis | undefined
  /** The onRequest hook that authenticates (http/auth.ts requestAuth: bearer token or session cookie). */
  auth: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** Subscriptions over WebSocket on /graphql: credentials checked in connection_init, fed by `updates`. */
  live: { check: CredentialCheck; updates: LiveUpdates; connections: LiveConnections }
}

/**
 * /graphql in its own encapsulated scope: authentication (bearer token or session cookie, with the
 * per-address limit of requests without valid credentials) and the per-token rate limit apply here.
 */
export async function graphqlPlugin(scope: FastifyInstance, options: GraphQLPluginOptions): Promise<void> {
  const { services, config, metrics } = options
  scope.decorateRequest('graphqlOperation', undefined)
  // @fastify/websocket registered here, not by Mercurius (which then uses it): its onRequest hook
  // marks upgrades (request.ws) before the one below runs, and its server is ours to watch (a
  // socket that never sends connection_init is closed).
  await scope.register(websocket, { options: { maxPayload: 1024 * 1024 } })
  // A WebSocket upgrade (subscriptions) authenticates in its connection_init message, where a
  // browser can put what it cannot put in the upgrade's headers; the upgrade's own header and cookie
  // are checked there too (see subscriptions.ts).
  scope.addHook('onRequest', async (request, reply) => {
    if ((request as FastifyRequest & { ws?: boolean }).ws) return
    return options.auth(request, reply)
  })
  // GraphQL over HTTP is JSON (or application/graphql); Fastify's text/plain parser would hand the
  // body on as a string, refused as "not an object" (400) where the media type is what is wrong (415).
  scope.removeContentTypeParser('text/plain')

  await scope.register(rateLimit, {
    global: true,
    // After authentication, so the limit is keyed by the token (its id, from its hash).
    hook: 'preHandler',
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    keyGenerator: (request: FastifyRequest) =>
      request.apiToken ? `token:${request.apiToken.id}` : `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => new RateLimitedError(Math.ceil(context.ttl / 1000)),
    ...(options.rateLimitRedis
      ? {
          redis: options.rateLimitRedis,
          nameSpace: redisKey(config.redisKeyPrefix, REDIS_NAMESPACES.apiRateLimit),
          skipOnError: true,
        }
      : {}),
  })

  const responses = responseCache(options.responses, (result) =>
    metrics.historyCacheLookups.inc({ cache: 'response', result }),
  )
  responses.routeHooks(scope)
  const checks = requestChecks({ maxTokens: config.limits.maxTokens })
  checks.routeHooks(scope)

  const roots = new Set(['Query', 'Mutation', 'Subscription'])
  const validationRules = [
    argumentNamesRule,
    noNulCharacterRule,
    depthLimitRule(config.limits.maxDepth),
    rootFieldLimitRule(config.limits.maxRootFields),
    complexityLimitRule({
      maxComplexity: config.limits.maxComplexity,
      defaultListSize: (field) =>
        field.name.startsWith('locationHistory')
          ? config.history.maxPoints
          : config.pagination.defaultPageSize,
      maxListSize: (field) =>
        field.name.startsWith('locationHistory') ? config.history.maxPoints : config.pagination.maxPageSize,
      assumedListSize: 10,
      // Every root field (each alias too) is a query of its own; so are the per-parent fields.
      databaseFieldCost: DATABASE_FIELD_COST,
      isDatabaseField: (parent, field) =>
        roots.has(parent.name) || PER_PARENT_QUERY_FIELDS.has(`${parent.name}.${field.name}`),
    }),
  ]
  const live = subscriptionOptions({
    services,
    check: options.live.check,
    updates: options.live.updates,
    connections: options.live.connections,
    keepAliveMs: config.subscriptions.keepAliveMs,
  })
  const { watchInitialisation, ...subscription } = live

  ;(scope as unknown as { websocketServer: WebSocketServer }).websocketServer.on(
    'connection',
    watchInitialisation,
  )

  const mercuriusOptions = {
    schema: typeDefs,
    resolvers: { ...resolvers, ...subscriptionResolvers } as IResolvers,
    subscription,
    loaders: loaders as unknown as MercuriusLoaders,
    // Served from the installed packages by http/graphiql.ts: Mercurius' page loads them from a CDN.
    graphiql: false,
    // Compile a query to JavaScript (graphql-jit) from its second execution: a history answer's
    // hundreds of leaf fields execute several times faster than through graphql-js's interpreter.
    jit: 1,
    path: '/graphql',
    context: (request: FastifyRequest): Partial<GraphQLContext> => ({
      services,
      token: request.apiToken,
      requestTime: new Date(),
      requestId: request.id,
      truncations: [],
    }),
    errorFormatter: createErrorFormatter({ errorsTotal: metrics.errorsTotal }),
    validationRules,
    graphql: { parseOptions: { maxTokens: config.limits.maxTokens } },
  }
  await scope.register(mercurius, mercuriusOptions as Parameters<typeof mercurius>[1])

  // Mercurius runs a subscription without validating it: the same rules as a query's, first.
  scope.graphql.addHook('preSubscriptionExecution', async (schema, document) => {
    const errors = validate(schema, document, [...specifiedRules, ...validationRules])
    const first = errors[0]
    if (first) {
      const own = first.extensions?.code
      throw new GraphQLError(first.message, {
        nodes: first.nodes ?? null,
        extensions: {
          ...first.extensions,
          code: typeof own === 'string' ? own : 'GRAPHQL_VALIDATION_FAILED',
        },
      })
    }
  })

  // Mercurius falls back to reading a query that is not GraphQL as a JSON-encoded AST ("5" becomes
  // the document 5, and validating that throws). Only documents our parser produced are accepted.
  scope.graphql.addHook('preValidation', async (_schema, document) => {
    if (!(document?.loc instanceof Location)) {
      throw new ApiError('GRAPHQL_PARSE_FAILED', 'query must be a GraphQL document', { statusCode: 400 })
    }
  })

  checks.graphqlHooks(scope)
  scope.graphql.addHook('preExecution', async (_schema, document, context) => {
    const request = context.reply.request
    request.graphqlOperation = operationLabel(document, requestedOperationName(request))
  })
  responses.graphqlHooks(scope)

  // The signal that a list was cut, for the fields whose shape (a plain list, as the seed has it)
  // has no room for one: extensions.truncated = [{ path, limit, endCursor }].
  scope.graphql.addHook('onResolution', async (execution, context) => {
    const truncations = (context as unknown as GraphQLContext).truncations
    if (truncations && truncations.length > 0) {
      metrics.historyTruncatedTotal.inc(truncations.length)
      const result = execution as { extensions?: Record<string, unknown> }
      result.extensions = { ...result.extensions, truncated: truncations }
    }
  })

  scope.addHook('onResponse', async (request, reply) => {
    metrics.requestDuration.observe(
      { operation: request.graphqlOperation ?? 'none', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
  })
}
