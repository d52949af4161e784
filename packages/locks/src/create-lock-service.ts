import { InProcessLockService } from './in-process-lock-service.ts'
import { type LockLogger, RedisLockService } from './redis-lock-service.ts'

/**
 * An app's lock service from its configuration: Redis when REDIS_URL is set, with the deployment's
 * REDIS_KEY_PREFIX before every key it takes, else in-process (embedded mode, one process). Every
 * app builds its locks here, so that the API's refresh mutation and the refresher take the very
 * same key, `redisKey(REDIS_KEY_PREFIX, LOCK_NAMES.aggregateRefresh)`, and exclude each other.
 */
export function createLockService(options: {
  redisUrl: string | undefined
  /** REDIS_KEY_PREFIX ('' for none). */
  keyPrefix: string
  logger?: LockLogger
}): RedisLockService | InProcessLockService {
  if (!options.redisUrl) return new InProcessLockService()
  return new RedisLockService({
    redis: options.redisUrl,
    keyPrefix: options.keyPrefix,
    ...(options.logger ? { logger: options.logger } : {}),
  })
}
