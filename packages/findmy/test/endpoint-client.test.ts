import { describe, expect, it } from 'vitest'
import {
  type BatchResult,
  decryptReports,
  failNext,
  type ParsedTracker,
  ReportEndpointClient,
  type ReportEndpointClientOptions,
  type SimulatedFailure,
  simulatedTrackers,
} from '../src/index.ts'
import { recordingLogger, startTestSimulator } from './helpers.ts'

const NOW = new Date('2026-03-10T12:00:00Z')
const now = () => NOW
const trackers = simulatedTrackers({ seed: 21, trackers: 12 })
const ids = trackers.map((t) => t.keys[0]!.hashedAdvKey)
const keyMap = (list: ParsedTracker[]) =>
  new Map(list.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
// Fast retries for tests; the defaults (seconds) are for real endpoints.
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

describe('ReportEndpointClient against the simulator', () => {
  it('asks for the ids in batches, in order, and gets every report the network holds', async () => {
    const simulator = await startTestSimulator({ trackers, seed: 21, now })
    const client = new ReportEndpointClient({ url: simulator.url, batchSize: 5, ...fast })
    const results = await collect(client.fetchBatches([...ids, ids[0]!], 2))
    expect(simulator.requests.map((r) => [r.method, r.ids, r.days])).toEqual([
      ['POST', ids.slice(0, 5), 2],
      ['POST', ids.slice(5, 10), 2],
      ['POST', ids.slice(10), 2],
    ])
    expect(results.map((r) => [r.index, r.ok, r.ids, r.attempts])).toEqual([
      [0, true, ids.slice(0, 5), 1],
      [1, true, ids.slice(5, 10), 1],
      [2, true, ids.slice(10), 1],
    ])
    const reports = results.flatMap((r) => (r.ok ? r.reports : []))
    expect(reports.map((r) => r.payload).sort()).toEqual(
      simulator.network
        .visibleReports({ days: 2, now: NOW })
        .map((r) => r.payload)
        .sort(),
    )
    expect(reports[0]).toMatchObject({ description: 'found', statusCode: 0 })
    const { reports: decrypted, rejected } = decryptReports(keyMap(trackers), reports)
    expect(rejected).toEqual([])
    expect(decrypted).toHaveLength(reports.length)
  })

  it('speaks the endpoint protocol: GET liveness, no Content-Type, 401 with the Basic realm', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      auth: { username: 'owner', password: 's3cret' },
    })
    const get = await fetch(simulator.url)
    expect(await get.text()).toBe('Nothing to see here')
    const refused = await fetch(`${simulator.url}anything`, { method: 'POST', body: JSON.stringify({ ids }) })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('Basic realm="Auth Realm"')
    await refused.body?.cancel()
    const ok = await fetch(`${simulator.url}getLocationReports`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('owner:s3cret').toString('base64')}` },
      body: JSON.stringify({ ids: ids.slice(0, 1) }),
    })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toBeNull()
    const body = (await ok.json()) as { results: unknown[] }
    expect(body.results.length).toBeGreaterThan(0)
    expect(simulator.requests.at(-1)?.days).toBe(7) // the endpoint's default
  })

  it('sends the credentials and never logs them', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      auth: { username: 'owner', password: 's3cret' },
    })
    const logger = recordingLogger()
    const client = new ReportEndpointClient({
      url: simulator.url,
      username: 'owner',
      password: 's3cret',
      logger,
      ...fast,
    })
    const results = await collect(client.fetchBatches(ids, 7))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(logger.lines.length).toBeGreaterThan(0)
    const logged = JSON.stringify(logger.lines)
    expect(logged).not.toContain('s3cret')
    expect(logged).not.toContain(Buffer.from('owner:s3cret').toString('base64'))
  })

  it('takes credentials from the URL without logging them', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      auth: { username: 'owner', password: 's3cret' },
    })
    const logger = recordingLogger()
    const url = simulator.url.replace('http://', 'http://owner:s3cret@')
    const client = new ReportEndpointClient({ url, logger, ...fast })
    expect(client.endpoint).not.toContain('s3cret')
    expect((await collect(client.fetchBatches(ids.slice(0, 2), 7)))[0]?.ok).toBe(true)
    expect(JSON.stringify(logger.lines)).not.toContain('s3cret')
  })

  it('gives a clear error on 401, does not retry it, and does not send the other batches', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      auth: { username: 'owner', password: 's3cret' },
    })
    const wrong = new ReportEndpointClient({
      url: simulator.url,
      username: 'owner',
      password: 'guess',
      batchSize: 4,
      ...fast,
    })
    const results = await collect(wrong.fetchBatches(ids, 7))
    expect(simulator.requests).toHaveLength(1)
    expect(results.map((r) => [r.ok, r.attempts])).toEqual([
      [false, 1],
      [false, 0],
      [false, 0],
    ])
    const error = results[0]!.ok ? undefined : results[0]!.error
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401, retryable: false })
    expect(error?.message).toMatch(/refused the credentials \(HTTP 401\)/)
    const anonymous = new ReportEndpointClient({ url: simulator.url, ...fast })
    const [first] = await collect(anonymous.fetchBatches(ids.slice(0, 1), 7))
    expect(first?.ok === false && first.error.message).toMatch(/requires credentials .* none are configured/)
  })

  const transient: Array<[string, SimulatedFailure, string]> = [
    ['501 (any endpoint failure)', { type: 'server_error' }, 'SERVER_ERROR'],
    ['504 (anisette timeout)', { type: 'anisette_timeout' }, 'SERVER_ERROR'],
    ['503 apple_session_expired', { type: 'session_expired' }, 'SERVER_ERROR'],
    ['an empty 200', { type: 'empty_body' }, 'EMPTY_RESPONSE'],
    ['a 200 without results', { type: 'missing_results' }, 'EMPTY_RESPONSE'],
    ['a 200 with broken JSON', { type: 'invalid_json' }, 'BAD_RESPONSE'],
    ['a reset connection', { type: 'connection_reset' }, 'NETWORK'],
    ['an answer slower than the timeout', { type: 'slow', delayMs: 30_000 }, 'TIMEOUT'],
  ]

  it.each(transient)('retries after %s and succeeds', async (_case, failure, code) => {
    const simulator = await startTestSimulator({ trackers, now, failures: failNext(2, failure) })
    // Generate the reports up front, so that only the simulated slowness can hit the timeout.
    simulator.network.answer(ids.slice(0, 3), 7, NOW)
    const logger = recordingLogger()
    const client = new ReportEndpointClient({
      url: simulator.url,
      maxAttempts: 3,
      timeoutMs: failure.type === 'slow' ? 1_000 : 10_000,
      logger,
      ...fast,
    })
    const [result] = await collect(client.fetchBatches(ids.slice(0, 3), 7))
    expect(result).toMatchObject({ ok: true, attempts: 3 })
    expect(result?.ok && result.reports.length).toBeGreaterThan(0)
    expect(simulator.requests.map((r) => r.failure)).toEqual([failure.type, failure.type, null])
    const retries = logger.lines.filter((line) => line.level === 'warn')
    expect(retries.map((line) => (line.obj as { code: string }).code)).toEqual([code, code])
  })

  it('gives up after the configured attempts with an error naming the batch, the attempts and the last failure', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      failures: {
        next: [{ type: 'anisette_timeout' }, { type: 'anisette_timeout' }, { type: 'session_expired' }],
      },
    })
    const client = new ReportEndpointClient({ url: simulator.url, maxAttempts: 3, batchSize: 5, ...fast })
    const [result] = await collect(client.fetchBatches(ids.slice(0, 5), 7))
    expect(simulator.requests).toHaveLength(3)
    expect(result?.ok).toBe(false)
    if (result?.ok !== false) return
    expect(result.attempts).toBe(3)
    expect(result.error).toMatchObject({ code: 'SERVER_ERROR', status: 503, attempts: 3 })
    expect(result.error.message).toBe(
      "batch 1 of 1 (5 ids) failed after 3 attempts; last failure: the report endpoint's Apple session expired (HTTP 503 apple_session_expired): sign in again on the endpoint",
    )
  })

  it('keeps the reports of the other batches when one batch fails for good', async () => {
    const poisoned = ids[6]!
    const simulator = await startTestSimulator({
      trackers,
      now,
      failures: { when: (request) => (request.ids.includes(poisoned) ? { type: 'server_error' } : null) },
    })
    const client = new ReportEndpointClient({ url: simulator.url, batchSize: 5, maxAttempts: 2, ...fast })
    const results = await collect(client.fetchBatches(ids, 7))
    expect(results.map((r) => [r.index, r.ok, r.attempts])).toEqual([
      [0, true, 1],
      [1, false, 2],
      [2, true, 1],
    ])
    const got = new Set(results.flatMap((r) => (r.ok ? r.reports.map((report) => report.id) : [])))
    expect([...got].sort()).toEqual([...ids.slice(0, 5), ...ids.slice(10)].sort())
  })

  it('fetches 89-byte payloads and counts the corrupted ones it cannot use', async () => {
    const simulator = await startTestSimulator({ trackers, seed: 21, now, share89Byte: 1, corruptShare: 0.1 })
    const client = new ReportEndpointClient({ url: simulator.url, ...fast })
    const reports = (await collect(client.fetchBatches(ids, 2))).flatMap((r) => (r.ok ? r.reports : []))
    const truth = simulator.network.visibleReports({ days: 2, now: NOW })
    const corrupted = truth.filter((r) => r.corruption !== null)
    expect(reports).toHaveLength(truth.length)
    const genuine = reports.filter((r) => !corrupted.some((c) => c.payload === r.payload))
    expect(genuine.every((r) => Buffer.from(r.payload, 'base64').length === 89)).toBe(true)
    const { reports: decrypted, rejected } = decryptReports(keyMap(trackers), reports)
    expect(rejected).toHaveLength(corrupted.length)
    expect(corrupted.length).toBeGreaterThan(0)
    expect(decrypted).toHaveLength(truth.length - corrupted.length)
  })

  it('pauses between requests', async () => {
    const simulator = await startTestSimulator({ trackers, now })
    const client = new ReportEndpointClient({ url: simulator.url, batchSize: 4, pauseBetweenRequestsMs: 120 })
    await collect(client.fetchBatches(ids, 1))
    const arrivals = simulator.requests.map((r) => r.receivedAt)
    expect(arrivals).toHaveLength(3)
    // A lower bound only: the pause guarantees at least this much, whatever else runs.
    for (let i = 1; i < arrivals.length; i++)
      expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(115)
  })

  it('stops when aborted, also while waiting to retry', async () => {
    const simulator = await startTestSimulator({
      trackers,
      now,
      failures: failNext(10, { type: 'server_error' }),
    })
    const client = new ReportEndpointClient({
      url: simulator.url,
      maxAttempts: 5,
      backoffMs: 10_000,
      pauseBetweenRequestsMs: 0,
    })
    const controller = new AbortController()
    const run = collect(client.fetchBatches(ids, 7, controller.signal))
    while (simulator.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort(new Error('shutting down'))
    await expect(run).rejects.toThrow('shutting down')
    expect(simulator.requests).toHaveLength(1)
  })

  it('rejects bad options up front', async () => {
    expect(() => new ReportEndpointClient({ url: 'not a url' })).toThrow(/not a URL/)
    expect(() => new ReportEndpointClient({ url: 'ftp://example.org' })).toThrow(/http or https/)
    expect(() => new ReportEndpointClient({ url: 'http://x', batchSize: 0 })).toThrow(/batchSize/)
    const client = new ReportEndpointClient({ url: 'http://127.0.0.1:9' })
    await expect(collect(client.fetchBatches(ids, 0))).rejects.toThrow(/days/)
  })
})
