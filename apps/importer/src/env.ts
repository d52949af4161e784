import { readFileSync } from 'node:fs'
import type { AlertDeliverySettings } from '@tracker/alerts'
import {
  booleanVar,
  connectOptionsFromEnv,
  databaseEnvSchema,
  durationVar,
  envIssues,
  logLevelVar,
  portVar,
  type RetentionConfig,
  redactUrl,
  redisKeyPrefixVar,
  redisUrlVar,
  retentionConfigFromEnv,
  safeLateHorizonMs,
  wholeNumberVar,
} from '@tracker/db'
import { LOCK_NAMES, redisKey } from '@tracker/locks'
import { Cron } from 'croner'
import { z } from 'zod'

/** Unset and empty (as env files write an unset value) are the same. */
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value))

export const importerEnvSchema = databaseEnvSchema('IMPORTER').extend({
  REDIS_URL: redisUrlVar(),
  REDIS_KEY_PREFIX: redisKeyPrefixVar(),
  KEY_SEALING_PRIVATE_KEY: optionalString,
  KEY_SEALING_PRIVATE_KEY_FILE: optionalString,
  KEY_SEALING_PUBLIC_KEY: optionalString,
  KEY_ENCRYPTION_KEY: optionalString,
  REPORT_ENDPOINT_URL: z
    .url({ error: 'REPORT_ENDPOINT_URL must be the http(s) URL of the report endpoint' })
    .optional(),
  REPORT_ENDPOINT_USERNAME: z.string().optional(),
  REPORT_ENDPOINT_PASSWORD: z.string().optional(),
  REPORT_ENDPOINT_BATCH_SIZE: wholeNumberVar('REPORT_ENDPOINT_BATCH_SIZE', 5),
  REPORT_ENDPOINT_TIMEOUT: durationVar('REPORT_ENDPOINT_TIMEOUT', '60 seconds'),
  REPORT_ENDPOINT_MAX_ATTEMPTS: wholeNumberVar('REPORT_ENDPOINT_MAX_ATTEMPTS', 4),
  REPORT_ENDPOINT_BACKOFF: durationVar('REPORT_ENDPOINT_BACKOFF', '2 seconds'),
  // Polling faster than every 15-30 minutes has led to banned accounts; requests are spaced too.
  REPORT_ENDPOINT_PAUSE: durationVar('REPORT_ENDPOINT_PAUSE', '2 seconds'),
  IMPORT_ENDPOINT_FAILURE_STREAK: wholeNumberVar('IMPORT_ENDPOINT_FAILURE_STREAK', 3),
  IMPORT_LOOKBACK_DAYS: wholeNumberVar('IMPORT_LOOKBACK_DAYS', 7).refine(
    (d) => d <= 7,
    'IMPORT_LOOKBACK_DAYS must be 1..7: the endpoint serves at most 7 days',
  ),
  IMPORT_SCHEDULE: z
    .string()
    .default('0 */6 * * *')
    .refine((expr) => {
      try {
        new Cron(expr, { paused: true }).stop()
        return true
      } catch {
        return false
      }
    }, 'IMPORT_SCHEDULE must be a cron expression, e.g. "0 */6 * * *"'),
  IMPORT_ON_START: booleanVar('IMPORT_ON_START', true),
  // Read by every decryption thread itself (@tracker/findmy p224Backend); listed here to be documented.
  P224_LIBCRYPTO: z
    .string()
    .min(1, 'P224_LIBCRYPTO must be a library path or "off"')
    .default('libcrypto.so.3'),
  IMPORT_MODE: z
    .enum(['schedule', 'adaptive'], { error: 'IMPORT_MODE must be "schedule" or "adaptive"' })
    .default('schedule'),
  IMPORT_REQUEST_BUDGET: z.coerce
    .number()
    .int('IMPORT_REQUEST_BUDGET must be a whole number of requests per hour')
    .min(0, 'IMPORT_REQUEST_BUDGET must be >= 0 (0: no ceiling)')
    .default(0),
  IMPORT_MIN_POLL_INTERVAL: durationVar('IMPORT_MIN_POLL_INTERVAL', '15 minutes'),
  IMPORT_MAX_POLL_INTERVAL: durationVar('IMPORT_MAX_POLL_INTERVAL', '6 hours'),
  IMPORT_ENDPOINT_REPORTS_PER_KEY: z
    .string()
    .default('auto')
    .refine(
      (v) => v.trim() === 'auto' || /^[1-9][0-9]*$/.test(v.trim()),
      'IMPORT_ENDPOINT_REPORTS_PER_KEY must be "auto" or a whole number >= 1 (the most reports per key the endpoint gives)',
    )
    .transform((v) => (v.trim() === 'auto' ? ('auto' as const) : Number(v.trim()))),
  IMPORT_INSERT_BATCH_SIZE: wholeNumberVar('IMPORT_INSERT_BATCH_SIZE', 2000).refine(
    (n) => n <= 10_000,
    'IMPORT_INSERT_BATCH_SIZE must be at most 10000',
  ),
  IMPORT_CLOCK_SKEW: durationVar('IMPORT_CLOCK_SKEW', '10 minutes'),
  IMPORT_LOCK_TTL: durationVar('IMPORT_LOCK_TTL', '2 minutes'),
  IMPORT_RETRY_BACKOFF: durationVar('IMPORT_RETRY_BACKOFF', '15 seconds'),
  // Imports wake the evaluator at once; the interval is for not-seen rules and retries.
  ALERTS_EVALUATE_INTERVAL: durationVar('ALERTS_EVALUATE_INTERVAL', '1 minute'),
  // Delivery of the alert outbox (webhook, ntfy, MQTT), run by the importer process.
  ALERTS_DELIVERY: z.enum(['on', 'off'], { error: 'ALERTS_DELIVERY must be "on" or "off"' }).default('on'),
  ALERTS_MAX_ATTEMPTS: wholeNumberVar('ALERTS_MAX_ATTEMPTS', 10, { max: 100 }),
  ALERTS_RETRY_BACKOFF: durationVar('ALERTS_RETRY_BACKOFF', '30 seconds'),
  ALERTS_RETRY_BACKOFF_MAX: durationVar('ALERTS_RETRY_BACKOFF_MAX', '2 hours'),
  ALERTS_SEND_TIMEOUT: durationVar('ALERTS_SEND_TIMEOUT', '15 seconds'),
  ALERTS_LEASE: durationVar('ALERTS_LEASE', '1 minute'),
  ALERTS_POLL_INTERVAL: durationVar('ALERTS_POLL_INTERVAL', '5 seconds'),
  ALERTS_MQTT_URL: optionalString.refine(
    (value) => value === undefined || /^(mqtts?|wss?):\/\/[^\s]+$/.test(value),
    'ALERTS_MQTT_URL must be an mqtt://, mqtts://, ws:// or wss:// URL',
  ),
  ALERTS_MQTT_USERNAME: optionalString,
  ALERTS_MQTT_PASSWORD: optionalString,
  ALERTS_MQTT_CA_FILE: optionalString,
  ALERTS_MQTT_CERT_FILE: optionalString,
  ALERTS_MQTT_KEY_FILE: optionalString,
  ALERTS_MQTT_REJECT_UNAUTHORIZED: booleanVar('ALERTS_MQTT_REJECT_UNAUTHORIZED', true),
  GEOCODER: z.enum(['offline', 'off'], { error: 'GEOCODER must be "offline" or "off"' }).default('offline'),
  GEOCODER_MAX_DISTANCE_KM: z.coerce
    .number()
    .positive('GEOCODER_MAX_DISTANCE_KM must be positive')
    .default(50),
  IMPORTER_HTTP_PORT: portVar('IMPORTER_HTTP_PORT', 9465),
  IMPORTER_HTTP_HOST: z.string().min(1, 'IMPORTER_HTTP_HOST must not be empty').default('0.0.0.0'),
  LOG_LEVEL: logLevelVar(),
})

