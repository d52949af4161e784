import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  InProcessLockService,
  LOCK_NAMES,
  LockUnavailableError,
  RedisLockService,
  redisKey,
  withLock,
} from '../src/index.ts'
import { TcpProxy } from '../src/testing/index.ts'

const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'
const services: { close(): Promise<void> }[] = []
const redisLocks = (options: { keyPrefix?: string; url?: string } = {}) => {
  const service = new RedisLockService({ redis: options.url ?? REDIS_URL, ...options })
  services.push(service)
  return service
}
const lockName = () => `test:lock:${randomBytes(4).toString('hex')}`
const prefix = () => `test-${randomBytes(4).toString('hex')}:`
// A plain client to look at the keys themselves.
const inspector = new Redis(REDIS_URL)
afterAll(() => inspector.quit())

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()))
})

describe('RedisLockService against the real Redis', () => {
  it('gives a lock to one holder at a time and frees it on release', async () => {
    const [a, b] = [redisLocks(), redisLocks()]
    const name = lockName()
    const held = await a.tryAcquire(name, 5_000)
    expect(held).not.toBeNull()
    expect(await b.tryAcquire(name, 5_000)).toBeNull()
    await held!.release()
    const second = await b.tryAcquire(name, 5_000)
    expect(second).not.toBeNull()
    await second!.release()
  })

  it('a holder that dies stops blocking after the TTL', async () => {
    const [a, b] = [redisLocks(), redisLocks()]
    const name = lockName()
    const held = await a.tryAcquire(name, 400)
    expect(held).not.toBeNull()
    // The holder's process dies: no more extensions, no release.
    await a.close()
    expect(await b.tryAcquire(name, 400)).toBeNull()
    await sleep(700)
    const taken = await b.tryAcquire(name, 400)
    expect(taken).not.toBeNull()
    await taken!.release()
  })

  it('keeps the lock through work much longer than its TTL', async () => {
    const [a, b] = [redisLocks(), redisLocks()]
    const name = lockName()
    const attempts: (boolean | null)[] = []
    const outcome = await withLock(a, name, 300, async (signal) => {
      for (let i = 0; i < 5; i++) {
        await sleep(250)
        const other = await b.tryAcquire(name, 300)
        attempts.push(other !== null)
        await other?.release()
      }
      return signal.aborted
    })
    expect(outcome).toEqual({ acquired: true, value: false })
    expect(attempts).toEqual([false, false, false, false, false])
    const after = await b.tryAcquire(name, 300)
    expect(after).not.toBeNull()
    await after!.release()
  })

  it('says the backend is unavailable (not "taken") when Redis cannot be reached', async () => {
    const service = new RedisLockService({ redis: 'redis://127.0.0.1:1' })
    services.push(service)
    await expect(service.tryAcquire(lockName(), 1_000)).rejects.toBeInstanceOf(LockUnavailableError)
  })
})

describe('REDIS_KEY_PREFIX: one prefix for every key', () => {
  it('a prefixed service takes its locks under the prefix; another deployment is not blocked', async () => {
    const [p, q] = [prefix(), prefix()]
    const name = lockName()
    const [first, sameDeployment, otherDeployment] = [
      redisLocks({ keyPrefix: p }),
      redisLocks({ keyPrefix: p }),
      redisLocks({ keyPrefix: q }),
    ]
    const held = await first.tryAcquire(name, 5_000)
    expect(held).not.toBeNull()
    expect(held!.name).toBe(name)
    expect(first.key(name)).toBe(`${p}${name}`)
    expect(await inspector.exists(`${p}${name}`)).toBe(1)
    expect(await inspector.exists(name)).toBe(0)
    expect(await sameDeployment.tryAcquire(name, 5_000)).toBeNull()
    const other = await otherDeployment.tryAcquire(name, 5_000)
    expect(other).not.toBeNull()
    await Promise.all([held!.release(), other!.release()])
    expect(await inspector.exists(`${p}${name}`)).toBe(0)
  })

  it('without a prefix the names are the keys, as before', async () => {
    const name = lockName()
    const plain = redisLocks()
    expect(plain.key(LOCK_NAMES.import)).toBe('tracker:import_lock')
    expect(redisKey('', LOCK_NAMES.aggregateRefresh)).toBe('location_history:aggregate_refresh_lock')
    // The refresher prefixes its own names today: the same key as a prefixed service takes.
    const p = prefix()
    const held = await plain.tryAcquire(redisKey(p, name), 5_000)
    expect(await inspector.exists(`${p}${name}`)).toBe(1)
    expect(await redisLocks({ keyPrefix: p }).tryAcquire(name, 5_000)).toBeNull()
    await held!.release()
  })
})

describe('Redis cut and restored (TCP proxy)', () => {
  it('reports the backend unavailable while cut, and takes locks again once it is back', async () => {
    const url = new URL(REDIS_URL)
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 6379) })
    await proxy.start()
    try {
      const locks = redisLocks({ url: `redis://127.0.0.1:${proxy.port}` })
      await locks.ping()
      await proxy.cut()
      await expect(locks.ping()).rejects.toBeInstanceOf(LockUnavailableError)
      await expect(locks.tryAcquire(lockName(), 1_000)).rejects.toThrow(/not reachable/)
      await proxy.restore()
      await expect
        .poll(
          () =>
            locks.ping().then(
              () => true,
              () => false,
            ),
          { timeout: 15_000 },
        )
        .toBe(true)
      const held = await locks.tryAcquire(lockName(), 1_000)
      expect(held).not.toBeNull()
      await held!.release()
    } finally {
      await proxy.close()
    }
  })
})

describe('InProcessLockService', () => {
  it('serializes holders of one name and leaves other names free', async () => {
    const locks = new InProcessLockService()
    const first = await locks.tryAcquire('a')
    expect(await locks.tryAcquire('a')).toBeNull()
    const other = await locks.tryAcquire('b')
    expect(other).not.toBeNull()
    await first!.release()
    expect(await withLock(locks, 'a', 1_000, async () => 42)).toEqual({ acquired: true, value: 42 })
    expect(locks.isHeld('a')).toBe(false)
  })

  it('releases when the work throws', async () => {
    const locks = new InProcessLockService()
    await expect(
      withLock(locks, 'a', 1_000, async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(locks.isHeld('a')).toBe(false)
  })
})
