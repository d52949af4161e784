import { connectDatabase, silentLogger, type TrackerDatabase } from '@tracker/db'
import { RefreshRequester, RefreshTimeoutError } from '@tracker/history'
import { InProcessLockService } from '@tracker/locks'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type RunningRefresher, startRefresher } from '../src/index.ts'
import { createPlainHistoryDatabase, type PlainHistoryDatabase } from './helpers/plain-history-database.ts'
import { Recorder, testConfig, testLogger } from './helpers/refresher-harness.ts'

// The API's refresh requests over the wire of the machine's real PostgreSQL (no TimescaleDB: plain
// views stand in for the aggregates, so a refresh keeps location_history only): the refresher on its
// own connections, each "API process" on connections of its own (its pool, its LISTEN), as deployed.

let db: PlainHistoryDatabase
let locks: InProcessLockService
const closing: (() => Promise<unknown>)[] = []

beforeEach(async () => {
  db = await createPlainHistoryDatabase()
  // The database's one encoder of refresh_location_history payloads, as the migration defines it.
  await db.admin.query(`
    CREATE FUNCTION history_change_payload(p_from timestamptz, p_to timestamptz, p_trackers uuid[], p_reason text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT json_strip_nulls(json_build_object(
        'from', p_from,
        'to', p_to,
        'trackers', CASE WHEN cardinality(p_trackers) BETWEEN 1 AND 150 THEN to_json(p_trackers) END,
        'reason', p_reason))::text
    $$`)
  locks = new InProcessLockService()
})

afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
  await locks.close()
  await db?.close()
})

async function startTheRefresher(recorder = new Recorder()): Promise<RunningRefresher> {
  const refresher = await startRefresher({
    database: db.database,
    locks,
    logger: testLogger,
    config: testConfig(),
    hooks: recorder,
  })
  closing.push(() => refresher.stop())
  await expect.poll(() => refresher.health().listener.connected).toBe(true)
  await expect.poll(() => refresher.health().refreshing, { timeout: 10_000 }).toBe(false)
  return refresher
}

/** An API process's side: its own pool and LISTEN connection. */
async function apiProcess(
  acceptTimeoutMs = 5_000,
): Promise<{ database: TrackerDatabase; requester: RefreshRequester }> {
  const database = await connectDatabase({
    mode: 'postgres',
    url: db.url,
    poolSize: 2,
    applicationName: 'api-test',
  })
  const requester = new RefreshRequester({
    database,
    logger: silentLogger,
    acceptTimeoutMs,
    timeoutMs: 30_000,
  })
  closing.push(() => database.close())
  closing.push(() => requester.close())
  return { database, requester }
}

const window = () => ({ from: new Date(Date.now() - 2 * 3_600_000), to: new Date() })

describe('refresh requests over the wire', () => {
  it("each API process's requests are answered by the refresher, each with its own answer", async () => {
    const recorder = new Recorder()
    await startTheRefresher(recorder)
    await db.insert(1)
    const [a, b] = [await apiProcess(), await apiProcess()]
    const answers = await Promise.all([
      a.requester.request(window(), { lockWaitMs: 10_000 }),
      b.requester.request(window(), { lockWaitMs: 10_000 }),
      a.requester.request(window(), { lockWaitMs: 10_000 }),
    ])
    expect(answers.map((x) => x.outcome)).toEqual(['refreshed', 'refreshed', 'refreshed'])
    expect(new Set(answers.map((x) => x.request)).size).toBe(3)
    expect(await db.historyIds()).toEqual([1])
    const runs = recorder.refreshes.filter((e) => e.trigger === 'manual').map((e) => e.runId)
    expect(new Set(runs)).toEqual(new Set(answers.map((x) => x.request)))
  })

  it('without a refresher: REFRESH_TIMEOUT, not accepted, within the accept timeout', async () => {
    const { requester } = await apiProcess(300)
    const started = Date.now()
    const error = await requester.request(window(), { lockWaitMs: 10_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RefreshTimeoutError)
    expect(error).toMatchObject({ accepted: false })
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(requester.pending).toBe(0)
  })
})
