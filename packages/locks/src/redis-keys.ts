/**
 * Every Redis key of every app is named here and prefixed in one place, so two deployments sharing
 * one Redis (REDIS_KEY_PREFIX) share nothing: not the import lock, not the refresh lock, not the
 * rate-limit counters.
 */

/**
 * Key namespaces that are not locks: the API's rate-limit counters (`@fastify/rate-limit` appends
 * the client key to its `nameSpace`).
 */
export const REDIS_NAMESPACES = {
  apiRateLimit: 'tracker-api-ratelimit:',
} as const

/**
 * The one way to name a Redis key: the deployment's prefix (REDIS_KEY_PREFIX, used as given, e.g.
 * `prod:`), then the name. An empty prefix leaves the name as it is.
 */
export function redisKey(prefix: string, name: string): string {
  return `${prefix}${name}`
}
