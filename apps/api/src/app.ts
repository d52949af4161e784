import cookie from '@fastify/cookie'
import {
  checkSealingKey,
  connectOptionsFromEnv,
  KeySealer,
  localStackKeyHint,
  type TrackerDatabase,
} from '@tracker/db'
import { HistoryEngine } from '@tracker/history'
import { type LockService, REDIS_NAMESPACES, redisKey } from '@tracker/locks'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { startHistoryChangeFeed } from './cache/change-feed.ts'
import { ChangeFeedCache } from './cache/change-feed-cache.ts'
import type { ApiConfig } from './env.ts'
import { graphqlPlugin } from './graphql/plugin.ts'
import type { CachedResponse } from './graphql/response-cache.ts'
import { createUnauthenticatedLimit } from './http/address-limit.ts'
import { createCredentialCheck, requestAuth } from './http/auth.ts'
import { exportRoutes } from './http/export.ts'
import { graphiqlRoutes } from './http/graphiql.ts'
import { healthRoutes } from './http/health.ts'
import { type ApiMetrics, createApiMetrics } from './http/metrics.ts'
import { requestIdOf } from './http/request-id.ts'
import { sessionRoutes } from './http/session-routes.ts'
import { webAppRoutes } from './http/web-app.ts'
import { LiveConnections } from './live/live-connections.ts'
import { LiveUpdates } from './live/live-updates.ts'
import type { HistoryPage } from './services/history.service.ts'
import { createServices, type Services } from './services/services.ts'

export interface ApiDeps {
  database: TrackerDatabase
  /**
   * Redis across replicas, in-process in embedded mode: /ready checks it answers. The refresh
   * mutation takes no lock of its own: the refresher it asks refreshes under the shared one.
   */
  locks: LockService
  logger: Logger
  config: ApiConfig
  /** Rate-limit counters shared by all replicas (the lock service's client); per process when left out. */
  rateLimitRedis?: Redis
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
    metrics: ApiMetrics
    /**
     * onRequest hook of every authenticated route: a bearer token or the web session cookie (see
     * http/auth.ts). Add it to a scope: `scope.addHook('onRequest', app.requestAuth)`.
     */
    requestAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** GraphQL subscriptions' notification fan-out and their sockets (tests and the bench look in). */
    live: { updates: LiveUpdates; connections: LiveConnections }
  }
}

