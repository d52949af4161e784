/**
 * Decryption throughput: genuinely encrypted reports (from the simulator's network) decrypted on one
 * thread, and on a worker pool when one core is slow. Run it alone, never as a timed test:
 *   node --conditions=tracker-source packages/findmy/bench/decrypt.bench.ts [--count 100000] [--threads N]
 */
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import {
  decryptReports,
  decryptReportsParallel,
  type EndpointReport,
  SimulatedNetwork,
  simulatedTrackers,
} from '../src/index.ts'

export interface Rate {
  seconds: number
  reportsPerSecond: number
  microsecondsPerReport: number
}

export interface DecryptBenchmarkResult {
  count: number
  /** Producing the encrypted reports in the simulator. */
  generation: Rate
  singleThread: Rate
  /** Run when one thread decrypts fewer than `parallelBelow` reports a second. */
  parallel: (Rate & { threads: number }) | null
}

const TRACKERS = 20
const DAYS = 7

export async function runDecryptBenchmark(
  options: { count?: number; threads?: number; parallelBelow?: number } = {},
): Promise<DecryptBenchmarkResult> {
  const count = options.count ?? 100_000
  const trackers = simulatedTrackers({ seed: 42, trackers: TRACKERS })
  const keys = new Map(trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
  const reportsPerDay = Math.min(86_400, Math.ceil(count / (TRACKERS * DAYS)) + 1)
  const network = new SimulatedNetwork({
    trackers,
    seed: 42,
    reportsPerDay,
    days: DAYS,
    gaps: false,
    lateArrivalShare: 0,
  })

  let started = performance.now()
  const reports: EndpointReport[] = network
    .visibleReports({ now: new Date(), days: DAYS })
    .slice(0, count)
    .map((r) => ({ id: r.hashedAdvKey, datePublished: r.datePublished, payload: r.payload }))
  const generation = rate(reports.length, performance.now() - started)
  if (reports.length < count)
    throw new Error(`the simulator produced ${reports.length} reports, not ${count}`)

  started = performance.now()
  const single = decryptReports(keys, reports)
  const singleThread = rate(count, performance.now() - started)
  if (single.rejected.length > 0) throw new Error(`${single.rejected.length} reports did not decrypt`)

  let parallel: DecryptBenchmarkResult['parallel'] = null
  if (singleThread.reportsPerSecond < (options.parallelBelow ?? 20_000)) {
    const threads = options.threads ?? availableParallelism()
    started = performance.now()
    const result = await decryptReportsParallel(keys, reports, { threads })
    parallel = { threads, ...rate(count, performance.now() - started) }
    if (result.reports.length !== count) throw new Error('the worker pool lost reports')
  }
  return { count, generation, singleThread, parallel }
}

function rate(count: number, ms: number): Rate {
  return {
    seconds: Math.round(ms) / 1000,
    reportsPerSecond: Math.round((count / ms) * 1000),
    microsecondsPerReport: Math.round((ms * 1000 * 10) / count) / 10,
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { count: { type: 'string' }, threads: { type: 'string' } } })
  const result = await runDecryptBenchmark({
    count: values.count ? Number(values.count) : 100_000,
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  })
  const line = (label: string, r: Rate) =>
    `${label.padEnd(34)} ${String(r.reportsPerSecond).padStart(8)} reports/s ${String(r.microsecondsPerReport).padStart(8)} µs/report ${String(r.seconds).padStart(8)} s`
  console.log(
    `decrypting ${result.count} genuinely encrypted Find My reports (Node ${process.version}, ${availableParallelism()} cores)`,
  )
  console.log(line('simulator generation', result.generation))
  console.log(line('decrypt, single thread', result.singleThread))
  if (result.parallel)
    console.log(line(`decrypt, ${result.parallel.threads} worker threads`, result.parallel))
}
