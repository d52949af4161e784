import { type Kysely, sql } from 'kysely'
import type { KeyOpener } from '../keys/key-sealing.ts'
import { type KeyReadability, PrivateKeyDecryptionError } from '../keys/sealed-key-errors.ts'
import type { Database } from '../schema/database.ts'
import type { TrackerKey, TrackerKeyInfo, UnreadableKey } from '../schema/tracker-key.table.ts'
import { DuplicateKeyError, isUniqueViolation, NotFoundError } from './errors.ts'
import { ensureSealingKey, type SealingKey, sealerOf } from './key-sealing-check.repository.ts'

/** A key as the user supplies it: the private key in plain bytes, sealed before it is stored. */
export interface PlainTrackerKey {
  hashedAdvKey: string
  privateKey: Uint8Array
}

/** A stored key with its private key opened, for the importer's decryption only. */
export interface OpenedTrackerKey {
  trackerId: string
  hashedAdvKey: string
  privateKey: Buffer
}

/** Every column but the sealed private key: what a sealing process gets back, never reads. */
const KEY_INFO_COLUMNS = [
  'id',
  'tracker_id',
  'hashed_adv_key',
  'is_active',
  'created_at',
  'readability',
] as const

/**
 * Seals and inserts keys. Only INSERTs into tracker_keys, and reads back nothing of the sealed column
 * (duplicates are the unique index's to find): what the API's database role needs and no more.
 */
export async function insertTrackerKeys(
  db: Kysely<Database>,
  sealing: SealingKey,
  trackerId: string,
  keys: PlainTrackerKey[],
): Promise<TrackerKeyInfo[]> {
  if (keys.length === 0) return []
  const seen = new Set<string>()
  for (const key of keys) {
    if (seen.has(key.hashedAdvKey)) throw new DuplicateKeyError(key.hashedAdvKey)
    seen.add(key.hashedAdvKey)
  }
  // Never seal to a key other than the database's (callers check first, to say so before writing
  // anything; inside createTrackerWithKeys' transaction this also undoes the tracker row).
  await ensureSealingKey(db, sealing)
  const sealer = sealerOf(sealing)
  try {
    return await db
      .insertInto('tracker_keys')
      .values(
        keys.map((key) => ({
          tracker_id: trackerId,
          hashed_adv_key: key.hashedAdvKey,
          private_key_encrypted: sealer.seal(key.privateKey, key.hashedAdvKey),
        })),
      )
      .returning(KEY_INFO_COLUMNS)
      .execute()
  } catch (error) {
    if (!isUniqueViolation(error)) throw error
    // No query here: inside a transaction (createTrackerWithKeys) the failed insert has aborted it,
    // and any further statement fails. The server names the conflicting key in the error detail.
    const detail = /\(hashed_adv_key\)=\(([^)]+)\)/.exec(String((error as { detail?: unknown }).detail ?? ''))
    throw new DuplicateKeyError(detail?.[1] ?? [...seen][0]!)
  }
}

export async function addTrackerKeys(
  db: Kysely<Database>,
  sealing: SealingKey,
  trackerId: string,
  keys: PlainTrackerKey[],
): Promise<TrackerKeyInfo[]> {
  const tracker = await db.selectFrom('trackers').select('id').where('id', '=', trackerId).executeTakeFirst()
  if (!tracker) throw new NotFoundError('tracker', trackerId)
  return insertTrackerKeys(db, sealing, trackerId, keys)
}

/** Removes a key; reports it already delivered keep their tracker. */
export async function removeTrackerKey(
  db: Kysely<Database>,
  trackerId: string,
  hashedAdvKey: string,
): Promise<void> {
  const result = await db
    .deleteFrom('tracker_keys')
    .where('tracker_id', '=', trackerId)
    .where('hashed_adv_key', '=', hashedAdvKey)
    .executeTakeFirst()
  if (result.numDeletedRows === 0n) throw new NotFoundError('key', hashedAdvKey)
}

/** Hashed ids of the keys of each tracker, one query, in input order (loaders). */
export async function hashedKeysOfTrackers(
  db: Kysely<Database>,
  trackerIds: readonly string[],
): Promise<string[][]> {
  if (trackerIds.length === 0) return []
  const rows = await db
    .selectFrom('tracker_keys')
    .select(['tracker_id', 'hashed_adv_key'])
    .where('tracker_id', 'in', [...new Set(trackerIds)])
    .orderBy('created_at')
    .orderBy('hashed_adv_key')
    .execute()
  const byTracker = new Map<string, string[]>()
  for (const row of rows) {
    const list = byTracker.get(row.tracker_id) ?? []
    list.push(row.hashed_adv_key)
    byTracker.set(row.tracker_id, list)
  }
  return trackerIds.map((id) => byTracker.get(id) ?? [])
}

