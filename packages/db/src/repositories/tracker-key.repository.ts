import type { Kysely } from 'kysely'
import { type PrivateKeyCipher, PrivateKeyDecryptionError } from '../keys/private-key-cipher.ts'
import type { Database } from '../schema/database.ts'
import type { TrackerKey, UnreadableKey } from '../schema/tracker-key.table.ts'
import { DuplicateKeyError, isUniqueViolation, NotFoundError } from './errors.ts'
import { ensureKeyEncryptionKey } from './key-encryption-check.repository.ts'

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

export async function insertTrackerKeys(
  db: Kysely<Database>,
  cipher: PrivateKeyCipher,
  trackerId: string,
  keys: PlainTrackerKey[],
): Promise<TrackerKey[]> {
  if (keys.length === 0) return []
  const seen = new Set<string>()
  for (const key of keys) {
    if (seen.has(key.hashedAdvKey)) throw new DuplicateKeyError(key.hashedAdvKey)
    seen.add(key.hashedAdvKey)
  }
  // Never seal with a key other than the database's (callers check first, to say so before writing
  // anything; inside createTrackerWithKeys' transaction this also undoes the tracker row).
  await ensureKeyEncryptionKey(db, cipher)
  try {
    return await db
      .insertInto('tracker_keys')
      .values(
        keys.map((key) => ({
          tracker_id: trackerId,
          hashed_adv_key: key.hashedAdvKey,
          private_key_encrypted: cipher.seal(key.privateKey, key.hashedAdvKey),
        })),
      )
      .returningAll()
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
  cipher: PrivateKeyCipher,
  trackerId: string,
  keys: PlainTrackerKey[],
): Promise<TrackerKey[]> {
  const tracker = await db.selectFrom('trackers').select('id').where('id', '=', trackerId).executeTakeFirst()
  if (!tracker) throw new NotFoundError('tracker', trackerId)
  return insertTrackerKeys(db, cipher, trackerId, keys)
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

/** The active keys of active trackers, still sealed. */
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

export function openTrackerKey(cipher: PrivateKeyCipher, key: TrackerKey): OpenedTrackerKey {
  return {
    trackerId: key.tracker_id,
    hashedAdvKey: key.hashed_adv_key,
    privateKey: cipher.open(key.private_key_encrypted, key.hashed_adv_key),
  }
}

/**
 * Opens every key it can. A key that cannot be opened (in no known format, sealed with another key,
 * damaged) is returned as unreadable instead of failing the others: one bad key disables itself.
 */
export function openStoredKeys(
  cipher: PrivateKeyCipher,
  keys: readonly TrackerKey[],
): { opened: OpenedTrackerKey[]; unreadable: UnreadableKey[] } {
  const opened: OpenedTrackerKey[] = []
  const unreadable: UnreadableKey[] = []
  for (const key of keys) {
    try {
      opened.push(openTrackerKey(cipher, key))
    } catch (error) {
      if (!(error instanceof PrivateKeyDecryptionError)) throw error
      unreadable.push({
        hashedAdvKey: key.hashed_adv_key,
        trackerId: key.tracker_id,
        reason: error.reason,
        message: error.message,
      })
    }
  }
  return { opened, unreadable }
}
