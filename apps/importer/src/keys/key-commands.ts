import { parseArgs } from 'node:util'
import {
  countKeysByFormat,
  KeyOpener,
  KeySealer,
  KeySealingKeyError,
  LegacyKeyCipher,
  localStackKeyHint,
  type ResealResult,
  recordedSealingKey,
  resealLegacyKeys,
  type SealingKey,
} from '@tracker/db'
import type { Logger } from 'pino'
import { withDatabase } from '../cli-database.ts'
import type { ImporterConfig } from '../env.ts'

/** `keys generate | public | status | reseal [--batch-size N]`; returns the exit code. */
export async function keysCommand(args: string[], config: ImporterConfig, logger: Logger): Promise<number> {
  const [action, ...rest] = args
  const { values } = parseArgs({
    args: rest,
    options: { 'batch-size': { type: 'string' } },
    allowPositionals: false,
  })
  switch (action) {
    case 'generate': {
      // The private key goes to the importer only; the public key to the API and anything that adds keys.
      const pair = KeyOpener.generate()
      console.log(`KEY_SEALING_PRIVATE_KEY=${pair.privateKey}`)
      console.log(`KEY_SEALING_PUBLIC_KEY=${pair.publicKey}`)
      return 0
    }
    case 'public': {
      const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PRIVATE_KEY')
      const opener = KeyOpener.fromPrivateKey(config.keySealingPrivateKey, 'KEY_SEALING_PRIVATE_KEY', hint)
      console.log(opener.sealer.publicKey.toString('base64'))
      return 0
    }
    case 'status':
      return withDatabase(config, logger, async (database) => {
        const formats = await countKeysByFormat(database.db)
        const recorded = await recordedSealingKey(database.db)
        console.log(
          JSON.stringify(
            {
              keys: {
                sealedToPublicKey: formats.sealed,
                oldFormat: formats.legacy,
                unknownFormat: formats.unknown,
              },
              publicKey: recorded
                ? { fingerprint: recorded.fingerprint, base64: recorded.publicKey.toString('base64') }
                : 'not recorded yet (the importer records it at start)',
            },
            null,
            2,
          ),
        )
        return 0
      })
    case 'reseal': {
      const batchSize = batchSizeOf(values['batch-size'])
      return withDatabase(config, logger, async (database) => {
        const before = await countKeysByFormat(database.db)
        if (before.legacy === 0) {
          console.log(
            `nothing to re-seal: no stored key is in the old format (${before.sealed} sealed to the public key)`,
          )
          return 0
        }
        const legacyHint = localStackKeyHint(config.connect, 'KEY_ENCRYPTION_KEY')
        const legacy = LegacyKeyCipher.fromSecret(config.keyEncryptionKey, 'KEY_ENCRYPTION_KEY', legacyHint)
        const sealing = resealingKey(config)
        const result = await resealLegacyKeys(database.db, {
          legacy,
          sealing,
          batchSize,
          hint: legacyHint,
          onBatch: (progress) => logger.info(progress, 're-sealed a batch of keys'),
        })
        report(result, before.legacy)
        return result.failed.length > 0 ? 2 : 0
      })
    }
    default:
      throw new Error(`unknown keys command "${action ?? ''}": use generate, public, status or reseal`)
  }
}

/** The key pair when the private key is given (each re-sealed key is then verified), else the public key. */
function resealingKey(config: ImporterConfig): SealingKey {
  if (config.keySealingPrivateKey) {
    const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PRIVATE_KEY')
    return KeyOpener.fromPrivateKey(config.keySealingPrivateKey, 'KEY_SEALING_PRIVATE_KEY', hint)
  }
  if (config.keySealingPublicKey) {
    const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PUBLIC_KEY')
    return KeySealer.fromPublicKey(config.keySealingPublicKey, 'KEY_SEALING_PUBLIC_KEY', hint)
  }
  throw new KeySealingKeyError(
    'keys reseal needs the key pair the keys are re-sealed to: KEY_SEALING_PRIVATE_KEY (each key is then opened ' +
      'again and compared before it is written), or KEY_SEALING_PUBLIC_KEY once the importer has recorded it. ' +
      'For a new key pair: "npm run importer -- keys generate".' +
      localStackKeyHint(config.connect, 'KEY_SEALING_PRIVATE_KEY'),
  )
}

function report(result: ResealResult, legacyBefore: number): void {
  console.log(
    `re-sealed ${result.resealed} of ${legacyBefore} key(s) in the old format to the public key` +
      (result.verified ? ' (each opened again with the private key and compared)' : '') +
      `; ${result.alreadySealed} already were; ${result.unknownFormat} in no known format left as they are`,
  )
  if (result.failed.length === 0) {
    console.log('no key is left in the old format: KEY_ENCRYPTION_KEY is no longer needed anywhere')
    return
  }
  console.log(
    `${result.failed.length} key(s) do not open with KEY_ENCRYPTION_KEY (damaged, or sealed with another key) and were left as they are:`,
  )
  for (const key of result.failed)
    console.log(`  tracker ${key.trackerId} key ${key.hashedAdvKey}: ${key.message}`)
}

function batchSizeOf(value: string | undefined): number {
  if (value === undefined) return 100
  if (!/^[1-9][0-9]*$/.test(value) || Number(value) > 10_000)
    throw new Error(`--batch-size must be a whole number from 1 to 10000 (got "${value}")`)
  return Number(value)
}
