import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'
import { LOCK_NAMES } from '@tracker/locks'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createPlainHistoryDatabase,
  type PlainHistoryDatabase,
  trackerUuid,
} from './helpers/plain-history-database.ts'
import { getHealth, uniqueKeyPrefix } from './helpers/refresher-harness.ts'

// The container entry point as a real process: its commands, exit codes and signal handling.

const MAIN = join(import.meta.dirname, '../src/main.ts')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Only what the test gives it: the caller's DATABASE_URL or REDIS_URL must not leak in. */
function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env }
}

function spawnMain(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--conditions=tracker-source', MAIN, ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

async function runMain(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawnMain(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr!.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

let db: PlainHistoryDatabase
beforeEach(async () => {
  db = await createPlainHistoryDatabase()
})
afterEach(() => db?.close())

describe('main.ts', () => {
  it('--help prints the usage and exits 0', async () => {
    const run = await runMain(['--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/refresh-all/)
  })

  it('refuses bad configuration at start, naming the variable', async () => {
    const run = await runMain([], { DATABASE_URL: db.url, REFRESH_MIN_INTERVAL: 'soon' })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/REFRESH_MIN_INTERVAL: "soon" is not a duration/)
    const retention = await runMain([], { DATABASE_URL: db.url, RAW_RETENTION: '2 days' })
    expect(retention.code).toBe(1)
    expect(retention.stderr).toMatch(/RAW_RETENTION/)
  })

  it('refresh-all refreshes location_history once and exits 0', async () => {
    await db.insert(1)
    const run = await runMain(['refresh-all'], { DATABASE_URL: db.url })
    expect(run.code).toBe(0)
    expect(run.stderr).toMatch(/^location_history: refreshed/m)
    expect(await db.historyIds()).toEqual([1])
  })

  it('check prints each difference between location_history and the aggregates and exits 1; rebuild repairs them', async () => {
    await db.insert(1)
    await db.insert(2)
    expect((await runMain(['rebuild'], { DATABASE_URL: db.url })).code).toBe(0)
    const clean = await runMain(['check'], { DATABASE_URL: db.url })
    expect(clean.code).toBe(0)
    expect(clean.stderr).toMatch(/location_history agrees with the aggregates/)

    await db.admin.query(`UPDATE location_history SET latitude = 0 WHERE tracker_id = $1`, [trackerUuid(1)])
    await db.admin.query(`DELETE FROM location_history WHERE tracker_id = $1`, [trackerUuid(2)])
    const found = await runMain(['check'], { DATABASE_URL: db.url })
    expect(found.code).toBe(1)
    const lines = found.stdout.trim().split('\n')
    expect(lines.map((l) => l.split('\t').slice(0, 3))).toEqual([
      ['different', trackerUuid(1), '1 hour'],
      ['missing', trackerUuid(2), '1 hour'],
    ])
    expect(found.stderr).toMatch(
      /2 difference\(s\) between location_history and the aggregates; `rebuild` repairs them/,
    )

    const rebuilt = await runMain(['rebuild'], { DATABASE_URL: db.url })
    expect(rebuilt.code).toBe(0)
    expect(rebuilt.stderr).toMatch(/location_history: refreshed .*\(2 rows written, 0 removed\)/)
    expect((await runMain(['check'], { DATABASE_URL: db.url })).code).toBe(0)
  })

  it('refresh-all exits 1 when a refresh fails', async () => {
    const empty = await createFreshServerDatabase(testEnv.postgresUrl, 'refresher_test')
    try {
      const run = await runMain(['refresh-all'], { DATABASE_URL: empty.url })
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^location_history: failed/m)
    } finally {
      await empty.drop()
    }
  })
})

describe('main.ts serving', () => {
  let redis: Redis
  let prefix: string
  beforeAll(() => {
    redis = new Redis(testEnv.redisUrl)
  })
  afterAll(() => redis.quit())
  beforeEach(() => {
    prefix = uniqueKeyPrefix()
  })
  afterEach(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
  })

  const listenerBackends = async () => {
    const { rows } = await db.admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tracker-refresher-listener' AND datname = current_database()`,
    )
    return rows[0]!.n
  }

  it('serves, refreshes on notification, and on SIGTERM releases everything and exits 0', async () => {
    const child = spawnMain([], {
      DATABASE_URL: db.url,
      REDIS_URL: testEnv.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      REFRESHER_HTTP_PORT: '0',
      REFRESHER_HTTP_HOST: '127.0.0.1',
      REFRESH_MIN_INTERVAL: '0',
      LOG_LEVEL: 'info',
    })
    const exited = once(child, 'exit') as Promise<[number | null]>
    try {
      let port: number | undefined
      for await (const line of createInterface({ input: child.stdout! })) {
        const entry = JSON.parse(line) as { event?: string; port?: number }
        if (entry.event === 'http_listening') {
          port = entry.port
          break
        }
      }
      expect(port).toBeGreaterThan(0)
      expect((await getHealth(port!)).status).toBe(200)
      await db.insert(9)
      await db.notify('test')
      await expect.poll(() => db.historyIds()).toEqual([9])
      await expect.poll(() => redis.exists(`${prefix}${LOCK_NAMES.lastAggregateRefresh}`)).toBe(1)
      // connectOptionsFromEnv names the app's connections tracker-refresher; the listener's gets -listener.
      expect(await listenerBackends()).toBe(1)
    } finally {
      child.kill('SIGTERM')
    }
    const [code] = await exited
    expect(code).toBe(0)
    expect(await listenerBackends()).toBe(0)
    expect(await redis.exists(`${prefix}${LOCK_NAMES.aggregateRefresh}`)).toBe(0)
  })
})