/** The active keys of active trackers, still sealed (the importer's). */
export async function listImportableKeys(db: Kysely<Database>): Promise<TrackerKey[]> {
  return db
    .selectFrom('tracker_keys')
    .innerJoin('trackers', 'trackers.id', 'tracker_keys.tracker_id')
    .selectAll('tracker_keys')
    .where('trackers.is_active', '=', true)
    .where('tracker_keys.is_active', '=', true)
    .orderBy('tracker_keys.tracker_id')
    .orderBy('tracker_keys.hashed_adv_key')
    .execute()
}

/** Every key, still sealed (the importer's check of them all at start, `keys reseal`). */
export async function listSealedKeys(db: Kysely<Database>): Promise<TrackerKey[]> {
  return db.selectFrom('tracker_keys').selectAll().orderBy('tracker_id').orderBy('hashed_adv_key').execute()
}

export function openTrackerKey(opener: KeyOpener, key: TrackerKey): OpenedTrackerKey {
  return {
    trackerId: key.tracker_id,
    hashedAdvKey: key.hashed_adv_key,
    privateKey: opener.open(key.private_key_encrypted, key.hashed_adv_key),
  }
}

/**
 * Opens every key it can. A key that cannot be opened (in no known format, sealed with another key,
 * damaged) is returned as unreadable instead of failing the others: one bad key disables itself.
 */
export function openStoredKeys(
  opener: KeyOpener,
  keys: readonly TrackerKey[],
): { opened: OpenedTrackerKey[]; unreadable: UnreadableKey[]; readability: KeyReadabilityOf[] } {
  const opened: OpenedTrackerKey[] = []
  const unreadable: UnreadableKey[] = []
  const readability: KeyReadabilityOf[] = []
  for (const key of keys) {
    try {
      opened.push(openTrackerKey(opener, key))
      readability.push({ id: key.id, readability: 'readable' })
    } catch (error) {
      if (!(error instanceof PrivateKeyDecryptionError)) throw error
      readability.push({ id: key.id, readability: error.reason })
      unreadable.push({
        hashedAdvKey: key.hashed_adv_key,
        trackerId: key.tracker_id,
        reason: error.reason,
        message: error.message,
      })
    }
  }
  return { opened, unreadable, readability }
}

/** Whether the importer could open one stored key (tracker_keys.id). */
export interface KeyReadabilityOf {
  id: string
  readability: KeyReadability
}

/**
 * Records what the importer found (tracker_keys.readability), so that the API can show it without
 * reading the sealed keys; only rows that changed are written. Returns how many changed.
 */
export async function recordKeyReadability(
  db: Kysely<Database>,
  found: readonly KeyReadabilityOf[],
): Promise<number> {
  let changed = 0
  for (const readability of ['readable', 'unknown_format', 'undecryptable'] as const) {
    const ids = found.filter((k) => k.readability === readability).map((k) => k.id)
    if (ids.length === 0) continue
    const result = await db
      .updateTable('tracker_keys')
      .set({ readability })
      .where('id', 'in', ids)
      .where('readability', '<>', readability)
      .executeTakeFirst()
    changed += Number(result.numUpdatedRows)
  }
  return changed
}

/**
 * How many stored keys are in each format, read from the first byte of the sealed column (so for
 * the importer and `keys reseal` only): version 2 (sealed to a public key), version 1 (under
 * KEY_ENCRYPTION_KEY, to be re-sealed), neither (e.g. typed in by hand).
 */
export async function countKeysByFormat(
  db: Kysely<Database>,
): Promise<{ sealed: number; legacy: number; unknown: number }> {
  const { rows } = await sql<{ sealed: number; legacy: number; unknown: number }>`
    SELECT count(*) FILTER (WHERE ${firstByteIs(2)} AND length(private_key_encrypted) > 49)::int AS sealed,
           count(*) FILTER (WHERE ${firstByteIs(1)} AND length(private_key_encrypted) > 1)::int AS legacy,
           count(*)::int AS unknown
      FROM tracker_keys`.execute(db)
  const counts = rows[0] ?? { sealed: 0, legacy: 0, unknown: 0 }
  return { ...counts, unknown: counts.unknown - counts.sealed - counts.legacy }
}

/** Whether the sealed column starts with `version` (substring: get_byte fails on an empty value). */
export const firstByteIs = (version: 1 | 2) =>
  sql<boolean>`substring(private_key_encrypted from 1 for 1) = ${Buffer.from([version])}`
