import { timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { LegacyKeyCipher } from '../keys/legacy-key-cipher.ts'
import type { Database } from '../schema/database.ts'

/**
 * The configured key-encryption key is not the database's: a configuration mistake, refused before
 * anything is sealed, opened or written.
 */
export class KeyEncryptionKeyMismatchError extends Error {
  readonly code = 'KEY_ENCRYPTION_KEY_MISMATCH'
}

export interface KeyEncryptionKeyOptions {
  /** How the key is named in messages (default KEY_ENCRYPTION_KEY). */
  variable?: string
  /** Ends the messages (e.g. `localStackKeyHint`). */
  hint?: string
}

/** matched: the stored check value is this key's; recorded: there was none, this key's is stored now. */
export type KeyEncryptionKeyCheck = 'matched' | 'recorded'

/**
 * Makes sure `cipher` holds the key this database's version-1 tracker keys are sealed with, before
 * anything is opened with it (`keys reseal`, the importer during the transition); throws
 * KeyEncryptionKeyMismatchError (naming the variable) otherwise. Keys sealed to a public key
 * (version 2) are checked against key_sealing_check instead (key-sealing-check.repository.ts).
 *
 * The database keeps a check value of its key (key_encryption_check). Without one yet, this key's is
 * recorded: on a database without sealed keys (first start, first key), or when this key opens at
 * least half of the stored keys that are in Tracker's format (an install from before the check
 * value: a key that opens fewer is not the one they were sealed with). Keys in no known format (e.g.
 * typed in by hand) say nothing about the key and are left out. Two processes recording at once:
 * the first wins, the other compares with it.
 */
export async function ensureKeyEncryptionKey(
  db: Kysely<Database>,
  cipher: LegacyKeyCipher,
  options: KeyEncryptionKeyOptions = {},
): Promise<KeyEncryptionKeyCheck> {
  const variable = options.variable ?? 'KEY_ENCRYPTION_KEY'
  const hint = options.hint ?? ''
  const ours = cipher.checkValue()
  const stored = await storedCheck(db)
  if (stored) {
    if (sameValue(stored.check_value, ours)) return 'matched'
    throw mismatch(variable, cipher, stored.fingerprint, hint)
  }

  const keys = await db
    .selectFrom('tracker_keys')
    .select(['hashed_adv_key', 'private_key_encrypted'])
    .execute()
  let opened = 0
  let notOpened = 0
  for (const key of keys) {
    const readability = cipher.readability(key.private_key_encrypted, key.hashed_adv_key)
    if (readability === 'readable') opened++
    else if (readability === 'undecryptable') notOpened++
  }
  if (notOpened > opened) {
    throw new KeyEncryptionKeyMismatchError(
      `${variable} (fingerprint ${cipher.fingerprint}) is not the key this database's tracker keys are ` +
        `sealed with: it opens ${opened} of the ${opened + notOpened} stored keys. Set ${variable} to the ` +
        `key they were sealed with; nothing was written.${hint}`,
    )
  }
  await db
    .insertInto('key_encryption_check')
    .values({ id: true, check_value: ours, fingerprint: cipher.fingerprint })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
  const recorded = await storedCheck(db)
  if (!recorded || !sameValue(recorded.check_value, ours)) {
    throw mismatch(variable, cipher, recorded?.fingerprint ?? 'unknown', hint)
  }
  return 'recorded'
}

async function storedCheck(db: Kysely<Database>) {
  return db
    .selectFrom('key_encryption_check')
    .select(['check_value', 'fingerprint'])
    .where('id', '=', true)
    .executeTakeFirst()
}

function sameValue(stored: Uint8Array, ours: Buffer): boolean {
  return stored.length === ours.length && timingSafeEqual(stored, ours)
}

function mismatch(
  variable: string,
  cipher: LegacyKeyCipher,
  storedFingerprint: string,
  hint: string,
): KeyEncryptionKeyMismatchError {
  return new KeyEncryptionKeyMismatchError(
    `${variable} (fingerprint ${cipher.fingerprint}) is not the key this database's tracker keys are ` +
      `sealed with (fingerprint ${storedFingerprint}). Set ${variable} to that key; nothing was written.${hint}`,
  )
}
