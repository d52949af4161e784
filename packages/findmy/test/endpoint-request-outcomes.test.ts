import { describe, expect, it } from 'vitest'
import {
  type BatchResult,
  type EndpointRequestEvent,
  ReportEndpointClient,
  type ReportEndpointClientOptions,
  simulatedTrackers,
} from '../src/index.ts'
import { recordingLogger, startTestSimulator } from './helpers.ts'

const NOW = new Date('2026-03-10T12:00:00Z')
const now = () => NOW
const trackers = simulatedTrackers({ seed: 31, trackers: 12, keysPerTracker: 1 })
const ids = trackers.map((t) => t.keys[0]!.hashedAdvKey)
// Keys no tracker of the simulated network has: they never get a report.
const silentIds = ['c2lsZW50LWtleS0x', 'c2lsZW50LWtleS0y', 'c2lsZW50LWtleS0z']
const fast = {
  pauseBetweenRequestsMs: 0,
  backoffMs: 1,
  maxBackoffMs: 5,
} satisfies Partial<ReportEndpointClientOptions>

async function collect(iterable: AsyncIterable<BatchResult>): Promise<BatchResult[]> {
  const results: BatchResult[] = []
  for await (const result of iterable) results.push(result)
  return results
}

function recorder() {
  const events: EndpointRequestEvent[] = []
  return { events, onRequest: (event: EndpointRequestEvent) => events.push(event) }
}

const okResult = (result: BatchResult | undefined) => {
  if (!result?.ok) throw new Error(`expected an ok batch, got ${JSON.stringify(result)}`)
  return result
}

describe('ReportEndpointClient: the outcome of every request', () => {
  it('reports each request once, retries included, with its outcome, ids, status and duration', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 31,
      now,
      reportsPerDay: 12,
      failures: {
        next: [
          // batch 1: two kinds of empty 200, then an answer
          { type: 'empty_body' },
          { type: 'missing_results' },
          null,
          // batch 2: 504, a body that is not JSON, a reset connection: given up
          { type: 'anisette_timeout' },
          { type: 'invalid_json' },
          { type: 'connection_reset' },
          // batch 3: no answer in time, then 401 (not retried; nothing more is asked)
          { type: 'slow', delayMs: 5_000 },
          { type: 'unauthorized' },
        ],
      },
    })
    const { events, onRequest } = recorder()
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 4,
      maxAttempts: 3,
      timeoutMs: 1_000,
      onRequest,
      ...fast,
    })
    const results = await collect(client.fetchBatches(ids, 1))
    expect(events.map((e) => [e.batch, e.attempt, e.outcome, e.status, e.ids, e.alone])).toEqual([
      [0, 1, 'empty', 200, 4, false],
      [0, 2, 'empty', 200, 4, false],
      [0, 3, 'ok', 200, 4, false],
      [1, 1, 'server_error', 504, 4, false],
      [1, 2, 'failed', 200, 4, false],
      [1, 3, 'failed', null, 4, false],
      [2, 1, 'timeout', null, 4, false],
      [2, 2, 'unauthorized', 401, 4, false],
    ])
    // One event per request the endpoint got (the slow one arrived too).
    expect(simulator.requests).toHaveLength(events.length)
    const timedOut = events[6]!
    expect(timedOut.durationMs).toBeGreaterThanOrEqual(990)
    expect(events.every((e) => e.durationMs >= 0 && e.at instanceof Date)).toBe(true)
    expect(results.map((r) => [r.ok, r.requests])).toEqual([
      [true, { empty: 2, ok: 1 }],
      [false, { server_error: 1, failed: 2 }],
      [false, { timeout: 1, unauthorized: 1 }],
    ])
  })

  it('keeps fetching when the listener throws', async () => {
    const simulator = await startTestSimulator({ trackers, seed: 31, now, reportsPerDay: 12 })
    const logger = recordingLogger()
    const client = new ReportEndpointClient({
      url: simulator.url,
      logger,
      onRequest: () => {
        throw new Error('listener bug')
      },
      ...fast,
    })
    const results = await collect(client.fetchBatches(ids, 1))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(
      results.map(() => 'the onRequest listener failed'),
    )
  })
})

