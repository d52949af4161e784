import { describe, expect, it } from 'vitest'
import {
  type BatchResult,
  decryptReports,
  type FailureRates,
  type ParsedTracker,
  type RecordedRequest,
  ReportEndpointClient,
  type RunningSimulator,
  SimulatedNetwork,
  type SimulatedReport,
  simulatedTrackers,
  startSimulator,
} from '../src/index.ts'
import { startTestSimulator } from './helpers.ts'

// Apple's network since about April 2026: only the latest reports per key, `days` ignored, often an
// empty 200, 5xx that come and go, and multi-id requests answered for their first id only.

const NOW = new Date('2026-05-10T12:00:00Z')
const now = () => NOW
const trackers = simulatedTrackers({ seed: 11, trackers: 3, keysPerTracker: 3 })
const ids = trackers.flatMap((t) => t.keys.map((k) => k.hashedAdvKey))
const reference = new SimulatedNetwork({ trackers, seed: 11 })
const payloads = (reports: ReadonlyArray<{ payload: string }>) => reports.map((r) => r.payload)
const keyMap = (list: ParsedTracker[]) =>
  new Map(list.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))

describe('SimulatedNetwork with the 2026 modes', () => {
  it('keeps only the newest latestPerKey reports of each key; visibleReports stays the ground truth', () => {
    const latest = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 5 })
    expect(payloads(latest.visibleReports({ now: NOW }))).toEqual(
      payloads(reference.visibleReports({ now: NOW })),
    )
    const answer = latest.answer(ids, 7, NOW)
    expect(answer).toHaveLength(5 * ids.length)
    for (const id of ids) {
      const newest = reference.visibleReports({ ids: [id], now: NOW }).slice(-5)
      expect(newest).toHaveLength(5)
      expect(payloads(answer.filter((r) => r.id === id))).toEqual(payloads(newest).reverse())
      expect(latest.answer([id], 7, NOW)).toEqual(answer.filter((r) => r.id === id))
    }
    // servedReports is what a single-id poll gets: the rest of visibleReports is out of reach.
    const served = latest.servedReports({ now: NOW })
    expect(payloads(served).sort()).toEqual(payloads(answer).sort())
    const unseen = latest
      .visibleReports({ now: NOW })
      .filter((r) => !served.some((s) => s.payload === r.payload))
    expect(unseen.length).toBe(latest.visibleReports({ now: NOW }).length - 5 * ids.length)
    expect(() => new SimulatedNetwork({ trackers, latestPerKey: 0 })).toThrow(RangeError)
    expect(() => new SimulatedNetwork({ trackers, latestPerKey: 2.5 })).toThrow(
      /latestPerKey must be a whole number of at least 1, got 2.5/,
    )
  })

  it('applies latestPerKey per key before the de-duplication and the per-request cap', () => {
    const capped = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 5, maxReportsPerRequest: 7 })
    const uncapped = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 5 })
    expect(capped.answer(ids, 7, NOW)).toEqual(uncapped.answer(ids, 7, NOW).slice(0, 7))
    // A single-id poll: the cap is one more limit on the key's newest reports.
    const tight = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 5, maxReportsPerRequest: 3 })
    expect(payloads(tight.servedReports({ ids: ids.slice(0, 1), now: NOW })).reverse()).toEqual(
      payloads(tight.answer(ids.slice(0, 1), 7, NOW)),
    )
    expect(tight.answer(ids.slice(0, 1), 7, NOW)).toHaveLength(3)
    const deduped = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 5, dedupeByTimestamp: true })
    // Distinct timestamps across these keys: the de-duplication changes nothing here.
    expect(deduped.answer(ids, 7, NOW)).toEqual(uncapped.answer(ids, 7, NOW))
  })

  it('ignores the days of a request with ignoreDays: the network keeps its own retention', () => {
    const ignoring = new SimulatedNetwork({ trackers, seed: 11, ignoreDays: true })
    const week = reference.answer(ids, 7, NOW)
    expect(reference.answer(ids, 1, NOW).length).toBeLessThan(week.length / 3)
    expect(ignoring.answer(ids, 1, NOW)).toEqual(week)
    expect(ignoring.answer(ids, 7, NOW)).toEqual(week)
    expect(ignoring.answer(ids, 30, NOW)).toEqual(week)
    expect(payloads(ignoring.servedReports({ days: 1, now: NOW }))).toEqual(
      payloads(reference.visibleReports({ days: 7, now: NOW })),
    )
    // visibleReports still honours the days it is asked for.
    expect(ignoring.visibleReports({ days: 1, now: NOW })).toEqual(
      reference.visibleReports({ days: 1, now: NOW }),
    )
  })

  it('combines ignoreDays with latestPerKey: days=1 gets the newest N of the whole retention', () => {
    const apple = new SimulatedNetwork({ trackers, seed: 11, ignoreDays: true, latestPerKey: 100 })
    const latestOnly = new SimulatedNetwork({ trackers, seed: 11, latestPerKey: 100 })
    const id = ids[0]!
    expect(latestOnly.answer([id], 1, NOW).length).toBeLessThan(100)
    const newest = reference.visibleReports({ ids: [id], now: NOW }).slice(-100)
    expect(newest).toHaveLength(100)
    expect(payloads(apple.answer([id], 1, NOW))).toEqual(payloads(newest).reverse())
  })

  it('answers a multi-id request for its first id only with firstIdOnly, a single-id one as usual', () => {
    const first = new SimulatedNetwork({ trackers, seed: 11, firstIdOnly: true })
    expect(first.answeredIds(ids)).toEqual([ids[0]])
    expect(first.answeredIds([ids[4]!])).toEqual([ids[4]])
    expect(first.answer(ids, 7, NOW)).toEqual(reference.answer([ids[0]!], 7, NOW))
    expect(first.answer([ids[4]!], 7, NOW)).toEqual(reference.answer([ids[4]!], 7, NOW))
    expect(first.answer(['not-a-simulated-key', ...ids], 7, NOW)).toEqual([])
    expect(reference.answeredIds(ids)).toEqual(ids)
  })
})

