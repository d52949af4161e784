/**
 * One-at-a-time work across every replica of an app (Redis) or inside one process (embedded mode).
 * A held lock is extended while its work runs, so a long job never loses it half way; if it is lost
 * anyway (Redis gone for longer than the TTL), `signal` aborts and the work should stop.
 */
export interface HeldLock {
  readonly name: string
  /** Aborted when the lock could not be extended and exclusivity is no longer guaranteed. */
  readonly signal: AbortSignal
  release(): Promise<void>
}

export type LockOutcome<T> = { acquired: true; value: T } | { acquired: false; holder?: string }

export interface LockService {
  readonly kind: 'redis' | 'in-process'
  /** Takes the lock if it is free, without waiting. null: someone else holds it. */
  tryAcquire(name: string, ttlMs: number): Promise<HeldLock | null>
  /** Resolves when the backend answers; throws LockUnavailableError when it cannot be reached. */
  ping?(): Promise<void>
  close(): Promise<void>
}

/** The lock backend cannot be reached: not the same as the lock being taken. */
export class LockUnavailableError extends Error {
  readonly code = 'LOCK_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Runs `fn` holding `name`; `{ acquired: false }` when another holder has it. Always releases. */
export async function withLock<T>(
  locks: LockService,
  name: string,
  ttlMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<LockOutcome<T>> {
  const lock = await locks.tryAcquire(name, ttlMs)
  if (!lock) return { acquired: false }
  try {
    return { acquired: true, value: await fn(lock.signal) }
  } finally {
    await lock.release()
  }
}

/**
 * Lock and key names shared by the apps, before the deployment's prefix (`redisKey`; a
 * RedisLockService built with `keyPrefix` applies it to every name it is given). The refresh names
 * are the seed's, so its troubleshooting steps (`redis-cli keys "location_history:*"`, prefixed)
 * still apply.
 */
export const LOCK_NAMES = {
  aggregateRefresh: 'location_history:aggregate_refresh_lock',
  lastAggregateRefresh: 'location_history:last_aggregate_refresh',
  import: 'tracker:import_lock',
} as const
