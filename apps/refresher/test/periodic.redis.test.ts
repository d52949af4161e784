import { setTimeout as sleep } from 'node:timers/promises'
import { testEnv } from '@tracker/db/testing'
import { LOCK_NAMES, RedisLockService } from '@tracker/locks'
import { TcpProxy } from '@tracker/locks/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type RunningRefresher, startRefresher } from '../src/index.ts'
import {
  createPlainHistoryDatabase,
  type PlainHistoryDatabase,
  refreshInFlight,
} from './helpers/plain-history-database.ts'
import { Recorder, testConfig, testLogger, uniqueKeyPrefix } from './helpers/refresher-harness.ts'

// The periodic path against the machine's real Redis (and the real PostgreSQL for the refreshes).
// Every test uses its own key prefix and deletes its keys afterwards.

let db: PlainHistoryDatabase
let prefix: string
let redis: Redis
const closers: (() => Promise<unknown>)[] = []

beforeAll(() => {
  redis = new Redis(testEnv.redisUrl)
})
afterAll(() => redis.quit())

beforeEach(async () => {
  db = await createPlainHistoryDatabase()
  prefix = uniqueKeyPrefix()
})

afterEach(async () => {
  // Refreshers first, then their lock services, then the database.
  for (const close of closers.splice(0).reverse()) await close()
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await db?.close()
})

const lockKey = () => `${prefix}${LOCK_NAMES.aggregateRefresh}`
const lastKey = () => `${prefix}${LOCK_NAMES.lastAggregateRefresh}`

function redisLocks(url = testEnv.redisUrl): RedisLockService {
  const locks = new RedisLockService({ redis: url, keyPrefix: prefix })
  closers.push(() => locks.close())
  return locks
}

async function startReplica(
  recorder: Recorder,
  env: Record<string, string>,
  locks = redisLocks(),
): Promise<RunningRefresher> {
  const refresher = await startRefresher({
    database: db.database,
    locks,
    logger: testLogger,
    config: testConfig({ REDIS_KEY_PREFIX: prefix, ...env }),
    hooks: recorder,
  })
  closers.push(() => refresher.stop())
  return refresher
}

const refreshedCycles = (...recorders: Recorder[]) =>
  recorders
    .flatMap((r) => r.cycles)
    .filter((c) => c.outcome === 'refreshed')
    .sort((a, b) => a.checkedAt.getTime() - b.checkedAt.getTime())