describe('ReportEndpointClient: answers for the first id only', () => {
  it('asks for the expected ids one by one, merges their reports and reports the suspect request partial', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 31,
      now,
      reportsPerDay: 12,
      firstIdOnly: true,
    })
    const batch = ids.slice(0, 5)
    // The database knows reports of ids 2 and 4 only: the others are not asked for again.
    const expected = new Set([batch[2]!, batch[4]!])
    const asked: string[][] = []
    const { events, onRequest } = recorder()
    const logger = recordingLogger()
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 5,
      pauseBetweenRequestsMs: 60,
      logger,
      onRequest,
      expectedIds: async (candidates) => {
        asked.push(candidates)
        return new Set(candidates.filter((id) => expected.has(id)))
      },
    })
    const [result] = await collect(client.fetchBatches(batch, 7))
    const ok = okResult(result)

    expect(asked).toEqual([batch.slice(1)])
    expect(simulator.requests.map((r) => r.ids)).toEqual([batch, [batch[2]], [batch[4]]])
    expect(simulator.requests.map((r) => r.answeredIds)).toEqual([[batch[0]], [batch[2]], [batch[4]]])
    expect(events.map((e) => [e.outcome, e.ids, e.alone])).toEqual([
      ['partial', 5, false],
      ['ok', 1, true],
      ['ok', 1, true],
    ])
    // The single-id requests keep the pause between requests.
    const arrivals = simulator.requests.map((r) => r.receivedAt)
    for (let i = 1; i < arrivals.length; i++)
      expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(55)

    const truth = (id: string) => simulator.network.visibleReports({ ids: [id], days: 7, now: NOW })
    expect(ok.retriedAlone).toEqual([batch[2], batch[4]])
    expect(ok.recoveredReports).toBe(truth(batch[2]!).length + truth(batch[4]!).length)
    expect(ok.recoveredReports).toBeGreaterThan(0)
    expect(ok.reports.map((r) => r.payload).sort()).toEqual(
      [...truth(batch[0]!), ...truth(batch[2]!), ...truth(batch[4]!)].map((r) => r.payload).sort(),
    )
    expect(ok.requests).toEqual({ partial: 1, ok: 2 })
    expect(ok.attempts).toBe(1)
    expect(ok.aloneFailures).toEqual([])
    const info = logger.lines.filter((l) => l.level === 'info')
    expect(info.map((l) => l.obj)).toEqual([
      expect.objectContaining({ retryingAlone: 2, firstId: batch[0] }),
      expect.objectContaining({ retriedAlone: 2, recoveredReports: ok.recoveredReports }),
    ])
  })

  it('takes silence as it is when no other id is expected to have reports (rotating keys are mostly silent)', async () => {
    const simulator = await startTestSimulator({ trackers, seed: 31, now, reportsPerDay: 12 })
    const asked: string[][] = []
    const { events, onRequest } = recorder()
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 4,
      onRequest,
      expectedIds: async (candidates) => {
        asked.push(candidates)
        return new Set()
      },
      ...fast,
    })
    // Batch 1: every id answers (no check). Batch 2: only the first has reports, none other expected.
    const results = await collect(client.fetchBatches([...ids.slice(0, 4), ids[4]!, ...silentIds], 7))
    expect(asked).toEqual([silentIds])
    expect(simulator.requests).toHaveLength(2)
    expect(events.map((e) => e.outcome)).toEqual(['ok', 'ok'])
    expect(results.map((r) => okResult(r).retriedAlone)).toEqual([[], []])
  })

  it('does not check single-id batches, and takes the answer as it is when the check fails', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 31,
      now,
      reportsPerDay: 12,
      firstIdOnly: true,
    })
    const logger = recordingLogger()
    const asked: string[][] = []
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 2,
      logger,
      expectedIds: async (candidates) => {
        asked.push(candidates)
        throw new Error('database unreachable')
      },
      ...fast,
    })
    const results = await collect(client.fetchBatches(ids.slice(0, 3), 7))
    expect(asked).toEqual([[ids[1]]])
    expect(simulator.requests.map((r) => r.ids.length)).toEqual([2, 1])
    expect(results.map((r) => okResult(r).requests)).toEqual([{ ok: 1 }, { ok: 1 }])
    expect(logger.lines.find((l) => l.level === 'warn')?.msg).toBe(
      'could not tell which ids expect reports; the answer is taken as it is',
    )
  })

  it('retries a failing single-id request, and a 401 on one stops every request after it', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 31,
      now,
      reportsPerDay: 12,
      firstIdOnly: true,
      failures: {
        // the batch; id 1 alone fails once then answers; id 2 alone is refused
        next: [null, { type: 'server_error' }, null, { type: 'unauthorized' }],
      },
    })
    const { events, onRequest } = recorder()
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 4,
      maxAttempts: 2,
      onRequest,
      expectedIds: async (candidates) => new Set(candidates),
      ...fast,
    })
    const results = await collect(client.fetchBatches(ids.slice(0, 8), 7))
    expect(events.map((e) => [e.outcome, e.ids, e.alone])).toEqual([
      ['partial', 4, false],
      ['server_error', 1, true],
      ['ok', 1, true],
      ['unauthorized', 1, true],
    ])
    expect(simulator.requests).toHaveLength(4)
    const first = okResult(results[0])
    expect(first.retriedAlone).toEqual([ids[1], ids[2]])
    expect(first.aloneFailures.map((f) => [f.id, f.error.code])).toEqual([
      [ids[2], 'UNAUTHORIZED'],
      [ids[3], 'UNAUTHORIZED'],
    ])
    expect(first.requests).toEqual({ partial: 1, server_error: 1, ok: 1, unauthorized: 1 })
    expect(results[1]).toMatchObject({
      ok: false,
      attempts: 0,
      requests: {},
      error: { code: 'UNAUTHORIZED' },
    })
  })
})
