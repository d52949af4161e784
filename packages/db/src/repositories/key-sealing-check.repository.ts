import type { Kysely } from 'kysely'
import { KeyOpener, type KeySealer, publicKeyIfPrivate, sealedKeyVersion } from '../keys/key-sealing.ts'
import type { Database } from '../schema/database.ts'

/**
 * The configured key is not of the key pair this database's tracker keys are sealed to: a
 * configuration mistake, refused before anything is sealed, opened or written.
 */
export class KeySealingKeyMismatchError extends Error {
  readonly code = 'KEY_SEALING_KEY_MISMATCH'
}

/**
 * No public key is recorded yet, and this process holds only a public key: it cannot tell whether
 * anybody holds its private key, so it seals nothing until the importer (which does) has recorded it.
 */
export class KeySealingKeyNotRecordedError extends Error {
  readonly code = 'KEY_SEALING_KEY_NOT_RECORDED'
}

/** What seals keys: a public key alone (the API, commands that add keys), or a whole key pair. */
export type SealingKey = KeySealer | KeyOpener

export const sealerOf = (key: SealingKey): KeySealer => (key instanceof KeyOpener ? key.sealer : key)

export interface KeySealingOptions {
  /** How the key is named in messages (KEY_SEALING_PUBLIC_KEY or KEY_SEALING_PRIVATE_KEY by default). */
  variable?: string
  /** Ends the messages (e.g. where the local stack keeps its keys). */
  hint?: string
}

/** The public key this database's keys are sealed to, as recorded; undefined before the first. */
export async function recordedSealingKey(
  db: Kysely<Database>,
): Promise<{ publicKey: Buffer; fingerprint: string } | undefined> {
  const row = await db
    .selectFrom('key_sealing_check')
    .select(['public_key', 'fingerprint'])
    .where('id', '=', true)
    .executeTakeFirst()
  return row ? { publicKey: Buffer.from(row.public_key), fingerprint: row.fingerprint } : undefined
}

/**
 * For a process that holds only the public key (the API at start): 'matched', or 'not_recorded'
 * when no key is recorded yet (the importer records its own at start); throws
 * KeySealingKeyMismatchError, naming the variable, when another public key is recorded.
 */
export async function checkSealingKey(
  db: Kysely<Database>,
  sealer: KeySealer,
  options: KeySealingOptions = {},
): Promise<'matched' | 'not_recorded'> {
  const stored = await recordedSealingKey(db)
  if (!stored) return 'not_recorded'
  if (stored.publicKey.equals(sealer.publicKey)) return 'matched'
  throw sealerMismatch(sealer, stored, options)
}

/**
 * Makes sure `key` seals to the public key this database's keys are sealed to, before anything is
 * sealed with it. A key pair (KeyOpener) records its public key when none is recorded yet
 * (ensureOpeningKey); a public key alone never does: it is refused (KeySealingKeyNotRecordedError)
 * until the importer has recorded the key it can open, so no key is ever sealed to a key nobody holds.
 */
export async function ensureSealingKey(
  db: Kysely<Database>,
  key: SealingKey,
  options: KeySealingOptions = {},
): Promise<'matched' | 'recorded'> {
  if (key instanceof KeyOpener) return ensureOpeningKey(db, key, options)
  const check = await checkSealingKey(db, key, options)
  if (check === 'matched') return check
  const variable = options.variable ?? 'KEY_SEALING_PUBLIC_KEY'
  throw new KeySealingKeyNotRecordedError(
    `no public key is recorded for this database's tracker keys yet, so ${variable} (public key ` +
      `${key.fingerprint}) cannot be checked against the importer's KEY_SEALING_PRIVATE_KEY: start the ` +
      `importer once (it records the public key of its private key), then try again; nothing was written.` +
      (options.hint ?? ''),
  )
}

