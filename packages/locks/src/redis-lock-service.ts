import { ExecutionError, type Lock, Redlock, ResourceLockedError } from '@sesamecare-oss/redlock'
import { Redis } from 'ioredis'
import { type HeldLock, type LockService, LockUnavailableError } from './lock-service.ts'
import { redisKey } from './redis-keys.ts'

export interface LockLogger {
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/**
 * An ioredis client that fails fast while Redis is unreachable (no offline queue) and keeps
 * reconnecting in the background, so callers can skip work instead of hanging on it.
 */
export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(250 * 2 ** attempt, 5_000),
    lazyConnect: false,
  })
}

export interface RedisLockServiceOptions {
  /** A client to share (left open by close()), or a URL to connect to (closed by close()). */
  redis: Redis | string
  logger?: LockLogger
  /**
   * The deployment's REDIS_KEY_PREFIX: every lock name this service is given becomes
   * `redisKey(keyPrefix, name)` in Redis, and `key(name)` names any other key the same way.
   * Default '' (names used as they are).
   */
  keyPrefix?: string
}

/**
 * Redlock over one Redis (the maintained @sesamecare-oss fork: redlock v5 never left beta and has
 * open ioredis-5 issues). Acquisition never waits: the work is skipped if someone else holds it.
 * A held lock is extended every ttl/3 until released.
 */
export class RedisLockService implements LockService {
  readonly kind = 'redis'
  readonly redis: Redis
  readonly keyPrefix: string
  readonly #redlock: Redlock
  readonly #logger: LockLogger | undefined
  readonly #ownsClient: boolean

  constructor(options: RedisLockServiceOptions) {
    this.keyPrefix = options.keyPrefix ?? ''
    this.#ownsClient = typeof options.redis === 'string'
    this.redis = typeof options.redis === 'string' ? createRedisClient(options.redis) : options.redis
    // Without an error listener an unreachable Redis would crash the process.
    if (this.#ownsClient) this.redis.on('error', () => {})
    this.#logger = options.logger
    this.#redlock = new Redlock([this.redis], { retryCount: 0, driftFactor: 0.01 })
    this.#redlock.on('error', () => {})
  }

  /** The Redis key of `name` in this deployment (its prefix, then the name). */
  key(name: string): string {
    return redisKey(this.keyPrefix, name)
  }

  /** `name` is the unprefixed name (e.g. LOCK_NAMES.import); the key taken in Redis is `key(name)`. */
  async tryAcquire(name: string, ttlMs: number): Promise<HeldLock | null> {
    const key = this.key(name)
    await waitUntilReady(this.redis, key)
    let lock: Lock
    try {
      lock = await this.#redlock.acquire([key], ttlMs)
    } catch (error) {
      if (await isLockedByOther(error)) return null
      throw new LockUnavailableError(`Redis lock "${key}" unavailable: ${describe(error)}`, { cause: error })
    }
    return this.#hold(name, key, lock, ttlMs)
  }

  async ping(): Promise<void> {
    await waitUntilReady(this.redis, 'ping')
    try {
      await this.redis.ping()
    } catch (error) {
      throw new LockUnavailableError(`Redis does not answer: ${describe(error)}`, { cause: error })
    }
  }

  #hold(name: string, key: string, acquired: Lock, ttlMs: number): HeldLock {
    const controller = new AbortController()
    let lock = acquired
    let released = false
    let extending: Promise<void> = Promise.resolve()
    const timer = setInterval(
      () => {
        extending = lock.extend(ttlMs).then(
          (extended) => {
            lock = extended
          },
          (error) => {
            // Still ours if a later extension works, but only while the old TTL lasts.
            if (Date.now() >= lock.expiration) {
              clearInterval(timer)
              this.#logger?.error(
                { lock: key, err: error },
                'lock lost: could not extend it before it expired',
              )
              controller.abort(new LockUnavailableError(`lock "${key}" was lost`, { cause: error }))
            } else {
              this.#logger?.warn({ lock: key, err: error }, 'lock extension failed; retrying')
            }
          },
        )
      },
      Math.max(50, Math.floor(ttlMs / 3)),
    )
    timer.unref()
    return {
      name,
      signal: controller.signal,
      release: async () => {
        if (released) return
        released = true
        clearInterval(timer)
        await extending
        try {
          await lock.release()
        } catch (error) {
          // It expires by itself after its TTL; nothing else to do.
          this.#logger?.warn({ lock: key, err: error }, 'could not release lock; it will expire')
        }
      },
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.redis.disconnect()
  }
}

/**
 * With the offline queue off, a command sent before the connection is ready fails at once: give a
 * (re)connecting client a moment, then report the backend unavailable.
 */
export async function waitUntilReady(redis: Redis, what: string, timeoutMs = 2_000): Promise<void> {
  if (redis.status === 'ready') return
  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()))
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref())
  if ((await Promise.race([ready, timeout])) === 'timeout') {
    throw new LockUnavailableError(`Redis is not reachable (status ${redis.status}) for "${what}"`)
  }
}

async function isLockedByOther(error: unknown): Promise<boolean> {
  if (!(error instanceof ExecutionError)) return false
  for (const attempt of error.attempts) {
    const stats = await attempt
    const against = [...stats.votesAgainst.values()]
    if (against.length > 0 && against.every((e) => e instanceof ResourceLockedError)) return true
  }
  return false
}

function describe(error: unknown): string {
  if (error instanceof ExecutionError) return 'no quorum (Redis unreachable?)'
  return (error as Error)?.message ?? String(error)
}
