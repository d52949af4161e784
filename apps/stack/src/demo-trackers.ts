import {
  createTrackerWithKeys,
  type KeyOpener,
  listImportableKeys,
  openStoredKeys,
  type TrackerDatabase,
} from '@tracker/db'
import { keyPairFromPrivateKey, type SimulatedTrackerInput, simulatedTrackers } from '@tracker/findmy'

/** Creates the demo trackers on first start (keys derived from the state's seed, two per tracker). */
export async function ensureDemoTrackers(
  database: TrackerDatabase,
  opener: KeyOpener,
  seed: number,
  count: number,
): Promise<number> {
  const existing = await database.db.selectFrom('trackers').select('id').limit(1).execute()
  if (existing.length > 0) return 0
  const trackers = simulatedTrackers({ seed, trackers: count, keysPerTracker: 2 })
  for (const [i, tracker] of trackers.entries()) {
    await createTrackerWithKeys(database.db, opener, {
      name: `Demo tracker ${i + 1}`,
      keys: tracker.keys.map((k) => ({ hashedAdvKey: k.hashedAdvKey, privateKey: k.privateKey })),
    })
  }
  return trackers.length
}

/**
 * The simulator's view of the trackers: every active tracker's public keys, taken from the database
 * (opened with the stack's private key), so trackers added through the API or the CLI get reports too. A key that
 * cannot be opened (e.g. the README's manual test stores one by hand) has no reports to simulate;
 * the importer reports it.
 */
export async function simulatorTrackers(
  database: TrackerDatabase,
  opener: KeyOpener,
): Promise<SimulatedTrackerInput[]> {
  const byTracker = new Map<
    string,
    SimulatedTrackerInput & { keys: { advertisementKey: Buffer; hashedAdvKey: string }[] }
  >()
  const { opened: keys } = openStoredKeys(opener, await listImportableKeys(database.db))
  for (const opened of keys) {
    const pair = keyPairFromPrivateKey(opened.privateKey)
    const entry = byTracker.get(opened.trackerId) ?? { keys: [] }
    entry.keys.push({ advertisementKey: pair.advertisementKey, hashedAdvKey: pair.hashedAdvKey })
    byTracker.set(opened.trackerId, entry)
  }
  return [...byTracker.values()]
}
