import { DAY_MS, formatDuration, HOUR_MS, parseDuration } from './duration.ts'

/**
 * Storage tiers and the refresh windows that read them, as one validated configuration.
 *
 * Why this exists: dropping raw chunks records an invalidation for the dropped range, and a later
 * refresh of a continuous aggregate over that range rebuilds its buckets from the raw rows that are
 * left, i.e. deletes history (see ../shared/timescaledb.md). The invariant below keeps every refresh
 * window newer than what raw retention can have dropped, with a margin of one raw chunk (retention
 * drops whole chunks) plus one bucket of the aggregate being refreshed.
 */
export interface RetentionConfig {
  /** How long raw reports are kept (policy on location_reports). */
  rawRetentionMs: number
  /** Chunk interval of location_reports. */
  rawChunkIntervalMs: number
  /** Raw chunks older than this are compressed. */
  rawCompressAfterMs: number
  /** Retention of location_history_hourly (the seed: 24 hours; 48 since the hourly tier reaches back up to 48). */
  hourlyRetentionMs: number
  /** Chunk interval of the hourly aggregate's materialization: small so that its retention acts. */
  hourlyChunkIntervalMs: number
  /** Retention of location_history_daily (the seed: 1 year). */
  dailyRetentionMs: number
  dailyChunkIntervalMs: number
  /** How far back the hourly aggregate is refreshed (periodic refresh and policy start_offset). */
  hourlyRefreshWindowMs: number
  /** How far back the daily aggregate is refreshed (periodic refresh and policy start_offset). */
  dailyRefreshWindowMs: number
}

export const HOURLY_BUCKET_MS = HOUR_MS
export const DAILY_BUCKET_MS = DAY_MS

export const DEFAULT_RETENTION: RetentionConfig = {
  // The report endpoint serves about 7 days: raw retention must outlive that (see safeLateHorizonMs).
  rawRetentionMs: 10 * DAY_MS,
  rawChunkIntervalMs: DAY_MS,
  rawCompressAfterMs: 3 * DAY_MS,
  hourlyRetentionMs: 48 * HOUR_MS,
  hourlyChunkIntervalMs: 2 * HOUR_MS,
  dailyRetentionMs: 365 * DAY_MS,
  dailyChunkIntervalMs: 7 * DAY_MS,
  hourlyRefreshWindowMs: 48 * HOUR_MS,
  dailyRefreshWindowMs: 7 * DAY_MS,
}

/** Environment variable for each setting, in the order they are documented. */
export const RETENTION_ENV: Record<keyof RetentionConfig, string> = {
  rawRetentionMs: 'RAW_RETENTION',
  rawChunkIntervalMs: 'RAW_CHUNK_INTERVAL',
  rawCompressAfterMs: 'RAW_COMPRESS_AFTER',
  hourlyRetentionMs: 'HOURLY_RETENTION',
  hourlyChunkIntervalMs: 'HOURLY_CHUNK_INTERVAL',
  dailyRetentionMs: 'DAILY_RETENTION',
  dailyChunkIntervalMs: 'DAILY_CHUNK_INTERVAL',
  hourlyRefreshWindowMs: 'HOURLY_REFRESH_WINDOW',
  dailyRefreshWindowMs: 'DAILY_REFRESH_WINDOW',
}

export class RetentionConfigError extends Error {
  readonly code = 'INVALID_RETENTION_CONFIG'
  readonly conflicts: string[]
  constructor(conflicts: string[]) {
    super(`Inconsistent retention configuration:\n  - ${conflicts.join('\n  - ')}`)
    this.conflicts = conflicts
  }
}

const fmt = (config: RetentionConfig, key: keyof RetentionConfig) =>
  `${RETENTION_ENV[key]}=${formatDuration(config[key])}`

