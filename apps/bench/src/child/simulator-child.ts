/**
 * The report endpoint for the import figure, in its own process (as the real endpoint is): the
 * importer's process then pays only for what the importer does, and its RSS is not the simulator's
 * cache. Started by simulator-process.ts with a JSON config as argv[2]; it generates every report
 * before it says it is ready (so the import is not timed against generation), optionally writes
 * the ground truth (plaintext fixes) for the bare-insert baseline, prints one JSON line, and serves
 * until SIGTERM.
 */
import { writeFileSync } from 'node:fs'
import { simulatedTrackers, startSimulator } from '@tracker/findmy'

export interface SimulatorChildConfig {
  seed: number
  trackers: number
  reportsPerDay: number
  /** The simulator's fixed clock: the same reports on every poll, and in the ground truth. */
  nowMs: number
  days: number
  /** Ids per request, as the importer will ask (REPORT_ENDPOINT_BATCH_SIZE). */
  batchSize: number
  groundTruthFile?: string
}

/** The ground truth as columns (compact JSON, cheap to write and read for a million reports). */
export interface GroundTruthFile {
  ids: string[]
  key: number[]
  timestampMs: number[]
  latitude: number[]
  longitude: number[]
  horizontalAccuracy: number[]
  confidence: number[]
  status: number[]
  publishedMs: number[]
}

export interface SimulatorChildReady {
  url: string
  reports: number
  generationMs: number
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as SimulatorChildConfig
  const trackers = simulatedTrackers({ seed: config.seed, trackers: config.trackers })
  const now = new Date(config.nowMs)
  const simulator = await startSimulator({
    trackers: trackers.map((t) => ({ name: t.name, keys: t.keys })),
    seed: config.seed,
    reportsPerDay: config.reportsPerDay,
    days: config.days,
    now: () => now,
    host: '127.0.0.1',
    port: 0,
  })
  const started = performance.now()
  const ids = trackers.flatMap((t) => t.keys.map((k) => k.hashedAdvKey))
  let reports = 0
  for (let i = 0; i < ids.length; i += config.batchSize) {
    reports += simulator.network.answer(ids.slice(i, i + config.batchSize), config.days, now).length
  }
  const generationMs = performance.now() - started
  if (config.groundTruthFile) {
    const truth: GroundTruthFile = {
      ids,
      key: [],
      timestampMs: [],
      latitude: [],
      longitude: [],
      horizontalAccuracy: [],
      confidence: [],
      status: [],
      publishedMs: [],
    }
    const index = new Map(ids.map((id, i) => [id, i]))
    for (const report of simulator.network.visibleReports({ now, days: config.days })) {
      // Exactly what decrypting the payload gives: coordinates at 1e-7 degrees, whole metres.
      truth.key.push(index.get(report.hashedAdvKey)!)
      truth.timestampMs.push(report.timestamp.getTime())
      truth.latitude.push(Math.round(report.fix.latitude * 1e7) / 1e7)
      truth.longitude.push(Math.round(report.fix.longitude * 1e7) / 1e7)
      truth.horizontalAccuracy.push(report.fix.horizontalAccuracy)
      truth.confidence.push(report.fix.confidence)
      truth.status.push(report.fix.status)
      truth.publishedMs.push(report.datePublished)
    }
    writeFileSync(config.groundTruthFile, JSON.stringify(truth))
  }
  const ready: SimulatorChildReady = { url: simulator.url, reports, generationMs }
  process.stdout.write(`${JSON.stringify(ready)}\n`)
  const stop = () => {
    void simulator.stop().finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // The parent going away closes stdin: do not outlive it.
  process.stdin.on('end', stop)
  process.stdin.resume()
}

if (import.meta.main) await main()