/**
 * The API as a Fastify instance built from its dependencies, not listening: main.ts listens, tests
 * use inject(). Closing it stops what it started (lock waits, its routes); the database it was
 * given stays open.
 */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const { config } = deps
  // The API seals the keys that arrive through mutations to the public key, and can open none of
  // them. One that is not the public key the importer recorded would seal keys nobody can open:
  // refused at start. None recorded yet (the importer has not started once): sealing waits for it.
  const hint = localStackKeyHint(connectOptionsFromEnv(config.databaseEnv, 'API'), 'KEY_SEALING_PUBLIC_KEY')
  const sealer = KeySealer.fromPublicKey(config.keySealingPublicKey, 'KEY_SEALING_PUBLIC_KEY', hint)
  const sealing = await checkSealingKey(deps.database.db, sealer, { hint })
  deps.logger.info(
    { publicKey: sealer.fingerprint, recorded: sealing === 'matched' },
    'sealing tracker keys to KEY_SEALING_PUBLIC_KEY',
  )
  if (sealing === 'not_recorded') {
    deps.logger.warn(
      'no public key is recorded for tracker keys yet: keys are not stored until the importer has started once (it records the public key of its KEY_SEALING_PRIVATE_KEY)',
    )
  }
  if (config.legacyKeyInEnvironment) {
    deps.logger.warn(
      'KEY_ENCRYPTION_KEY is set in the environment, but the API does not read it: remove it from the API (only `keys reseal` and, until then, the importer use it)',
    )
  }
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: requestIdOf,
    bodyLimit: config.limits.bodyLimitBytes,
    return503OnClosing: true,
    logController: new Fastify.LogController({ disableRequestLogging: !config.requestLogging }),
    // X-Forwarded-Proto/-Host/-For are believed only from the proxies API_TRUST_PROXY names.
    // (a hop count is documented, and handled by proxy-addr, but missing from this overload's type)
    trustProxy: config.trustProxy as boolean | string,
  }) as unknown as FastifyInstance

  const shutdown = new AbortController()
  // preClose: before in-flight requests are awaited, so a mutation waiting for the refresher ends now.
  app.addHook('preClose', async () => shutdown.abort())
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  const metrics = createApiMetrics()
  // History pages and whole history-only responses: both serve only while the change feed is
  // connected, and both forget everything on each change.
  const historyPages = new ChangeFeedCache<HistoryPage>({
    ttlMs: config.historyCache.ttlMs,
    maxWeight: config.historyCache.maxPoints,
  })
  const responses = new ChangeFeedCache<CachedResponse>({
    ttlMs: config.historyCache.ttlMs,
    maxWeight: config.historyCache.maxBytes,
  })
  const historyCaches = [historyPages, responses]
  const history = await HistoryEngine.open({
    database: deps.database,
    retention: config.retention,
    logger: deps.logger.child({ component: 'history' }),
  })
  const services = createServices({
    database: deps.database,
    history,
    config,
    sealer,
    logger: deps.logger,
    shutdown: shutdown.signal,
    historyCache: historyPages,
    onHistoryCacheLookup: (result) => metrics.historyCacheLookups.inc({ cache: 'page', result }),
    onHistoryRefreshed: () => {
      for (const cache of historyCaches) cache.invalidate()
    },
  })
  if (config.historyCache.ttlMs > 0) {
    const feed = startHistoryChangeFeed(deps.database, historyCaches, deps.logger)
    app.addHook('onClose', () => feed.close())
  }
  // After the last request: what tokens and sessions were used since the last write is written now.
  app.addHook('onClose', () => services.lastUse.close())
  app.addHook('onClose', () => services.refreshRequester.close())
  app.decorate('services', services)
  app.decorate('metrics', metrics)

  // Credentials: a bearer token or the web session's cookie, on every route that needs them; failed
  // attempts anywhere (GraphQL, /session, /sign-in, exports) count against one per-address limit.
  await app.register(cookie)
  app.decorateRequest('apiToken', undefined)
  const unauthenticated = createUnauthenticatedLimit({
    max: config.rateLimit.unauthenticatedMax,
    windowMs: config.rateLimit.windowMs,
    redis: deps.rateLimitRedis && {
      client: deps.rateLimitRedis,
      prefix: `${redisKey(config.redisKeyPrefix, REDIS_NAMESPACES.apiRateLimit)}unauthenticated:`,
    },
  })
  const credentialCheck = createCredentialCheck({
    tokens: services.tokens,
    sessions: services.sessions,
    limit: unauthenticated,
  })
  app.decorate('requestAuth', requestAuth(credentialCheck))

  // Subscriptions: one listener per channel for the whole process, fanned out to every socket.
  const liveUpdates = new LiveUpdates({
    database: deps.database,
    loadTrackers: async (ids) =>
      ids
        ? (await services.trackers.byIds(ids)).filter((tracker) => tracker !== null)
        : services.trackers.all(),
    logger: deps.logger.child({ component: 'live-updates' }),
  })
  const liveConnections = new LiveConnections({
    db: deps.database.db,
    limits: config.subscriptions,
    logger: deps.logger.child({ component: 'live-connections' }),
  })
  // Revoked or signed out here: its sockets close at once; elsewhere: at the next check, within
  // API_TOKEN_CACHE_TTL, as long as any request of that token may still pass.
  services.tokens.onRevoked((tokenId) => liveConnections.closeToken(tokenId))
  services.sessions.onSignedOut((hash) => liveConnections.closeSession(hash))
  liveUpdates.start()
  liveConnections.startRechecks(config.auth.tokenCacheTtlMs)
  app.addHook('preClose', async () => liveConnections.stop())
  app.addHook('onClose', () => liveUpdates.close())
  app.decorate('live', { updates: liveUpdates, connections: liveConnections })

  // Outside the GraphQL scope: no route here gets an error the client should not see unmasked.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(status).send({ error: 'Internal server error', requestId: request.id })
    }
    return reply.code(status).send({ error: error.message, requestId: request.id })
  })
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: `No route ${request.method} ${request.url.split('?')[0]}`, requestId: request.id }),
  )

  await app.register(healthRoutes, { database: deps.database, locks: deps.locks, metrics })
  if (config.graphiql) await app.register(graphiqlRoutes, { graphqlPath: '/graphql' })
  await app.register(sessionRoutes, { sessions: services.sessions, limit: unauthenticated })
  await app.register(webAppRoutes, { web: config.web, logger: deps.logger })
  await app.register(graphqlPlugin, {
    services,
    responses,
    config,
    metrics,
    rateLimitRedis: deps.rateLimitRedis,
    auth: app.requestAuth,
    live: { check: credentialCheck, updates: liveUpdates, connections: liveConnections },
  })
  await app.register(exportRoutes, {
    exports: services.exports,
    config,
    auth: app.requestAuth,
    rateLimitRedis: deps.rateLimitRedis,
    // Each export holds a pooled connection while it streams: half the pool at most.
    maxConcurrent: Math.max(1, Math.floor(Number(config.databaseEnv.API_DB_POOL_SIZE ?? 10) / 2)),
  })
  return app
}