/** Every rule the storage tiers must satisfy; an empty list means the configuration is safe. */
export function retentionConflicts(config: RetentionConfig): string[] {
  const conflicts: string[] = []
  const margin = (bucketMs: number) => config.rawChunkIntervalMs + bucketMs
  const checkWindow = (key: 'hourlyRefreshWindowMs' | 'dailyRefreshWindowMs', bucketMs: number) => {
    const needed = config[key] + margin(bucketMs)
    if (needed > config.rawRetentionMs) {
      conflicts.push(
        `${fmt(config, key)} plus one raw chunk (${fmt(config, 'rawChunkIntervalMs')}) and one ` +
          `${formatDuration(bucketMs)} bucket reaches ${formatDuration(needed)} back, beyond ` +
          `${fmt(config, 'rawRetentionMs')}: a refresh there would rebuild buckets from dropped raw data ` +
          `and erase history. Raise RAW_RETENTION to at least ${formatDuration(needed)} or shorten the window.`,
      )
    }
  }
  checkWindow('hourlyRefreshWindowMs', HOURLY_BUCKET_MS)
  checkWindow('dailyRefreshWindowMs', DAILY_BUCKET_MS)
  if (config.hourlyRetentionMs < config.hourlyRefreshWindowMs) {
    conflicts.push(
      `${fmt(config, 'hourlyRetentionMs')} is shorter than ${fmt(config, 'hourlyRefreshWindowMs')}: ` +
        'the hourly aggregate must keep what its refresh maintains (the hourly tier reaches back that far).',
    )
  }
  if (config.dailyRetentionMs < config.dailyRefreshWindowMs) {
    conflicts.push(
      `${fmt(config, 'dailyRetentionMs')} is shorter than ${fmt(config, 'dailyRefreshWindowMs')}.`,
    )
  }
  if (config.rawCompressAfterMs >= config.rawRetentionMs) {
    conflicts.push(
      `${fmt(config, 'rawCompressAfterMs')} is not shorter than ${fmt(config, 'rawRetentionMs')}: ` +
        'raw chunks would be dropped before they are ever compressed.',
    )
  }
  if (config.hourlyChunkIntervalMs > config.hourlyRetentionMs) {
    conflicts.push(
      `${fmt(config, 'hourlyChunkIntervalMs')} is longer than ${fmt(config, 'hourlyRetentionMs')}: ` +
        'retention drops whole chunks, so hourly rows would outlive their retention.',
    )
  }
  return conflicts
}

/**
 * How old a report may be and still be stored and refreshed safely. A report older than this lands
 * in a range that raw retention may already have dropped; refreshing it would rebuild that day's
 * bucket from the late rows alone (overwriting the real daily history), so the importer rejects it.
 */
export function safeLateHorizonMs(config: RetentionConfig): number {
  return config.rawRetentionMs - config.rawChunkIntervalMs - DAILY_BUCKET_MS
}

/**
 * The oldest start a refresh of an aggregate may use at `now`: windows are clipped to this so that a
 * notification about old data can never reach into dropped raw ranges.
 */
export function oldestSafeRefreshStart(config: RetentionConfig, bucketMs: number, now: Date): Date {
  return new Date(now.getTime() - (config.rawRetentionMs - config.rawChunkIntervalMs - bucketMs))
}

export function assertRetentionConfig(config: RetentionConfig): RetentionConfig {
  const conflicts = retentionConflicts(config)
  if (conflicts.length > 0) throw new RetentionConfigError(conflicts)
  return config
}

/** Reads the storage settings from an environment (unset values take the defaults) and validates them. */
export function retentionConfigFromEnv(env: Record<string, string | undefined>): RetentionConfig {
  const config = { ...DEFAULT_RETENTION }
  const errors: string[] = []
  for (const key of Object.keys(RETENTION_ENV) as (keyof RetentionConfig)[]) {
    const raw = env[RETENTION_ENV[key]]
    if (raw === undefined || raw === '') continue
    try {
      config[key] = parseDuration(raw)
    } catch (error) {
      errors.push(`${RETENTION_ENV[key]}: ${(error as Error).message}`)
    }
  }
  if (errors.length > 0) throw new RetentionConfigError(errors)
  return assertRetentionConfig(config)
}
