import {
  countKeysByFormat,
  ensureKeyEncryptionKey,
  ensureOpeningKey,
  KeyOpener,
  LegacyKeyCipher,
  localStackKeyHint,
  type TrackerDatabase,
} from '@tracker/db'
import type { Logger } from 'pino'
import type { ImporterConfig } from '../env.ts'

/**
 * Keys in the old format (version 1) remain and the importer has no KEY_ENCRYPTION_KEY to open them:
 * a configuration step left out, refused at start rather than skipping those trackers in silence.
 */
export class LegacyKeysRemainError extends Error {
  readonly code = 'LEGACY_KEYS_REMAIN'
}

/**
 * The importer's key pair, checked against the public key the database recorded (recorded now when
 * there is none): a wrong or missing KEY_SEALING_PRIVATE_KEY stops the importer at start, naming it.
 *
 * While keys sealed in the old format (version 1, under KEY_ENCRYPTION_KEY) remain, it opens them
 * too when KEY_ENCRYPTION_KEY is set (checked against its own check value), and says that
 * `keys reseal` is due; without it, it refuses to start and says what to run.
 */
export async function prepareKeyOpener(
  database: TrackerDatabase,
  config: Pick<ImporterConfig, 'connect' | 'keySealingPrivateKey' | 'keyEncryptionKey'>,
  logger: Logger,
): Promise<KeyOpener> {
  const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PRIVATE_KEY')
  const opener = KeyOpener.fromPrivateKey(config.keySealingPrivateKey, 'KEY_SEALING_PRIVATE_KEY', hint)
  const check = await ensureOpeningKey(database.db, opener, { hint })
  if (check === 'recorded')
    logger.info({ publicKey: opener.fingerprint }, 'recorded the public key of KEY_SEALING_PRIVATE_KEY')
  const formats = await countKeysByFormat(database.db)
  if (formats.legacy === 0) {
    if (config.keyEncryptionKey)
      logger.warn(
        'KEY_ENCRYPTION_KEY is set, but no stored key is in the old format any more: remove it from the importer',
      )
    return opener
  }
  if (!config.keyEncryptionKey) {
    throw new LegacyKeysRemainError(
      `${formats.legacy} stored tracker key(s) are still sealed in the old format (version 1, under ` +
        'KEY_ENCRYPTION_KEY), which KEY_SEALING_PRIVATE_KEY does not open. Re-seal them once: ' +
        '"npm run importer -- keys reseal" with KEY_ENCRYPTION_KEY and KEY_SEALING_PRIVATE_KEY set ' +
        '(in a container: node dist/main.js keys reseal). Until then, setting KEY_ENCRYPTION_KEY for the ' +
        'importer as well lets it open both formats.' +
        localStackKeyHint(config.connect, 'KEY_ENCRYPTION_KEY'),
    )
  }
  const legacyHint = localStackKeyHint(config.connect, 'KEY_ENCRYPTION_KEY')
  const legacy = LegacyKeyCipher.fromSecret(config.keyEncryptionKey, 'KEY_ENCRYPTION_KEY', legacyHint)
  await ensureKeyEncryptionKey(database.db, legacy, { hint: legacyHint })
  logger.warn(
    { legacyKeys: formats.legacy },
    'tracker keys are still sealed in the old format: opened with KEY_ENCRYPTION_KEY for now; run "keys reseal" once, then remove KEY_ENCRYPTION_KEY',
  )
  return opener.withLegacy(legacy)
}
