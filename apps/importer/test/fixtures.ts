import { createTrackerWithKeys, KeyOpener, type TrackerDatabase } from '@tracker/db'
import {
  type ParsedTracker,
  type RunningSimulator,
  type SimulatorOptions,
  simulatedTrackers,
  startSimulator,
} from '@tracker/findmy'
import pino from 'pino'
import { onTestFinished } from 'vitest'
import { type ImporterConfig, parseImporterEnv } from '../src/env.ts'

export const silent = pino({ level: 'silent' })

/** Reports stored for these trackers. */
export async function countReports(database: TrackerDatabase, trackerIds: string[]): Promise<number> {
  const { n } = await database.db
    .selectFrom('location_reports')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tracker_id', 'in', trackerIds)
    .executeTakeFirstOrThrow()
  return Number(n)
}

/** One key pair per test file, as one deployment has one for its database: its private key. */
export const SECRET = KeyOpener.generate().privateKey

/** A fixed clock for the simulator, so the set of reports it serves does not move during a test. */
export const fixedNow = () => {
  const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000)
  return () => now
}

export interface ImportFixture {
  trackers: ParsedTracker[]
  trackerIds: string[]
  simulator: RunningSimulator
  /** The importer's key pair (its private key is `secret`, KEY_SEALING_PRIVATE_KEY). */
  opener: KeyOpener
  secret: string
  config: ImporterConfig
}

/** Trackers with keys stored (sealed) in the database, and a simulator serving their reports. */
export async function importFixture(
  database: TrackerDatabase,
  options: {
    trackers?: number
    keysPerTracker?: number
    seed?: number
    simulator?: Partial<SimulatorOptions>
    env?: Record<string, string>
  } = {},
): Promise<ImportFixture> {
  const secret = SECRET
  const opener = KeyOpener.fromPrivateKey(secret)
  // Tests in a file share a database: earlier tests' trackers stop being imported.
  await database.db.updateTable('trackers').set({ is_active: false }).execute()
  const trackers = simulatedTrackers({
    seed: options.seed ?? 7,
    trackers: options.trackers ?? 3,
    keysPerTracker: options.keysPerTracker ?? 2,
  })
  const trackerIds: string[] = []
  for (const tracker of trackers) {
    const created = await createTrackerWithKeys(database.db, opener, {
      name: tracker.name,
      keys: tracker.keys.map((k) => ({ hashedAdvKey: k.hashedAdvKey, privateKey: k.privateKey })),
    })
    trackerIds.push(created.id)
  }
  const simulator = await startSimulator({
    trackers,
    seed: options.seed ?? 7,
    reportsPerDay: 24,
    lateArrivalShare: 0,
    now: fixedNow(),
    ...options.simulator,
  })
  onTestFinished(() => simulator.stop())
  const config = parseImporterEnv({
    KEY_SEALING_PRIVATE_KEY: secret,
    REPORT_ENDPOINT_URL: simulator.url,
    REPORT_ENDPOINT_PAUSE: '1 ms',
    REPORT_ENDPOINT_BACKOFF: '10 ms',
    REPORT_ENDPOINT_MAX_ATTEMPTS: '2',
    IMPORTER_HTTP_PORT: '0',
    ...options.env,
  })
  return { trackers, trackerIds, simulator, opener, secret, config }
}

/** The reports the simulator serves now that the importer must store: not corrupted. */
export function expectedReports(fixture: ImportFixture, now: Date) {
  return fixture.simulator.network.visibleReports({ days: 7, now }).filter((r) => r.corruption === null)
}
