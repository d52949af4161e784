import { parseArgs } from 'node:util'
import {
  connectDatabase,
  KeyOpener,
  KeySealer,
  KeySealingKeyError,
  localStackKeyHint,
  parseDuration,
  type SealingKey,
  setPollOverride,
} from '@tracker/db'
import { createLockService } from '@tracker/locks'
import pino, { type Logger } from 'pino'
import { startAlertDeliverer } from './alerts/alert-deliverer.ts'
import { withDatabase } from './cli-database.ts'
import { type ImporterConfig, parseImporterEnv } from './env.ts'
import { startImporter } from './importer.ts'
import { keysCommand } from './keys/key-commands.ts'
import type { ImportOutcome } from './run/run-import.ts'
import {
  addTracker,
  deactivateTracker,
  deleteTracker,
  importKeyFile,
  listTrackers,
  reactivateTracker,
  trackerId,
} from './trackers/tracker-commands.ts'

const USAGE = `Tracker importer: fetches Find My reports, decrypts, geocodes and stores them.

Usage:
  main.ts                         run on the schedule (IMPORT_SCHEDULE, default every 6 hours), first run at start
  main.ts --once [--wait-for-lock DURATION]
                                  run one import and exit: 0 succeeded, 1 failed or interrupted,
                                  2 partial (some endpoint batches failed), 3 skipped (another run holds
                                  the lock), 4 could not start (the lock backend is unreachable);
                                  --wait-for-lock "3 minutes" keeps trying for the lock that long first
                                  (a dead run's lock lasts until IMPORT_LOCK_TTL)
  main.ts trackers list [--json]  list trackers and their hashed key ids (never private keys)
  main.ts trackers add --name NAME --key BASE64 [--key BASE64 ...]
  main.ts trackers import FILE [--name NAME]
                                  macless-haystack / OpenHaystack accessories JSON, FindMy.py keypair
                                  JSON, .keys files or a bare base64 key
  main.ts trackers deactivate ID  stop importing a tracker (its history stays)
  main.ts trackers reactivate ID  import a deactivated tracker again
  main.ts trackers delete ID --confirm NAME
  main.ts trackers poll ID DURATION|auto
                                  IMPORT_MODE=adaptive: poll this tracker every DURATION (e.g. "30
                                  minutes"), or let the cadence rule decide again (auto)
                                  delete a tracker and purge its whole history from every tier (raw
                                  reports, both aggregates, location_history) and its keys; cannot be
                                  undone, so NAME must be the tracker's name (else exit 2, nothing
                                  deleted); recorded in tracker_deletions
  main.ts keys generate           print a new key pair: KEY_SEALING_PRIVATE_KEY (the importer's only)
                                  and KEY_SEALING_PUBLIC_KEY (the API's, and commands that add keys)
  main.ts keys public             print the public key of KEY_SEALING_PRIVATE_KEY
  main.ts keys status             how many stored keys are in each format, and the recorded public key
  main.ts keys reseal [--batch-size N]
                                  re-seal every key still in the old format (version 1, under
                                  KEY_ENCRYPTION_KEY) to the public key, N per transaction (default
                                  100); needs KEY_ENCRYPTION_KEY and KEY_SEALING_PRIVATE_KEY (or
                                  KEY_SEALING_PUBLIC_KEY once the importer recorded it); run again, it
                                  does nothing; exit 0 done, 2 some keys did not open and were left
  main.ts --help

Configuration comes from the environment: see apps/importer/README.md.`

/** `--once`: a cron job or timer must tell a run that did nothing from one that succeeded. */
export const EXIT_CODES: Record<ImportOutcome, number> = {
  succeeded: 0,
  failed: 1,
  interrupted: 1,
  partial: 2,
  skipped_locked: 3,
  not_started: 4,
}

