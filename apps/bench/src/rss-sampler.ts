import { Worker } from 'node:worker_threads'
import { median, toMb } from './stats.ts'

export interface RssSummary {
  samples: number
  durationS: number
  startMb: number
  peakMb: number
  endMb: number
  /** Median RSS over the first and the last quarter of the run. */
  firstQuarterMb: number
  lastQuarterMb: number
  /** lastQuarterMb - firstQuarterMb: near zero when memory stays flat. */
  growthMb: number
  /** lastQuarterMb - the second quarter's median: the growth once start-up (workers, caches) is over. */
  laterGrowthMb: number
  /** The curve, at most SERIES_POINTS [seconds since start, MB] pairs: its shape tells a leak from a sawtooth. */
  series: [number, number][]
}

const SERIES_POINTS = 40

// A worker thread samples: the embedded engine runs its queries synchronously on the main thread,
// so a timer there would miss exactly the moments memory peaks. RSS is the whole process's.
const SAMPLER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const samples = []
const take = () => samples.push([Date.now(), process.memoryUsage.rss()])
take()
const timer = setInterval(take, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  take()
  parentPort.postMessage(samples)
})
`

/** Samples the process's RSS every `intervalMs` while a measured run goes on. */
export class RssSampler {
  readonly #worker: Worker
  readonly #ready: Promise<void>

  private constructor(intervalMs: number) {
    this.#worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { intervalMs } })
    this.#ready = new Promise((resolve) => this.#worker.once('online', () => resolve()))
  }

  static async start(intervalMs = 100): Promise<RssSampler> {
    const sampler = new RssSampler(intervalMs)
    await sampler.#ready
    return sampler
  }

  async stop(): Promise<RssSummary> {
    const samples = await new Promise<[number, number][]>((resolve, reject) => {
      this.#worker.once('message', resolve)
      this.#worker.once('error', reject)
      this.#worker.postMessage('stop')
    })
    await this.#worker.terminate()
    return summarize(samples)
  }
}

export function summarize(samples: readonly [number, number][]): RssSummary {
  const first = samples[0] ?? [0, 0]
  const last = samples.at(-1) ?? first
  const duration = last[0] - first[0]
  const within = (from: number, to: number) =>
    samples
      .filter(([at]) => at - first[0] >= from * duration && at - first[0] <= to * duration)
      .map(([, rss]) => rss)
  const firstQuarter = median(within(0, 0.25))
  const secondQuarter = median(within(0.25, 0.5))
  const lastQuarter = median(within(0.75, 1))
  return {
    samples: samples.length,
    durationS: duration / 1000,
    startMb: toMb(first[1]),
    peakMb: toMb(samples.reduce((m, [, rss]) => Math.max(m, rss), 0)),
    endMb: toMb(last[1]),
    firstQuarterMb: toMb(firstQuarter),
    lastQuarterMb: toMb(lastQuarter),
    growthMb: toMb(lastQuarter - firstQuarter),
    laterGrowthMb: toMb(lastQuarter - secondQuarter),
    series: samples
      .filter((_, i) => i % Math.ceil(samples.length / SERIES_POINTS) === 0 || i === samples.length - 1)
      .map(([at, rss]) => [Math.round(at - first[0]) / 1000, toMb(rss)]),
  }
}