async function post(simulator: RunningSimulator, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(simulator.url, { method: 'POST', body: JSON.stringify(body) })
  return { status: response.status, text: await response.text() }
}

const count = (requests: readonly RecordedRequest[], failure: RecordedRequest['failure']) =>
  requests.filter((r) => r.failure === failure).length

async function collect(iterable: AsyncIterable<BatchResult>): Promise<BatchResult[]> {
  const results: BatchResult[] = []
  for await (const result of iterable) results.push(result)
  return results
}

describe('the simulator over HTTP with the 2026 modes', () => {
  it('answers a multi-id request for its first id only and records which ids it answered', async () => {
    const simulator = await startTestSimulator({ trackers, seed: 11, now, firstIdOnly: true })
    const client = new ReportEndpointClient({ url: simulator.url, batchSize: 4, pauseBetweenRequestsMs: 0 })
    const results = await collect(client.fetchBatches(ids, 2))
    const got = new Set(results.flatMap((r) => (r.ok ? r.reports.map((report) => report.id) : [])))
    expect([...got]).toEqual([ids[0], ids[4], ids[8]])
    expect(simulator.requests.map((r) => [r.ids.length, r.answeredIds])).toEqual([
      [4, [ids[0]]],
      [4, [ids[4]]],
      [1, [ids[8]]],
    ])
    const single = await post(simulator, { ids: [ids[5]], days: 2 })
    expect(JSON.parse(single.text).results).toHaveLength(reference.answer([ids[5]!], 2, NOW).length)
    expect(simulator.requests.at(-1)?.answeredIds).toEqual([ids[5]])
  })

  it('serves the same for days=1 and days=7 with ignoreDays, the newest N per key with latestPerKey', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 11,
      now,
      ignoreDays: true,
      latestPerKey: 16,
    })
    const oneDay = await post(simulator, { ids: ids.slice(0, 3), days: 1 })
    const week = await post(simulator, { ids: ids.slice(0, 3), days: 7 })
    expect(oneDay.status).toBe(200)
    expect(oneDay.text).toBe(week.text)
    const results = JSON.parse(oneDay.text).results as Array<{ payload: string }>
    expect(payloads(results).sort()).toEqual(
      payloads(simulator.network.servedReports({ ids: ids.slice(0, 3), days: 1, now: NOW })).sort(),
    )
    expect(results).toHaveLength(48)
    expect(simulator.requests.map((r) => [r.days, r.reports])).toEqual([
      [1, 48],
      [7, 48],
    ])
  })

  it('fails about the configured share of requests at random, the same way for the same seed', async () => {
    const failureRates: FailureRates = { emptyBody: 0.1, serverError: 0.05, unauthorized: 0.02 }
    const options = { trackers: trackers.slice(0, 1), seed: 5, now, reportsPerDay: 24, failureRates }
    const simulator = await startTestSimulator(options)
    const id = trackers[0]!.keys[0]!.hashedAdvKey
    const total = 400
    const answers: Array<{ status: number; text: string }> = []
    for (let i = 0; i < total; i++) answers.push(await post(simulator, { ids: [id], days: 1 }))
    const requests = simulator.requests
    expect(requests).toHaveLength(total)
    // Four standard deviations of a binomial count: the outcome is fixed by the seed, so this never flakes.
    for (const [failure, share] of [
      ['empty_body', 0.1],
      ['server_error', 0.05],
      ['unauthorized', 0.02],
    ] as const) {
      const n = count(requests, failure)
      expect(Math.abs(n - total * share)).toBeLessThanOrEqual(4 * Math.sqrt(total * share * (1 - share)))
      expect(n).toBeGreaterThan(0)
    }
    expect(requests.every((r) => r.failureSource === (r.failure === null ? null : 'rate'))).toBe(true)
    answers.forEach((answer, i) => {
      const record = requests[i]!
      const expected = {
        empty_body: [200, ''],
        server_error: [501, ''],
        unauthorized: [401, 'Not authenticated'],
      }
      if (record.failure === null) {
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.text).results.length).toBe(record.reports)
        expect(record.answeredIds).toEqual([id])
      } else {
        expect([answer.status, answer.text]).toEqual(expected[record.failure as keyof typeof expected])
        expect(record.status).toBe(answer.status)
        expect(record.answeredIds).toEqual([])
      }
    })
    // The same seed fails the same requests.
    const again = await startTestSimulator(options)
    for (let i = 0; i < 60; i++) await post(again, { ids: [id], days: 1 })
    expect(again.requests.map((r) => r.failure)).toEqual(requests.slice(0, 60).map((r) => r.failure))
  })

  it('lets a scripted failure plan win over the rates', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 11,
      now,
      failureRates: { serverError: 1 },
      failures: {
        next: [{ type: 'anisette_timeout' }, null],
        when: ({ number }) => (number === 4 ? { type: 'session_expired' } : null),
      },
    })
    for (let i = 0; i < 5; i++) await post(simulator, { ids: ids.slice(0, 1), days: 1 })
    expect(simulator.requests.map((r) => [r.status, r.failure, r.failureSource])).toEqual([
      [504, 'anisette_timeout', 'plan'],
      [200, null, null], // a null in `next` lets its request through
      [501, 'server_error', 'rate'],
      [503, 'session_expired', 'plan'],
      [501, 'server_error', 'rate'],
    ])
    // setFailures leaves the rates alone; setFailureRates changes them.
    simulator.setFailures(null)
    await post(simulator, { ids: ids.slice(0, 1), days: 1 })
    expect(simulator.requests.at(-1)?.failureSource).toBe('rate')
    simulator.setFailureRates({ emptyBody: 1 })
    expect((await post(simulator, { ids: ids.slice(0, 1), days: 1 })).text).toBe('')
    expect(() => simulator.setFailureRates({ emptyBody: 2 })).toThrow(RangeError)
    simulator.setFailureRates(null)
    expect((await post(simulator, { ids: ids.slice(0, 1), days: 1 })).status).toBe(200)
  })

  it.each<[FailureRates, RegExp]>([
    [{ emptyBody: -0.1 }, /failureRates.emptyBody must be a share between 0 and 1, got -0.1/],
    [{ serverError: 1.5 }, /failureRates.serverError must be a share between 0 and 1/],
    [{ unauthorized: Number.NaN }, /failureRates.unauthorized must be a share between 0 and 1/],
    [{ emptyBody: 0.6, serverError: 0.6 }, /add up to 1.2; together they must be at most 1/],
  ])('refuses failure rates %j', async (failureRates, message) => {
    await expect(startSimulator({ trackers, failureRates })).rejects.toThrow(RangeError)
    await expect(startSimulator({ trackers, failureRates })).rejects.toThrow(message)
  })

  it('lets the client collect what a poll can see despite empty answers and 5xx, all modes together', async () => {
    const simulator = await startTestSimulator({
      trackers,
      seed: 11,
      now,
      latestPerKey: 16,
      ignoreDays: true,
      firstIdOnly: true,
      failureRates: { emptyBody: 0.2, serverError: 0.1 },
    })
    const client = new ReportEndpointClient({
      url: simulator.url,
      batchSize: 1,
      maxAttempts: 8,
      pauseBetweenRequestsMs: 0,
      backoffMs: 1,
      maxBackoffMs: 2,
    })
    const results = await collect(client.fetchBatches(ids, 1))
    expect(results.every((r) => r.ok)).toBe(true)
    const reports = results.flatMap((r) => (r.ok ? r.reports : []))
    const served: SimulatedReport[] = simulator.network.servedReports({ days: 1, now: NOW })
    expect(payloads(reports).sort()).toEqual(payloads(served).sort())
    expect(reports).toHaveLength(16 * ids.length)
    expect(decryptReports(keyMap(trackers), reports).rejected).toEqual([])
    expect(simulator.requests.length).toBeGreaterThan(ids.length)
    expect(simulator.requests.filter((r) => r.failure === null)).toHaveLength(ids.length)
  })
})