async function trackersCommand(args: string[], config: ImporterConfig, logger: Logger): Promise<number> {
  const [action, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      key: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      confirm: { type: 'string' },
    },
    allowPositionals: true,
  })
  // Sealing keys: to the database's public key only (checked before anything is written).
  const { sealing, variable, hint } = sealingKeyOf(config)
  return withDatabase(config, logger, async (database) => {
    switch (action) {
      case 'list': {
        const trackers = await listTrackers(database)
        if (values.json) console.log(JSON.stringify(trackers, null, 2))
        else if (trackers.length === 0)
          console.log('no trackers yet: add one with "trackers add" or "trackers import"')
        else console.table(trackers.map((t) => ({ ...t, keys: t.keys.length })))
        return 0
      }
      case 'add': {
        if (!values.name) throw new Error('trackers add needs --name')
        const tracker = await addTracker(database, sealing(), values.name, values.key ?? [], {
          variable,
          hint,
        })
        console.log(`added tracker ${tracker.id} (${tracker.name}) with ${values.key?.length ?? 0} key(s)`)
        return 0
      }
      case 'import': {
        const file = positionals[0]
        if (!file) throw new Error('trackers import needs a FILE')
        const created = await importKeyFile(database, sealing(), file, values.name, { variable, hint })
        for (const tracker of created) console.log(`added tracker ${tracker.id} (${tracker.name})`)
        return 0
      }
      case 'deactivate': {
        const id = positionals[0]
        if (!id) throw new Error('trackers deactivate needs a tracker ID')
        const tracker = await deactivateTracker(database.db, id)
        console.log(`deactivated tracker ${tracker.id} (${tracker.name}); its history is kept`)
        return 0
      }
      case 'reactivate': {
        const id = trackerId(positionals[0], 'reactivate')
        const tracker = await reactivateTracker(database.db, id)
        console.log(
          `reactivated tracker ${tracker.id} (${tracker.name}); the next import run fetches it again`,
        )
        return 0
      }
      case 'delete': {
        const id = trackerId(positionals[0], 'delete')
        const outcome = await deleteTracker(database, id, values.confirm)
        if ('refused' in outcome) {
          process.stderr.write(`error: ${outcome.refused}\n`)
          return 2
        }
        const { purge } = outcome
        console.log(
          `deleted tracker ${purge.trackerId} (${purge.trackerName}): ${purge.rows.reports} raw reports, ` +
            `${purge.rows.hourly} hourly and ${purge.rows.daily} daily aggregate rows, ` +
            `${purge.rows.history} location_history rows, ${purge.rows.keys} keys; recorded in tracker_deletions`,
        )
        return 0
      }
      case 'poll': {
        const id = trackerId(positionals[0], 'poll')
        const every = positionals[1]
        if (!every) throw new Error('trackers poll needs a DURATION (e.g. "30 minutes") or "auto"')
        const override = every === 'auto' ? null : pollOverrideSeconds(every, config)
        const polling = await setPollOverride(
          database.db,
          id,
          override,
          Math.round(config.pollIntervalMs.max / 1000),
        )
        console.log(
          override === null
            ? `tracker ${id} is polled on the adaptive cadence again; next poll by ${polling.next_poll_at.toISOString()}`
            : `tracker ${id} is polled every ${every}; next poll by ${polling.next_poll_at.toISOString()}`,
        )
        return 0
      }
      default:
        throw new Error(
          `unknown trackers command "${action ?? ''}": use list, add, import, deactivate, reactivate, delete or poll`,
        )
    }
  })
}

/**
 * What the commands that add keys seal with: the key pair when KEY_SEALING_PRIVATE_KEY is set here
 * (it may record its public key), else KEY_SEALING_PUBLIC_KEY alone (which must be the recorded one).
 */
export function sealingKeyOf(config: ImporterConfig): {
  sealing: () => SealingKey
  variable: string
  hint: string
} {
  if (config.keySealingPrivateKey) {
    const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PRIVATE_KEY')
    return {
      sealing: () => KeyOpener.fromPrivateKey(config.keySealingPrivateKey, 'KEY_SEALING_PRIVATE_KEY', hint),
      variable: 'KEY_SEALING_PRIVATE_KEY',
      hint,
    }
  }
  const hint = localStackKeyHint(config.connect, 'KEY_SEALING_PUBLIC_KEY')
  return {
    sealing: () => {
      if (!config.keySealingPublicKey)
        throw new KeySealingKeyError(
          'KEY_SEALING_PUBLIC_KEY is not set: adding keys seals them to the public key ("npm run importer -- keys public" ' +
            `prints it from KEY_SEALING_PRIVATE_KEY; either variable will do here).${hint}`,
        )
      return KeySealer.fromPublicKey(config.keySealingPublicKey, 'KEY_SEALING_PUBLIC_KEY', hint)
    },
    variable: 'KEY_SEALING_PUBLIC_KEY',
    hint,
  }
}