export interface ImporterConfig {
  connect: ReturnType<typeof connectOptionsFromEnv>
  redisUrl: string | undefined
  /** Before every Redis key (the import lock). */
  redisKeyPrefix: string
  /**
   * Secret: the X25519 private key that opens the stored tracker keys (KEY_SEALING_PRIVATE_KEY, or the
   * file KEY_SEALING_PRIVATE_KEY_FILE names). Required to import; never logged.
   */
  keySealingPrivateKey: string | undefined
  /** The public key, for the commands that only add keys when the private key is not given here. */
  keySealingPublicKey: string | undefined
  /**
   * Secret: the old symmetric key (version 1), for `keys reseal` and, until it has run, to open the
   * keys still in that format. Never logged.
   */
  keyEncryptionKey: string | undefined
  endpoint: {
    url: string | undefined
    username: string | undefined
    password: string | undefined
    batchSize: number
    timeoutMs: number
    maxAttempts: number
    backoffMs: number
    pauseBetweenRequestsMs: number
    /** Failing requests in a row that make /health degraded. */
    failureStreak: number
  }
  lookbackDays: number
  /** The most reports per key the endpoint gives ('auto': learnt from its answers): coverage gaps. */
  endpointReportsPerKey: number | 'auto'
  /** schedule: the seed's full import on IMPORT_SCHEDULE; adaptive: that, plus per-tracker polls. */
  mode: 'schedule' | 'adaptive'
  /** Requests to the endpoint per sliding hour at most, every run included (0: no ceiling). */
  requestBudgetPerHour: number
  /** The adaptive mode's bounds on one tracker's interval. */
  pollIntervalMs: { min: number; max: number }
  schedule: string
  runOnStart: boolean
  insertBatchSize: number
  clockSkewMs: number
  lockTtlMs: number
  /** First retry of a scheduled run that could not start (lock backend unreachable), doubling. */
  retryBackoffMs: number
  /** How often alerts are evaluated without an import waking them (not-seen rules, retries). */
  alertsEvaluateIntervalMs: number
  /** Delivery of the alert outbox; null with ALERTS_DELIVERY=off (another process delivers, or nobody). */
  alertDelivery: AlertDeliverySettings | null
  geocoder: 'offline' | 'off'
  geocoderMaxDistanceKm: number
  httpPort: number
  /** Address of /health and /metrics (the local stack keeps them on 127.0.0.1). */
  httpHost: string
  logLevel: string
  retention: RetentionConfig
}

