import rateLimit from '@fastify/rate-limit'
import { REDIS_NAMESPACES, redisKey } from '@tracker/locks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Location } from 'graphql'
import type { Redis } from 'ioredis'
import mercurius, { type IResolvers, type MercuriusLoaders } from 'mercurius'
import type { ChangeFeedCache } from '../cache/change-feed-cache.ts'
import type { ApiConfig } from '../env.ts'
import { ApiError, RateLimitedError } from '../errors.ts'
import type { ApiMetrics } from '../http/metrics.ts'
import type { Services } from '../services/services.ts'
import type { GraphQLContext } from './context.ts'
import { createErrorFormatter } from './error-formatter.ts'
import { loaders } from './loaders.ts'
import { operationLabel } from './operation-label.ts'
import { requestChecks, requestedOperationName } from './request-checks.ts'
import { resolvers } from './resolvers.ts'
import { type CachedResponse, responseCache } from './response-cache.ts'
import { typeDefs } from './schema.ts'
import {
  argumentNamesRule,
  complexityLimitRule,
  depthLimitRule,
  noNulCharacterRule,
} from './validation-rules.ts'

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
}

/**
 * /graphql in its own encapsulated scope: authentication (bearer token or session cookie, with the
 * per-address limit of requests without valid credentials) and the per-token rate limit apply here.
 */
export async function graphqlPlugin(scope: FastifyInstance, options: GraphQLPluginOptions): Promise<void> {
  const { services, config, metrics } = options
  scope.decorateRequest('graphqlOperation', undefined)
  scope.addHook('onRequest', options.auth)
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

  const mercuriusOptions = {
    schema: typeDefs,
    resolvers: resolvers as IResolvers,
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
    validationRules: [
      argumentNamesRule,
      noNulCharacterRule,
      depthLimitRule(config.limits.maxDepth),
      complexityLimitRule({
        maxComplexity: config.limits.maxComplexity,
        defaultListSize: (field) =>
          field.name.startsWith('locationHistory')
            ? config.history.maxPoints
            : config.pagination.defaultPageSize,
        maxListSize: (field) =>
          field.name.startsWith('locationHistory') ? config.history.maxPoints : config.pagination.maxPageSize,
        assumedListSize: 10,
      }),
    ],
    graphql: { parseOptions: { maxTokens: config.limits.maxTokens } },
  }
  await scope.register(mercurius, mercuriusOptions as Parameters<typeof mercurius>[1])

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