/** Runs the importer until SIGTERM/SIGINT; the run in flight finishes its current batch first. */
async function serve(config: ImporterConfig, logger: Logger): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  const locks = createLockService({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger })
  const importer = await startImporter({ database, locks, logger, config }).catch(async (error) => {
    await locks.close()
    await database.close()
    throw error
  })
  const alerts = await startAlertDeliverer({
    database,
    logger,
    config,
    registry: importer.metrics.registry,
  }).catch(async (error) => {
    await importer.stop()
    await locks.close()
    await database.close()
    throw error
  })
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'shutting down')
      resolve()
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  await importer.stop()
  await alerts?.stop()
  await locks.close()
  await database.close()
  return 0
}

async function once(config: ImporterConfig, logger: Logger, waitForLockMs: number): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  const locks = createLockService({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger })
  try {
    const importer = await startImporter({ database, locks, logger, config, http: false, schedule: false })
    const alerts = await startAlertDeliverer({
      database,
      logger,
      config,
      registry: importer.metrics.registry,
    })
    const stopOnSignal = () => void importer.stop().then(() => alerts?.stop())
    process.once('SIGTERM', stopOnSignal)
    process.once('SIGINT', stopOnSignal)
    const result = await importer.runNow('once', { waitForLockMs })
    await importer.stop()
    // What the run's alerts put in the outbox goes out before the process exits (retries wait for the next run).
    await alerts?.stop({ drain: true })
    return EXIT_CODES[result.outcome]
  } finally {
    await locks.close()
    await database.close()
  }
}

/** `[--once [--wait-for-lock DURATION]]`; anything else is refused. */
function runOptions(argv: string[]): { once: boolean; waitForLockMs: number } {
  let values: { once?: boolean | undefined; 'wait-for-lock'?: string | undefined }
  try {
    values = parseArgs({
      args: argv,
      options: { once: { type: 'boolean' }, 'wait-for-lock': { type: 'string' } },
    }).values
  } catch (error) {
    throw new Error(`${(error as Error).message} (see --help)`)
  }
  const wait = values['wait-for-lock']
  if (wait === undefined) return { once: values.once === true, waitForLockMs: 0 }
  if (!values.once) throw new Error('--wait-for-lock goes with --once (see --help)')
  try {
    return { once: true, waitForLockMs: parseDuration(wait) }
  } catch (error) {
    throw new Error(`--wait-for-lock: ${(error as Error).message} (e.g. --wait-for-lock "3 minutes")`)
  }
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE)
    return 0
  }
  const config = parseImporterEnv(env)
  // Written synchronously: a process that is killed or crashes keeps every line logged before it
  // (the asynchronous default holds lines in a buffer while inserts keep the event loop busy).
  const logger = pino(
    { level: config.logLevel, base: { app: 'importer' } },
    pino.destination({ dest: 1, sync: true }),
  )
  if (argv[0] === 'trackers') return trackersCommand(argv.slice(1), config, logger)
  if (argv[0] === 'keys') return keysCommand(argv.slice(1), config, logger)
  const options = runOptions(argv)
  if (options.once) return once(config, logger, options.waitForLockMs)
  return serve(config, logger)
}

if (import.meta.main) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`error: ${(error as Error).message}\n`)
      process.exit(1)
    },
  )
}

/** A user's fixed interval: a duration no shorter than IMPORT_MIN_POLL_INTERVAL (a hard floor per key). */
function pollOverrideSeconds(text: string, config: ImporterConfig): number {
  let ms: number
  try {
    ms = parseDuration(text)
  } catch (error) {
    throw new Error(`trackers poll: ${(error as Error).message}`)
  }
  if (ms < config.pollIntervalMs.min)
    throw new Error(
      `trackers poll: ${text} is shorter than IMPORT_MIN_POLL_INTERVAL (${config.pollIntervalMs.min / 60_000} minutes), the floor per key`,
    )
  return Math.round(ms / 1000)
}
