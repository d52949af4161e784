import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { InProcessLockService, LockUnavailableError, RedisLockService, withLock } from '../src/index.ts'

const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'
const services: { close(): Promise<void> }[] = []
const redisLocks = () => {
  const service = new RedisLockService({ redis: REDIS_URL })
  services.push(service)
  return service
}
const lockName = () => `test:lock:${randomBytes(4).toString('hex')}`

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