/**
 * Makes sure `opener`'s private key is the one this database's keys are sealed to, before anything
 * is opened or sealed with it; throws KeySealingKeyMismatchError (naming the variable) otherwise.
 *
 * Without a recorded public key yet, its own is recorded: on a database without keys sealed to a
 * public key (first start, or only version-1 keys, re-sealed since), or when it opens at least half
 * of those there are (a key pair that opens fewer is not theirs). Version-1 keys and keys in no known
 * format say nothing about it and are left out. Two processes recording at once: the first wins,
 * the other compares with it.
 */
export async function ensureOpeningKey(
  db: Kysely<Database>,
  opener: KeyOpener,
  options: KeySealingOptions = {},
): Promise<'matched' | 'recorded'> {
  const variable = options.variable ?? 'KEY_SEALING_PRIVATE_KEY'
  const hint = options.hint ?? ''
  const stored = await recordedSealingKey(db)
  if (stored) {
    if (stored.publicKey.equals(opener.sealer.publicKey)) return 'matched'
    throw openerMismatch(variable, opener, stored.fingerprint, hint)
  }
  const keys = await db
    .selectFrom('tracker_keys')
    .select(['hashed_adv_key', 'private_key_encrypted'])
    .execute()
  let opened = 0
  let notOpened = 0
  for (const key of keys) {
    if (sealedKeyVersion(key.private_key_encrypted) !== 2) continue
    if (opener.readability(key.private_key_encrypted, key.hashed_adv_key) === 'readable') opened++
    else notOpened++
  }
  if (notOpened > opened) {
    throw new KeySealingKeyMismatchError(
      `${variable} (public key ${opener.fingerprint}) is not the private key this database's tracker keys ` +
        `are sealed to: it opens ${opened} of the ${opened + notOpened} keys sealed to a public key. Set ` +
        `${variable} to the private key they were sealed to; nothing was written.${hint}`,
    )
  }
  await db
    .insertInto('key_sealing_check')
    .values({ id: true, public_key: opener.sealer.publicKey, fingerprint: opener.fingerprint })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
  const recorded = await recordedSealingKey(db)
  if (!recorded?.publicKey.equals(opener.sealer.publicKey)) {
    throw openerMismatch(variable, opener, recorded?.fingerprint ?? 'unknown', hint)
  }
  return 'recorded'
}

function openerMismatch(
  variable: string,
  opener: KeyOpener,
  storedFingerprint: string,
  hint: string,
): KeySealingKeyMismatchError {
  return new KeySealingKeyMismatchError(
    `${variable} (public key ${opener.fingerprint}) is not the private key this database's tracker keys ` +
      `are sealed to (public key ${storedFingerprint}). Set ${variable} to that key pair's private key; ` +
      `nothing was opened or written.${hint}`,
  )
}

function sealerMismatch(
  sealer: KeySealer,
  stored: { publicKey: Buffer; fingerprint: string },
  options: KeySealingOptions,
): KeySealingKeyMismatchError {
  const variable = options.variable ?? 'KEY_SEALING_PUBLIC_KEY'
  const hint = options.hint ?? ''
  // The private key where the public key belongs: the one mistake that gives this process what
  // least privilege keeps from it. Said so, without showing either.
  if (publicKeyIfPrivate(sealer.publicKey).equals(stored.publicKey)) {
    return new KeySealingKeyMismatchError(
      `${variable} holds the private key of this database's key pair, not its public key (${stored.fingerprint}): ` +
        `only the importer may hold the private key. Set ${variable} to the public key ` +
        `("npm run importer -- keys public" prints it) and remove the private key from this process's ` +
        `configuration; nothing was written.${hint}`,
    )
  }
  return new KeySealingKeyMismatchError(
    `${variable} (public key ${sealer.fingerprint}) is not the public key this database's tracker keys are ` +
      `sealed to (public key ${stored.fingerprint}, recorded by the importer from its KEY_SEALING_PRIVATE_KEY). ` +
      `Set ${variable} to that key ("npm run importer -- keys public" prints it); nothing was written.${hint}`,
  )
}