export class ImporterConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

/** The importer's one reader of the environment: parsed once, bad values named. */
export function parseImporterEnv(env: Record<string, string | undefined>): ImporterConfig {
  const parsed = importerEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
    throw new ImporterConfigError(`Invalid importer configuration:\n${problems.join('\n')}`)
  }
  const e = parsed.data
  let retention: RetentionConfig
  try {
    retention = retentionConfigFromEnv(env)
  } catch (error) {
    throw new ImporterConfigError((error as Error).message)
  }
  // Every report the endpoint can still hand out must be storable without corrupting the daily tier.
  const horizonDays = safeLateHorizonMs(retention) / 86_400_000
  if (e.IMPORT_LOOKBACK_DAYS > horizonDays) {
    throw new ImporterConfigError(
      `IMPORT_LOOKBACK_DAYS=${e.IMPORT_LOOKBACK_DAYS} reaches beyond the safe late horizon of ${horizonDays} days ` +
        'that RAW_RETENTION allows: raise RAW_RETENTION or shorten the lookback.',
    )
  }
  if (e.IMPORT_MODE === 'adaptive' && e.IMPORT_REQUEST_BUDGET === 0) {
    throw new ImporterConfigError(
      'IMPORT_MODE=adaptive needs IMPORT_REQUEST_BUDGET (requests per hour, a hard ceiling): polling too fast gets Apple accounts banned',
    )
  }
  if (e.IMPORT_MIN_POLL_INTERVAL > e.IMPORT_MAX_POLL_INTERVAL) {
    throw new ImporterConfigError('IMPORT_MIN_POLL_INTERVAL must not be longer than IMPORT_MAX_POLL_INTERVAL')
  }
  return {
    connect: connectOptionsFromEnv(e, 'IMPORTER'),
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    keySealingPrivateKey: privateKeyOf(e),
    keySealingPublicKey: e.KEY_SEALING_PUBLIC_KEY,
    keyEncryptionKey: e.KEY_ENCRYPTION_KEY,
    endpoint: {
      url: e.REPORT_ENDPOINT_URL,
      username: e.REPORT_ENDPOINT_USERNAME,
      password: e.REPORT_ENDPOINT_PASSWORD,
      batchSize: e.REPORT_ENDPOINT_BATCH_SIZE,
      timeoutMs: e.REPORT_ENDPOINT_TIMEOUT,
      maxAttempts: e.REPORT_ENDPOINT_MAX_ATTEMPTS,
      backoffMs: e.REPORT_ENDPOINT_BACKOFF,
      pauseBetweenRequestsMs: e.REPORT_ENDPOINT_PAUSE,
      failureStreak: e.IMPORT_ENDPOINT_FAILURE_STREAK,
    },
    lookbackDays: e.IMPORT_LOOKBACK_DAYS,
    endpointReportsPerKey: e.IMPORT_ENDPOINT_REPORTS_PER_KEY,
    mode: e.IMPORT_MODE,
    requestBudgetPerHour: e.IMPORT_REQUEST_BUDGET,
    pollIntervalMs: { min: e.IMPORT_MIN_POLL_INTERVAL, max: e.IMPORT_MAX_POLL_INTERVAL },
    schedule: e.IMPORT_SCHEDULE,
    runOnStart: e.IMPORT_ON_START,
    insertBatchSize: e.IMPORT_INSERT_BATCH_SIZE,
    clockSkewMs: e.IMPORT_CLOCK_SKEW,
    lockTtlMs: e.IMPORT_LOCK_TTL,
    retryBackoffMs: e.IMPORT_RETRY_BACKOFF,
    alertsEvaluateIntervalMs: e.ALERTS_EVALUATE_INTERVAL,
    alertDelivery: alertDeliverySettings(e),
    geocoder: e.GEOCODER,
    geocoderMaxDistanceKm: e.GEOCODER_MAX_DISTANCE_KM,
    httpPort: e.IMPORTER_HTTP_PORT,
    httpHost: e.IMPORTER_HTTP_HOST,
    logLevel: e.LOG_LEVEL,
    retention,
  }
}