describe('the periodic refresh under the Redis lock', () => {
  it('after a restart /health shows when the last periodic refresh ran, from Redis', async () => {
    const first = await startReplica(new Recorder('a'), { PERIODIC_REFRESH_INTERVAL: '1 hour' })
    await expect.poll(() => first.health().periodic.lastOutcome).toBe('refreshed')
    const ranAt = first.health().periodic.lastRefreshedAt
    expect(ranAt).not.toBeNull()
    await first.stop()

    const restarted = await startReplica(new Recorder('b'), { PERIODIC_REFRESH_INTERVAL: '1 hour' })
    await expect.poll(() => restarted.health().periodic.lastOutcome).toBe('not_due')
    expect(restarted.health().periodic.lastRefreshedAt).toBe(ranAt)
  })

  it('two refreshers: exactly one periodic refresh per period between them', async () => {
    const [a, b] = [new Recorder('a'), new Recorder('b')]
    const env = { PERIODIC_REFRESH_INTERVAL: '1 second', PERIODIC_REFRESH_CHECK_INTERVAL: '50 ms' }
    await Promise.all([startReplica(a, env), startReplica(b, env)])
    await sleep(3_500)

    const cycles = refreshedCycles(a, b)
    // Every period produced a refresh, and never two within one period, whoever ran them.
    expect(cycles.length).toBeGreaterThanOrEqual(3)
    expect(cycles.length).toBeLessThanOrEqual(4)
    for (let i = 1; i < cycles.length; i++) {
      expect(cycles[i]!.checkedAt.getTime() - cycles[i - 1]!.checkedAt.getTime()).toBeGreaterThanOrEqual(
        1_000,
      )
    }
    // Both replicas were checking all along; the one that did not refresh was told why.
    for (const replica of [a, b]) {
      expect(replica.cycles.length).toBeGreaterThan(10)
      expect(
        replica.cycles.every((c) => ['refreshed', 'not_due', 'locked_elsewhere'].includes(c.outcome)),
      ).toBe(true)
    }
    // The seed's key and format: seconds since the epoch.
    const last = Number(await redis.get(lastKey()))
    expect(last * 1000).toBe(cycles.at(-1)!.checkedAt.getTime())
  })

  it('a lock holder that dies stops blocking once its lock expires', async () => {
    const holder = new RedisLockService({ redis: testEnv.redisUrl, keyPrefix: prefix })
    const held = await holder.tryAcquire(LOCK_NAMES.aggregateRefresh, 1_000)
    expect(held).not.toBeNull()
    const acquiredAt = Date.now()
    // The holder's process dies: no release, no more extensions.
    await holder.close()

    const recorder = new Recorder()
    await startReplica(recorder, {
      PERIODIC_REFRESH_INTERVAL: '1 hour',
      PERIODIC_REFRESH_CHECK_INTERVAL: '100 ms',
    })
    await expect.poll(() => refreshedCycles(recorder).length, { timeout: 10_000 }).toBe(1)

    const blocked = recorder.cycles.filter((c) => c.outcome === 'locked_elsewhere')
    expect(blocked.length).toBeGreaterThan(0)
    const refreshedAt = refreshedCycles(recorder)[0]!.checkedAt.getTime()
    expect(refreshedAt - acquiredAt).toBeGreaterThanOrEqual(1_000 - 50)
    expect(blocked.every((c) => c.checkedAt.getTime() < refreshedAt)).toBe(true)
  })

  it('a refresh much longer than the lock TTL keeps its lock to the end, then releases it', async () => {
    await db.setRefreshDelay(1.5)
    const [a, b] = [new Recorder('a'), new Recorder('b')]
    const env = {
      PERIODIC_REFRESH_INTERVAL: '1 hour',
      PERIODIC_REFRESH_CHECK_INTERVAL: '100 ms',
      // Extended every TTL/3: a second leaves room for a loaded machine's event-loop lag.
      REFRESH_LOCK_TTL: '1 second',
    }
    await startReplica(a, env)
    await expect.poll(() => redis.exists(lockKey())).toBe(1)
    const replicaB = await startReplica(b, env)

    // A's periodic refresh (a catch-up first, then its own: 3 s and more) outlives several TTLs.
    const held: boolean[] = []
    const deadline = Date.now() + 45_000
    while (refreshedCycles(a).length === 0) {
      if (Date.now() > deadline)
        throw new Error(`no periodic refresh by A: ${JSON.stringify(a.cycles.map((c) => c.outcome))}`)
      held.push((await redis.exists(lockKey())) === 1)
      await sleep(100)
    }
    expect(held.length).toBeGreaterThan(10)
    expect(held.every(Boolean)).toBe(true)
    expect(b.cycles.filter((c) => c.outcome === 'locked_elsewhere').length).toBeGreaterThan(5)
    expect(a.cycles.some((c) => c.outcome === 'cancelled')).toBe(false)

    // Released at the end; the next check finds the period already done.
    await expect.poll(() => redis.exists(lockKey())).toBe(0)
    expect(await replicaB.checkPeriodic()).toBe('not_due')
    expect(refreshedCycles(a, b)).toHaveLength(1)
  })

  it('on stop, a periodic refresh in flight is cancelled and its lock released at once, not at expiry', async () => {
    await db.setRefreshDelay(30)
    const recorder = new Recorder()
    const refresher = await startReplica(recorder, {
      PERIODIC_REFRESH_INTERVAL: '1 hour',
      REFRESH_LOCK_TTL: '20 seconds',
      SHUTDOWN_GRACE: '200 ms',
    })
    await expect.poll(() => redis.exists(lockKey())).toBe(1)
    await expect.poll(() => refreshInFlight(db)).toBe(true)
    await refresher.stop()
    expect(await redis.exists(lockKey())).toBe(0)
    expect(await redis.exists(lastKey())).toBe(0)
    expect(recorder.cycles.map((c) => c.outcome)).toEqual(['cancelled'])
    expect(await refreshInFlight(db)).toBe(false)
  })

  it('with Redis unreachable the LISTEN path goes on, and the periodic path resumes when Redis returns', async () => {
    const proxy = new TcpProxy({
      host: new URL(testEnv.redisUrl).hostname,
      port: Number(new URL(testEnv.redisUrl).port || 6379),
    })
    await proxy.start()
    closers.push(() => proxy.close())
    const url = new URL(testEnv.redisUrl)
    url.port = String(proxy.port)
    const locks = redisLocks(url.toString())

    const recorder = new Recorder()
    const refresher = await startReplica(
      recorder,
      { PERIODIC_REFRESH_INTERVAL: '500 ms', PERIODIC_REFRESH_CHECK_INTERVAL: '100 ms' },
      locks,
    )
    await expect.poll(() => refreshedCycles(recorder).length).toBeGreaterThan(0)

    await proxy.cut()
    await expect.poll(() => recorder.cycles.at(-1)?.outcome, { timeout: 10_000 }).toBe('lock_unavailable')
    const refreshedWhileDown = refreshedCycles(recorder).length

    // Notifications are still turned into refreshes.
    await db.insert(11)
    await db.notify('test')
    await expect.poll(() => db.historyIds()).toEqual([11])
    expect(refresher.health()).toMatchObject({ status: 'ok', periodic: { lastOutcome: 'lock_unavailable' } })
    await sleep(600)
    expect(refreshedCycles(recorder).length).toBe(refreshedWhileDown)

    await proxy.restore()
    // Redis's client reconnects with a backoff of its own; on a loaded machine that takes a while.
    // A condition with a wide bound, not a short fixed wait: slow passes, broken still fails.
    await expect
      .poll(() => refreshedCycles(recorder).length, { timeout: 60_000 })
      .toBeGreaterThan(refreshedWhileDown)
  }, 120_000)
})
