import { waitUntilReady } from '@tracker/locks'
import type { Redis } from 'ioredis'

/**
 * When the periodic refresh last ran, shared by every replica. Redis is also the clock, so replicas
 * whose clocks disagree still agree on whether a period has passed.
 */
export interface LastRefreshStore {
  readonly kind: 'redis' | 'memory'
  /** Milliseconds since the epoch, by the shared clock. */
  now(): Promise<number>
  get(): Promise<number | null>
  set(atMs: number, ttlMs: number): Promise<void>
}

/**
 * The seed's key and format (seconds since the epoch as a decimal string, expiring after two
 * periods), so its troubleshooting steps and a seed refresher running alongside still agree.
 */
export class RedisLastRefreshStore implements LastRefreshStore {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #key: string

  constructor(redis: Redis, key: string) {
    this.#redis = redis
    this.#key = key
  }

  async now(): Promise<number> {
    await waitUntilReady(this.#redis, this.#key)
    const [seconds, micros] = await this.#redis.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  async get(): Promise<number | null> {
    await waitUntilReady(this.#redis, this.#key)
    const value = await this.#redis.get(this.#key)
    const seconds = value === null ? Number.NaN : Number(value)
    return Number.isFinite(seconds) ? Math.round(seconds * 1000) : null
  }

  async set(atMs: number, ttlMs: number): Promise<void> {
    await waitUntilReady(this.#redis, this.#key)
    await this.#redis.set(this.#key, String(atMs / 1000), 'PX', Math.max(1, Math.round(ttlMs)))
  }
}

/** Embedded mode: one process, so the time of the last refresh lives in memory. */
export class MemoryLastRefreshStore implements LastRefreshStore {
  readonly kind = 'memory'
  #at: number | null = null

  async now(): Promise<number> {
    return Date.now()
  }

  async get(): Promise<number | null> {
    return this.#at
  }

  async set(atMs: number): Promise<void> {
    this.#at = atMs
  }
}
