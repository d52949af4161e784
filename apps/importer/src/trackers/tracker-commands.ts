import { readFile } from 'node:fs/promises'
import { hostname, userInfo } from 'node:os'
import { basename } from 'node:path'
import {
  createTrackerWithKeys,
  deactivateTracker,
  ensureSealingKey,
  findTracker,
  hashedKeysOfTrackers,
  listAllTrackers,
  NotFoundError,
  reactivateTracker,
  type SealingKey,
  type Tracker,
  type TrackerDatabase,
} from '@tracker/db'
import { keyPairFromPrivateKey, parseKeyFile } from '@tracker/findmy'
import { ConfirmationRequiredError, purgeTrackerHistory, type TrackerPurge } from '@tracker/history'

/** What the CLI shows of a tracker: never a private key. */
export interface TrackerListing {
  id: string
  name: string
  active: boolean
  keys: string[]
  lastSeenAt: string | null
  lastPosition: string | null
  battery: string | null
}

/** `variable` names the configured key, `hint` ends a sealing-key error (where the local stack keeps it). */
export interface SealOptions {
  variable?: string
  hint?: string
}

/**
 * Adds a tracker with its keys, sealed to the database's public key (`sealing`: the public key, or
 * the key pair); a key that is not the recorded one is refused first.
 */
export async function addTracker(
  database: TrackerDatabase,
  sealing: SealingKey,
  name: string,
  privateKeys: string[],
  options: SealOptions = {},
): Promise<Tracker> {
  if (privateKeys.length === 0) throw new Error('give at least one --key (a base64 private key)')
  const keys = privateKeys.map((key, i) => {
    try {
      const pair = keyPairFromPrivateKey(key)
      return { hashedAdvKey: pair.hashedAdvKey, privateKey: pair.privateKey }
    } catch (error) {
      throw new Error(`--key number ${i + 1} is not a usable private key: ${(error as Error).message}`)
    }
  })
  await ensureSealingKey(database.db, sealing, options)
  return createTrackerWithKeys(database.db, sealing, { name, keys })
}

/**
 * Imports every tracker of a key file (macless-haystack / OpenHaystack accessories JSON, FindMy.py
 * keypair JSON, .keys files, a bare key). All or nothing: one bad entry imports none of them, and
 * a sealing key that is not the database's is refused first.
 */
export async function importKeyFile(
  database: TrackerDatabase,
  sealing: SealingKey,
  path: string,
  nameOverride?: string,
  options: SealOptions = {},
): Promise<Tracker[]> {
  const content = await readFile(path, 'utf8')
  const parsed = parseKeyFile(content, basename(path))
  if (parsed.length === 0) throw new Error(`${path} holds no trackers`)
  if (nameOverride && parsed.length > 1)
    throw new Error(`--name applies to a file with one tracker; ${path} holds ${parsed.length}`)
  await ensureSealingKey(database.db, sealing, options)
  return database.db.transaction().execute(async (tx) => {
    const created: Tracker[] = []
    for (const tracker of parsed) {
      created.push(
        await createTrackerWithKeys(tx, sealing, {
          name: nameOverride ?? tracker.name,
          keys: tracker.keys.map((k) => ({ hashedAdvKey: k.hashedAdvKey, privateKey: k.privateKey })),
        }),
      )
    }
    return created
  })
}

export async function listTrackers(database: TrackerDatabase): Promise<TrackerListing[]> {
  const trackers = await listAllTrackers(database.db)
  const keys = await hashedKeysOfTrackers(
    database.db,
    trackers.map((t) => t.id),
  )
  return trackers.map((t, i) => ({
    id: t.id,
    name: t.name,
    active: t.is_active,
    keys: keys[i] ?? [],
    lastSeenAt: t.last_seen_at?.toISOString() ?? null,
    lastPosition:
      t.last_latitude !== null && t.last_longitude !== null
        ? `${t.last_latitude.toFixed(5)},${t.last_longitude.toFixed(5)}${t.last_nearest_city ? ` (${t.last_nearest_city})` : ''}`
        : null,
    battery: t.battery_level,
  }))
}

export { deactivateTracker, reactivateTracker }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The ID argument of `trackers <command> ID`, checked before the database is asked. */
export function trackerId(value: string | undefined, command: string): string {
  if (!value) throw new Error(`trackers ${command} needs a tracker ID (see trackers list)`)
  if (!UUID.test(value)) throw new Error(`${value} is not a tracker ID (see trackers list)`)
  return value.toLowerCase()
}

/** Who runs the CLI, for the audit trail. */
function cliUser(): string {
  let user: string
  try {
    user = userInfo().username
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`
  }
  return `cli ${user}@${hostname()}`
}

/**
 * `trackers delete ID --confirm NAME`: the history engine's purge (every tier, one transaction,
 * recorded in tracker_deletions). Without NAME, or with another one, nothing is deleted and
 * `refused` says why.
 */
export async function deleteTracker(
  database: TrackerDatabase,
  id: string,
  confirm: string | undefined,
): Promise<{ refused: string } | { purge: TrackerPurge }> {
  if (confirm === undefined) {
    const tracker = await findTracker(database.db, id)
    if (!tracker) throw new NotFoundError('tracker', id)
    return {
      refused:
        `deleting tracker ${id} erases its whole history and cannot be undone: ` +
        `add --confirm "${tracker.name}" (the tracker's name)`,
    }
  }
  try {
    return { purge: await purgeTrackerHistory(database.db, { trackerId: id, confirm, deletedBy: cliUser() }) }
  } catch (error) {
    if (error instanceof ConfirmationRequiredError) return { refused: error.message }
    throw error
  }
}
