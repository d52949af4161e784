import type { Kysely } from 'kysely'
import { KeyOpener } from '../keys/key-sealing.ts'
import type { LegacyKeyCipher } from '../keys/legacy-key-cipher.ts'
import { PrivateKeyDecryptionError } from '../keys/sealed-key-errors.ts'
import type { Database } from '../schema/database.ts'
import type { UnreadableKey } from '../schema/tracker-key.table.ts'
import { ensureKeyEncryptionKey } from './key-encryption-check.repository.ts'
import { ensureSealingKey, type SealingKey, sealerOf } from './key-sealing-check.repository.ts'
import { countKeysByFormat, firstByteIs } from './tracker-key.repository.ts'

export interface ResealOptions {
  /** KEY_ENCRYPTION_KEY: opens the version-1 keys (checked against the database's check value first). */
  legacy: LegacyKeyCipher
  /**
   * What they are sealed to: the key pair (each re-sealed key is opened again and compared before it
   * is written, and its public key recorded if none is yet), or the public key alone (then it must be
   * the recorded one).
   */
  sealing: SealingKey
  /** Keys per transaction (default 100). */
  batchSize?: number
  /** Ends key-check error messages. */
  hint?: string
  /** After each committed batch. */
  onBatch?: (progress: { resealed: number; failed: number }) => void
}

export interface ResealResult {
  /** Version-1 keys now sealed to the public key (version 2). */
  resealed: number
  /** Version-1 keys that do not open with the legacy key (damaged, or sealed with another): left as they are. */
  failed: UnreadableKey[]
  /** Keys already sealed to a public key before this run. */
  alreadySealed: number
  /** Keys in no format Tracker writes: left as they are. */
  unknownFormat: number
  /** Whether each re-sealed key was opened with the private key and compared before it was written. */
  verified: boolean
}

/**
 * Re-seals every version-1 key (AES-256-GCM under KEY_ENCRYPTION_KEY) to the public key (version 2),
 * in batches of `batchSize`, each one transaction: a batch's rows are locked, opened with the legacy
 * key, sealed anew and written back only if they are still what was read. Nothing is lost: a key
 * that does not open is reported and left as it is; an interrupted run leaves every key in one
 * format or the other, each opening to the same private key; a second run finds nothing to do
 * (version-2 keys are never touched). The plain private keys are wiped as soon as they are sealed.
 */
export async function resealLegacyKeys(db: Kysely<Database>, options: ResealOptions): Promise<ResealResult> {
  const batchSize = options.batchSize ?? 100
  const hint = options.hint ?? ''
  const before = await countKeysByFormat(db)
  const verified = options.sealing instanceof KeyOpener
  const result: ResealResult = {
    resealed: 0,
    failed: [],
    alreadySealed: before.sealed,
    unknownFormat: before.unknown,
    verified,
  }
  if (before.legacy === 0) return result
  // Both keys are checked before anything is written: the legacy one against the check value the
  // database kept of it, the new one against the recorded public key (or recorded now, by its owner).
  await ensureKeyEncryptionKey(db, options.legacy, { hint })
  await ensureSealingKey(db, options.sealing, { hint })
  const sealer = sealerOf(options.sealing)
  const opener = options.sealing instanceof KeyOpener ? options.sealing : null

  let after: string | null = null
  for (;;) {
    const batch: { resealed: number; failed: UnreadableKey[]; last: string | null } = await db
      .transaction()
      .execute(async (tx) => {
        let query = tx
          .selectFrom('tracker_keys')
          .select(['id', 'tracker_id', 'hashed_adv_key', 'private_key_encrypted'])
          .where(firstByteIs(1))
          .orderBy('id')
          .limit(batchSize)
          .forUpdate()
        if (after !== null) query = query.where('id', '>', after)
        const rows = await query.execute()
        const outcome = { resealed: 0, failed: [] as UnreadableKey[], last: rows.at(-1)?.id ?? null }
        for (const row of rows) {
          let plain: Buffer
          try {
            plain = options.legacy.open(row.private_key_encrypted, row.hashed_adv_key)
          } catch (error) {
            if (!(error instanceof PrivateKeyDecryptionError)) throw error
            outcome.failed.push({
              hashedAdvKey: row.hashed_adv_key,
              trackerId: row.tracker_id,
              reason: error.reason,
              message: error.message,
            })
            continue
          }
          try {
            const sealed = sealer.seal(plain, row.hashed_adv_key)
            if (opener) {
              const reopened = opener.open(sealed, row.hashed_adv_key)
              const same = reopened.equals(plain)
              reopened.fill(0)
              if (!same) throw new Error(`re-sealing ${row.hashed_adv_key} did not give back the same key`)
            }
            const updated = await tx
              .updateTable('tracker_keys')
              .set({ private_key_encrypted: sealed, readability: opener ? 'readable' : 'unchecked' })
              .where('id', '=', row.id)
              .where('private_key_encrypted', '=', row.private_key_encrypted)
              .executeTakeFirst()
            outcome.resealed += Number(updated.numUpdatedRows)
          } finally {
            plain.fill(0)
          }
        }
        return outcome
      })
    if (batch.last === null) break
    after = batch.last
    result.resealed += batch.resealed
    result.failed.push(...batch.failed)
    options.onBatch?.({ resealed: result.resealed, failed: result.failed.length })
  }
  return result
}
