/**
 * Simulator throughput: generating genuinely encrypted reports (cold), answering again from the
 * cache (warm), and serving them over HTTP to the endpoint client in batches of 5 ids.
 *   node --conditions=tracker-source packages/findmy/bench/simulator.bench.ts [--count 1000000]
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { ReportEndpointClient, SimulatedNetwork, simulatedTrackers, startSimulator } from '../src/index.ts'

export interface SimulatorBenchmarkResult {
  count: number
  generatedPerSecond: number
  cachedAnswersPerSecond: number
  servedOverHttpPerSecond: number
  httpRequests: number
}

export async function runSimulatorBenchmark(
  options: { count?: number; trackers?: number } = {},
): Promise<SimulatorBenchmarkResult> {
  const count = options.count ?? 1_000_000
  const trackerCount = options.trackers ?? 100
  const days = 7
  const trackers = simulatedTrackers({ seed: 7, trackers: trackerCount })
  const ids = trackers.map((t) => t.keys[0]!.hashedAdvKey)
  const reportsPerDay = Math.min(86_400, Math.ceil(count / (trackerCount * days)))
  const options_ = { trackers, seed: 7, reportsPerDay, days, gaps: false, lateArrivalShare: 0 }
  const now = new Date()

  const network = new SimulatedNetwork(options_)
  let started = performance.now()
  let generated = 0
  for (let i = 0; i < ids.length; i += 5) generated += network.answer(ids.slice(i, i + 5), days, now).length
  const generatedPerSecond = Math.round((generated / (performance.now() - started)) * 1000)
  started = performance.now()
  for (let i = 0; i < ids.length; i += 5) network.answer(ids.slice(i, i + 5), days, now)
  const cachedAnswersPerSecond = Math.round((generated / (performance.now() - started)) * 1000)

  const simulator = await startSimulator({ ...options_, now: () => now })
  try {
    // Warm the server's cache so the HTTP figure measures serving, not generating.
    for (let i = 0; i < ids.length; i += 5) simulator.network.answer(ids.slice(i, i + 5), days, now)
    const client = new ReportEndpointClient({
      url: simulator.url,
      pauseBetweenRequestsMs: 0,
      timeoutMs: 120_000,
    })
    started = performance.now()
    let served = 0
    for await (const batch of client.fetchBatches(ids, days)) {
      if (!batch.ok) throw batch.error
      served += batch.reports.length
    }
    return {
      count: generated,
      generatedPerSecond,
      cachedAnswersPerSecond,
      servedOverHttpPerSecond: Math.round((served / (performance.now() - started)) * 1000),
      httpRequests: simulator.stats.requests,
    }
  } finally {
    await simulator.stop()
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { count: { type: 'string' }, trackers: { type: 'string' } } })
  const result = await runSimulatorBenchmark({
    count: values.count ? Number(values.count) : 1_000_000,
    ...(values.trackers ? { trackers: Number(values.trackers) } : {}),
  })
  console.log(`simulator: ${result.count} reports (Node ${process.version}, ${availableParallelism()} cores)`)
  console.log(`  generated (cold)           ${result.generatedPerSecond} reports/s`)
  console.log(`  answered from cache (warm) ${result.cachedAnswersPerSecond} reports/s`)
  console.log(
    `  served over HTTP           ${result.servedOverHttpPerSecond} reports/s (${result.httpRequests} requests)`,
  )
}