/** KEY_SEALING_PRIVATE_KEY, or the content of the file KEY_SEALING_PRIVATE_KEY_FILE names (a secret mount). */
function privateKeyOf(e: z.infer<typeof importerEnvSchema>): string | undefined {
  if (e.KEY_SEALING_PRIVATE_KEY_FILE === undefined) return e.KEY_SEALING_PRIVATE_KEY
  if (e.KEY_SEALING_PRIVATE_KEY !== undefined)
    throw new ImporterConfigError(
      'Invalid importer configuration:\n  - KEY_SEALING_PRIVATE_KEY and KEY_SEALING_PRIVATE_KEY_FILE are both set: give the private key one way',
    )
  try {
    return readFileSync(e.KEY_SEALING_PRIVATE_KEY_FILE, 'utf8').trim()
  } catch (error) {
    throw new ImporterConfigError(
      `Invalid importer configuration:\n  - KEY_SEALING_PRIVATE_KEY_FILE: cannot read ${e.KEY_SEALING_PRIVATE_KEY_FILE} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    )
  }
}

/** Less than this between the send timeout and the lease leaves no time to record the attempt. */
const LEASE_MARGIN_MS = 5000

function alertDeliverySettings(e: z.infer<typeof importerEnvSchema>): AlertDeliverySettings | null {
  if (e.ALERTS_DELIVERY === 'off') return null
  const problems: string[] = []
  if (e.ALERTS_LEASE < e.ALERTS_SEND_TIMEOUT + LEASE_MARGIN_MS)
    problems.push(
      'ALERTS_LEASE must be at least 5 seconds longer than ALERTS_SEND_TIMEOUT (a lease that runs out during a send lets another deliverer send the row too)',
    )
  if (e.ALERTS_RETRY_BACKOFF > e.ALERTS_RETRY_BACKOFF_MAX)
    problems.push('ALERTS_RETRY_BACKOFF must not be longer than ALERTS_RETRY_BACKOFF_MAX')
  if (Boolean(e.ALERTS_MQTT_CERT_FILE) !== Boolean(e.ALERTS_MQTT_KEY_FILE))
    problems.push(
      'ALERTS_MQTT_CERT_FILE and ALERTS_MQTT_KEY_FILE go together (a client certificate and its key)',
    )
  if (problems.length > 0)
    throw new ImporterConfigError(
      `Invalid importer configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
  const pem = (variable: string, path: string | undefined) => {
    if (!path) return undefined
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new ImporterConfigError(
        `Invalid importer configuration:\n  - ${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      )
    }
  }
  const ca = pem('ALERTS_MQTT_CA_FILE', e.ALERTS_MQTT_CA_FILE)
  const cert = pem('ALERTS_MQTT_CERT_FILE', e.ALERTS_MQTT_CERT_FILE)
  const key = pem('ALERTS_MQTT_KEY_FILE', e.ALERTS_MQTT_KEY_FILE)
  return {
    maxAttempts: e.ALERTS_MAX_ATTEMPTS,
    backoff: { initialMs: e.ALERTS_RETRY_BACKOFF, maxMs: e.ALERTS_RETRY_BACKOFF_MAX },
    sendTimeoutMs: e.ALERTS_SEND_TIMEOUT,
    leaseMs: e.ALERTS_LEASE,
    pollIntervalMs: e.ALERTS_POLL_INTERVAL,
    mqtt: e.ALERTS_MQTT_URL
      ? {
          url: e.ALERTS_MQTT_URL,
          ...(e.ALERTS_MQTT_USERNAME ? { username: e.ALERTS_MQTT_USERNAME } : {}),
          ...(e.ALERTS_MQTT_PASSWORD ? { password: e.ALERTS_MQTT_PASSWORD } : {}),
          ...(ca !== undefined ? { ca } : {}),
          ...(cert !== undefined ? { cert } : {}),
          ...(key !== undefined ? { key } : {}),
          rejectUnauthorized: e.ALERTS_MQTT_REJECT_UNAUTHORIZED,
        }
      : null,
  }
}

/** The configuration as it may be logged: no secrets. */
export function describeConfig(config: ImporterConfig): Record<string, unknown> {
  return {
    database: config.connect.mode === 'postgres' ? 'postgres' : `embedded (${config.connect.dataDir})`,
    redis: config.redisUrl
      ? {
          keyPrefix: config.redisKeyPrefix || '(none)',
          lock: redisKey(config.redisKeyPrefix, LOCK_NAMES.import),
        }
      : 'none (in-process lock)',
    keySealingPrivateKey: config.keySealingPrivateKey ? 'set' : 'missing',
    ...(config.keyEncryptionKey ? { keyEncryptionKey: 'set (the old format, until keys reseal)' } : {}),
    endpoint: config.endpoint.url
      ? {
          ...config.endpoint,
          url: redactUrl(config.endpoint.url),
          password: config.endpoint.password ? '***' : undefined,
        }
      : 'not configured',
    lookbackDays: config.lookbackDays,
    endpointReportsPerKey: config.endpointReportsPerKey,
    mode: config.mode,
    requestBudgetPerHour: config.requestBudgetPerHour || 'no ceiling',
    pollIntervalMs: config.pollIntervalMs,
    schedule: config.schedule,
    runOnStart: config.runOnStart,
    insertBatchSize: config.insertBatchSize,
    geocoder: config.geocoder,
    alertDelivery: config.alertDelivery
      ? {
          maxAttempts: config.alertDelivery.maxAttempts,
          backoff: config.alertDelivery.backoff,
          sendTimeoutMs: config.alertDelivery.sendTimeoutMs,
          leaseMs: config.alertDelivery.leaseMs,
          pollIntervalMs: config.alertDelivery.pollIntervalMs,
          mqtt: config.alertDelivery.mqtt
            ? {
                url: redactUrl(config.alertDelivery.mqtt.url),
                username: config.alertDelivery.mqtt.username,
                password: config.alertDelivery.mqtt.password ? '***' : undefined,
                ca: Boolean(config.alertDelivery.mqtt.ca),
                clientCertificate: Boolean(config.alertDelivery.mqtt.cert),
                rejectUnauthorized: config.alertDelivery.mqtt.rejectUnauthorized,
              }
            : 'not configured (mqtt channels fail until ALERTS_MQTT_URL is set)',
        }
      : 'off',
  }
}
