import { isIPv6 } from 'node:net'
import type { Redis } from 'ioredis'

/** What a window holds for one client address. */
export interface AddressCount {
  count: number
  /** Until the window ends. */
  ttlMs: number
}

export interface AddressCounterStore {
  read(key: string): Promise<AddressCount>
  add(key: string, windowMs: number): Promise<void>
}

/** Per process; bounded, the oldest addresses forgotten first. */
export class MemoryAddressCounters implements AddressCounterStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>()
  readonly #maxEntries: number

  constructor(maxEntries = 10_000) {
    this.#maxEntries = maxEntries
  }

  async read(key: string): Promise<AddressCount> {
    const window = this.#windows.get(key)
    const now = Date.now()
    if (!window || window.endsAt <= now) return { count: 0, ttlMs: 0 }
    return { count: window.count, ttlMs: window.endsAt - now }
  }

  async add(key: string, windowMs: number): Promise<void> {
    const now = Date.now()
    const window = this.#windows.get(key)
    if (window && window.endsAt > now) {
      window.count++
      return
    }
    this.#windows.delete(key)
    this.#windows.set(key, { count: 1, endsAt: now + windowMs })
    if (this.#windows.size > this.#maxEntries) {
      const oldest = this.#windows.keys().next().value
      if (oldest !== undefined) this.#windows.delete(oldest)
    }
  }
}

// The window starts with the first count; later counts leave its end where it is.
const ADD = `local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`

/** Shared by every replica, like the per-token counters; fails open when Redis does not answer. */
export class RedisAddressCounters implements AddressCounterStore {
  readonly #redis: Redis
  readonly #prefix: string

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  async read(key: string): Promise<AddressCount> {
    try {
      const [count, ttl] = await Promise.all([
        this.#redis.get(this.#prefix + key),
        this.#redis.pttl(this.#prefix + key),
      ])
      return { count: Number(count ?? 0), ttlMs: Math.max(0, ttl) }
    } catch {
      return { count: 0, ttlMs: 0 }
    }
  }

  async add(key: string, windowMs: number): Promise<void> {
    try {
      await this.#redis.eval(ADD, 1, this.#prefix + key, windowMs)
    } catch {
      // Failing open, as the per-token limit does (skipOnError).
    }
  }
}

/** One key per IPv4 address, per /64 for IPv6 (a single host usually holds a whole /64). */
export function addressKey(ip: string): string {
  if (!isIPv6(ip)) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped) return mapped[1]!
  const [head = '', tail = ''] = ip.toLowerCase().split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/**
 * Requests that carry no valid token, counted per client address: once an address has made `max`
 * of them in a window, its requests without a token this process knows to be valid are refused
 * before any token is looked up. A flood of guessed tokens then costs one counter read each.
 */
export class UnauthenticatedLimit {
  readonly #store: AddressCounterStore
  readonly #max: number
  readonly #windowMs: number

  constructor(options: { store: AddressCounterStore; max: number; windowMs: number }) {
    this.#store = options.store
    this.#max = options.max
    this.#windowMs = options.windowMs
  }

  /** Seconds until the address may try again, or 0 while it has attempts left. */
  async retryAfterSeconds(ip: string): Promise<number> {
    const { count, ttlMs } = await this.#store.read(addressKey(ip))
    return count >= this.#max ? Math.max(1, Math.ceil(ttlMs / 1000)) : 0
  }

  async count(ip: string): Promise<void> {
    await this.#store.add(addressKey(ip), this.#windowMs)
  }
}

/**
 * The API's limit of requests without valid credentials per address: one instance for every route
 * that authenticates (/graphql, /session, /export), so each attempt counts wherever it is made.
 */
export function createUnauthenticatedLimit(options: {
  max: number
  windowMs: number
  /** Counters shared by every replica under this key prefix; per process when left out. */
  redis?: { client: Redis; prefix: string } | undefined
}): UnauthenticatedLimit {
  return new UnauthenticatedLimit({
    store: options.redis
      ? new RedisAddressCounters(options.redis.client, options.redis.prefix)
      : new MemoryAddressCounters(),
    max: options.max,
    windowMs: options.windowMs,
  })
}
