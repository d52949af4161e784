import {
  booleanVar,
  DAY_MS,
  databaseEnvSchema,
  durationVar,
  envIssues,
  formatDuration,
  KeySealer,
  KeySealingKeyError,
  logLevelVar,
  portVar,
  type RetentionConfig,
  RetentionConfigError,
  redactUrl,
  redisKeyPrefixVar,
  redisUrlVar,
  retentionConfigFromEnv,
  wholeNumberVar,
} from '@tracker/db'
import { z } from 'zod'

/** Bad configuration: the message names every variable that is wrong and what it should be. */
export class ApiConfigError extends Error {
  readonly code = 'INVALID_API_CONFIG'
}

const KEY_SEALING_PUBLIC_KEY_MISSING =
  'KEY_SEALING_PUBLIC_KEY must be set: the public key (X25519, 32 bytes as base64) that tracker private keys are ' +
  'sealed to; the importer holds its private key and prints it with "npm run importer -- keys public" (the local ' +
  'stack, npm run demo, keeps it as keySealingPublicKey in .tracker-data/local-stack.json)'

/**
 * Keys the API must never hold: the private key opens every stored tracker key. Refused at start
 * when they are in its environment, so that a shared env file cannot hand them over unnoticed.
 */
const FORBIDDEN_SECRETS = ['KEY_SEALING_PRIVATE_KEY', 'KEY_SEALING_PRIVATE_KEY_FILE'] as const

export const apiEnvSchema = databaseEnvSchema('API').extend({
  API_HOST: z.string().min(1).default('0.0.0.0'),
  API_PORT: portVar('API_PORT', 4000),
  LOG_LEVEL: logLevelVar(),
  REDIS_URL: redisUrlVar(),
  REDIS_KEY_PREFIX: redisKeyPrefixVar(),
  KEY_SEALING_PUBLIC_KEY: z
    .string({ error: KEY_SEALING_PUBLIC_KEY_MISSING })
    .trim()
    .min(1, KEY_SEALING_PUBLIC_KEY_MISSING),
  API_GRAPHIQL: booleanVar('API_GRAPHIQL', false),
  API_REQUEST_LOGGING: booleanVar('API_REQUEST_LOGGING', true),
  API_HISTORY_MAX_POINTS: wholeNumberVar('API_HISTORY_MAX_POINTS', 500),
  API_HISTORY_MAX_RANGE_HOURLY: durationVar('API_HISTORY_MAX_RANGE_HOURLY', '31 days'),
  API_HISTORY_MAX_RANGE_DAILY: durationVar('API_HISTORY_MAX_RANGE_DAILY', '1096 days'),
  API_HISTORY_CACHE_TTL: durationVar('API_HISTORY_CACHE_TTL', '30 s', { allowZero: true }),
  API_HISTORY_CACHE_MAX_POINTS: wholeNumberVar('API_HISTORY_CACHE_MAX_POINTS', 200_000),
  API_HISTORY_CACHE_MAX_BYTES: wholeNumberVar('API_HISTORY_CACHE_MAX_BYTES', 32 * 1024 * 1024, { min: 1024 }),
  API_PAGE_SIZE_DEFAULT: wholeNumberVar('API_PAGE_SIZE_DEFAULT', 50),
  API_PAGE_SIZE_MAX: wholeNumberVar('API_PAGE_SIZE_MAX', 100),
  API_MAX_QUERY_DEPTH: wholeNumberVar('API_MAX_QUERY_DEPTH', 8, { min: 2 }),
  API_MAX_QUERY_COMPLEXITY: wholeNumberVar('API_MAX_QUERY_COMPLEXITY', 20_000, { min: 10 }),
  API_MAX_QUERY_TOKENS: wholeNumberVar('API_MAX_QUERY_TOKENS', 2_000, { min: 50 }),
  API_MAX_ROOT_FIELDS: wholeNumberVar('API_MAX_ROOT_FIELDS', 10),
  API_BODY_LIMIT_BYTES: wholeNumberVar('API_BODY_LIMIT_BYTES', 64 * 1024, { min: 1024 }),
  API_MAX_KEYS_PER_MUTATION: wholeNumberVar('API_MAX_KEYS_PER_MUTATION', 50),
  API_RATE_LIMIT_MAX: wholeNumberVar('API_RATE_LIMIT_MAX', 600),
  API_RATE_LIMIT_WINDOW: durationVar('API_RATE_LIMIT_WINDOW', '1 min'),
  API_RATE_LIMIT_UNAUTHENTICATED: wholeNumberVar('API_RATE_LIMIT_UNAUTHENTICATED', 30),
  API_STATUS_ACTIVE_WITHIN: durationVar('API_STATUS_ACTIVE_WITHIN', '24 hours'),
  API_STATUS_LOST_AFTER: durationVar('API_STATUS_LOST_AFTER', '7 days'),
  API_REFRESH_MAX_WINDOW: durationVar('API_REFRESH_MAX_WINDOW', '31 days'),
  API_REFRESH_LOCK_WAIT: durationVar('API_REFRESH_LOCK_WAIT', '60 s'),
  API_REFRESH_ACCEPT_TIMEOUT: durationVar('API_REFRESH_ACCEPT_TIMEOUT', '5 s'),
  API_REFRESH_TIMEOUT: durationVar('API_REFRESH_TIMEOUT', '5 min'),
  API_TOKEN_CACHE_TTL: durationVar('API_TOKEN_CACHE_TTL', '10 s'),
  API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN: wholeNumberVar(
    'API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN',
    20,
  ),
  API_SUBSCRIPTION_MAX_PER_TOKEN: wholeNumberVar('API_SUBSCRIPTION_MAX_PER_TOKEN', 100),
  API_SUBSCRIPTION_KEEP_ALIVE: durationVar('API_SUBSCRIPTION_KEEP_ALIVE', '30 s', { allowZero: true }),
  API_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, ctx): boolean | number | string => {
      const v = value.trim()
      if (v === '' || /^(false|0|no)$/i.test(v)) return false
      if (/^(true|yes)$/i.test(v)) return true
      if (/^[1-9]\d?$/.test(v)) return Number(v)
      if (/^[0-9a-f.:/]+(\s*,\s*[0-9a-f.:/]+)*$/i.test(v)) return v
      ctx.addIssue({
        code: 'custom',
        message:
          "API_TRUST_PROXY must be false, true, a number of proxy hops, or the proxies' addresses/CIDRs separated by commas",
      })
      return z.NEVER
    }),
  WEB_ROOT: z.string().optional(),
  WEB_TILE_URL: z.string().optional(),
  WEB_TILE_ATTRIBUTION: z.string().optional(),
  WEB_SESSION_TTL: durationVar('WEB_SESSION_TTL', '7 days'),
})

type ParsedEnv = z.infer<typeof apiEnvSchema>

/** The API's configuration, parsed once from the environment. */
export interface ApiConfig {
  host: string
  port: number
  logLevel: string
  graphiql: boolean
  /** One log line as each request arrives and one as it completes (Fastify's request logging). */
  requestLogging: boolean
  /** The database part of the environment, as `connectOptionsFromEnv(env, 'API')` reads it. */
  databaseEnv: Record<string, unknown>
  redisUrl: string | undefined
  /** Before every Redis key: the rate-limit counters (the same prefix as every app's). */
  redisKeyPrefix: string
  /**
   * The public key tracker private keys are sealed to (not secret). The API holds no key that opens
   * them: neither the private key (refused at start when set) nor KEY_ENCRYPTION_KEY (never read).
   */
  keySealingPublicKey: string
  /** KEY_ENCRYPTION_KEY is set in the environment, though the API does not read it: a warning at start. */
  legacyKeyInEnvironment: boolean
  retention: RetentionConfig
  history: { maxPoints: number; maxRangeHourlyMs: number; maxRangeDailyMs: number }
  /**
   * Answers read from location history kept between requests, until a change or ttlMs (0: off):
   * history pages (bounded in points) and whole history-only GraphQL responses (bounded in bytes).
   */
  historyCache: { ttlMs: number; maxPoints: number; maxBytes: number }
  pagination: { defaultPageSize: number; maxPageSize: number }
  limits: {
    maxDepth: number
    maxComplexity: number
    maxTokens: number
    /** Root fields of one operation, each alias counted (each is at least one database query). */
    maxRootFields: number
    bodyLimitBytes: number
    maxKeysPerMutation: number
  }
  /**
   * Per token per window; `unauthenticatedMax`: requests without a valid token per client address
   * per window, refused before the token is looked up once used up.
   */
  rateLimit: { max: number; windowMs: number; unauthenticatedMax: number }
  status: { activeWithinMs: number; lostAfterMs: number }
  /**
   * The refresh mutation asks the refresher: a refresher must take the request within
   * acceptTimeoutMs and answer within timeoutMs; it waits for the refresh lock up to lockWaitMs.
   */
  refresh: { maxWindowMs: number; lockWaitMs: number; acceptTimeoutMs: number; timeoutMs: number }
  /**
   * Token checks remembered for tokenCacheTtlMs: valid tokens and unknown ones in two maps, each
   * bounded, so that guessed tokens never push a valid one out. When tokens and sessions were last
   * used is written every lastUseFlushEveryMs (at most once a minute each), never by a request.
   */
  auth: {
    tokenCacheTtlMs: number
    tokenCacheMaxEntries: number
    unknownTokenCacheMaxEntries: number
    lastUseFlushEveryMs: number
  }
  /**
   * GraphQL subscriptions over WebSocket, per token (a session counts as its token): open
   * connections, live subscriptions across them; keepAliveMs: how often the server pings (0: never).
   */
  subscriptions: { maxConnectionsPerToken: number; maxPerToken: number; keepAliveMs: number }
  /**
   * Which peers' X-Forwarded-* headers to believe (Fastify's trustProxy): then the client address
   * (rate limits) and the protocol (a session cookie's Secure, the same-origin check) are the
   * proxy's word. false: the connection's own.
   */
  trustProxy: boolean | number | string
  /**
   * The web app: `root` is the built page (index.html and assets/), served at / when set; `tiles` a
   * basemap tile server the page may load from (opt-in: none by default, so no request leaves the
   * origin); sessions (the cookie a token is exchanged for) last `sessionTtlMs`.
   */
  web: { root?: string; tiles?: WebTiles; sessionTtlMs: number }
}

export interface WebTiles {
  /** A Leaflet tile URL template: http(s), with {z}, {x} and {y} (and optionally {s} subdomains). */
  url: string
  attribution: string
  /** What the Content-Security-Policy lets images load from, e.g. https://*.tile.openstreetmap.org. */
  origin: string
}

/**
 * The tile server's origin as a CSP source, or a problem naming WEB_TILE_URL. `{s}` (Leaflet's
 * subdomains) may only be a leading label of the host: it becomes the wildcard `*`.
 */
export function tileOrigin(url: string): { origin: string } | { problem: string } {
  const problem = (what: string) => ({
    problem: `WEB_TILE_URL must be an http(s) tile URL with {z}, {x} and {y}, such as https://tile.openstreetmap.org/{z}/{x}/{y}.png (${what})`,
  })
  for (const part of ['{z}', '{x}', '{y}']) if (!url.includes(part)) return problem(`${part} is missing`)
  let parsed: URL
  try {
    parsed = new URL(url.replace(/^(https?:\/\/)\{s\}\./i, '$1s.'))
  } catch {
    return problem('it is not a URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return problem(`not ${parsed.protocol}`)
  if (parsed.username || parsed.password) return problem('no credentials in it')
  if (/[{}]/.test(parsed.host) || /[{}]/.test(decodeURIComponent(parsed.host))) {
    return problem('{s} may only be the first label of the host')
  }
  const wildcard = /^https?:\/\/\{s\}\./i.test(url)
  return { origin: `${parsed.protocol}//${wildcard ? `*${parsed.host.slice(1)}` : parsed.host}` }
}

/** Reads the environment (main.ts passes process.env); fails naming each bad variable. */
export function parseApiEnv(env: Record<string, string | undefined>): ApiConfig {
  const problems: string[] = []
  const parsed = apiEnvSchema.safeParse(env)
  if (!parsed.success) problems.push(...envIssues(parsed.error))
  if (parsed.success) {
    try {
      KeySealer.fromPublicKey(parsed.data.KEY_SEALING_PUBLIC_KEY)
    } catch (error) {
      if (!(error instanceof KeySealingKeyError)) throw error
      problems.push(error.message)
    }
  }
  for (const name of FORBIDDEN_SECRETS) {
    if (env[name]?.trim()) {
      problems.push(
        `${name} must not be set for the API: it opens every stored tracker private key, and only the importer ` +
          'may hold it; the API needs only KEY_SEALING_PUBLIC_KEY. Give it to the importer alone (compose blanks it ' +
          'for the other services; systemd: /etc/tracker/tracker-importer.env)',
      )
    }
  }
  let retention: RetentionConfig | undefined
  try {
    retention = retentionConfigFromEnv(env)
  } catch (error) {
    if (!(error instanceof RetentionConfigError)) throw error
    problems.push(...error.conflicts)
  }
  if (parsed.success && parsed.data.API_PAGE_SIZE_DEFAULT > parsed.data.API_PAGE_SIZE_MAX) {
    problems.push('API_PAGE_SIZE_DEFAULT must not exceed API_PAGE_SIZE_MAX')
  }
  if (parsed.success && parsed.data.API_REFRESH_LOCK_WAIT >= parsed.data.API_REFRESH_TIMEOUT) {
    problems.push(
      'API_REFRESH_LOCK_WAIT must be shorter than API_REFRESH_TIMEOUT: the refresher waits for the lock, then refreshes, within it',
    )
  }
  if (parsed.success && parsed.data.API_STATUS_ACTIVE_WITHIN >= parsed.data.API_STATUS_LOST_AFTER) {
    problems.push('API_STATUS_ACTIVE_WITHIN must be shorter than API_STATUS_LOST_AFTER')
  }
  let tiles: WebTiles | undefined
  if (parsed.success && parsed.data.WEB_TILE_URL) {
    const url = parsed.data.WEB_TILE_URL.trim()
    const attribution = parsed.data.WEB_TILE_ATTRIBUTION?.trim()
    const origin = tileOrigin(url)
    if ('problem' in origin) problems.push(origin.problem)
    if (!attribution) {
      problems.push(
        'WEB_TILE_ATTRIBUTION must be set with WEB_TILE_URL: the credit the tile server asks for, shown on the map (e.g. "© OpenStreetMap contributors")',
      )
    }
    if ('origin' in origin && attribution) tiles = { url, attribution, origin: origin.origin }
  } else if (parsed.success && parsed.data.WEB_TILE_ATTRIBUTION?.trim()) {
    problems.push('WEB_TILE_ATTRIBUTION is set without WEB_TILE_URL: set both, or neither')
  }
  if (problems.length > 0 || !parsed.success || !retention) {
    throw new ApiConfigError(`Invalid API configuration:\n  - ${problems.join('\n  - ')}`)
  }
  return toConfig(parsed.data, retention, tiles, Boolean(env.KEY_ENCRYPTION_KEY?.trim()))
}

function toConfig(
  e: ParsedEnv,
  retention: RetentionConfig,
  tiles: WebTiles | undefined,
  legacyKeyInEnvironment: boolean,
): ApiConfig {
  return {
    host: e.API_HOST,
    port: e.API_PORT,
    logLevel: e.LOG_LEVEL,
    graphiql: e.API_GRAPHIQL,
    requestLogging: e.API_REQUEST_LOGGING,
    databaseEnv: {
      DATABASE_URL: e.DATABASE_URL,
      DATA_DIR: e.DATA_DIR,
      API_DB_POOL_SIZE: e.API_DB_POOL_SIZE,
      API_DB_STATEMENT_TIMEOUT_MS: e.API_DB_STATEMENT_TIMEOUT_MS,
    },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    keySealingPublicKey: e.KEY_SEALING_PUBLIC_KEY,
    legacyKeyInEnvironment,
    retention,
    history: {
      maxPoints: e.API_HISTORY_MAX_POINTS,
      maxRangeHourlyMs: e.API_HISTORY_MAX_RANGE_HOURLY,
      maxRangeDailyMs: e.API_HISTORY_MAX_RANGE_DAILY,
    },
    historyCache: {
      ttlMs: e.API_HISTORY_CACHE_TTL,
      maxPoints: e.API_HISTORY_CACHE_MAX_POINTS,
      maxBytes: e.API_HISTORY_CACHE_MAX_BYTES,
    },
    pagination: { defaultPageSize: e.API_PAGE_SIZE_DEFAULT, maxPageSize: e.API_PAGE_SIZE_MAX },
    limits: {
      maxDepth: e.API_MAX_QUERY_DEPTH,
      maxComplexity: e.API_MAX_QUERY_COMPLEXITY,
      maxTokens: e.API_MAX_QUERY_TOKENS,
      maxRootFields: e.API_MAX_ROOT_FIELDS,
      bodyLimitBytes: e.API_BODY_LIMIT_BYTES,
      maxKeysPerMutation: e.API_MAX_KEYS_PER_MUTATION,
    },
    rateLimit: {
      max: e.API_RATE_LIMIT_MAX,
      windowMs: e.API_RATE_LIMIT_WINDOW,
      unauthenticatedMax: e.API_RATE_LIMIT_UNAUTHENTICATED,
    },
    status: { activeWithinMs: e.API_STATUS_ACTIVE_WITHIN, lostAfterMs: e.API_STATUS_LOST_AFTER },
    refresh: {
      maxWindowMs: e.API_REFRESH_MAX_WINDOW,
      lockWaitMs: e.API_REFRESH_LOCK_WAIT,
      acceptTimeoutMs: e.API_REFRESH_ACCEPT_TIMEOUT,
      timeoutMs: e.API_REFRESH_TIMEOUT,
    },
    auth: {
      tokenCacheTtlMs: e.API_TOKEN_CACHE_TTL,
      tokenCacheMaxEntries: 10_000,
      unknownTokenCacheMaxEntries: 10_000,
      lastUseFlushEveryMs: 10_000,
    },
    subscriptions: {
      maxConnectionsPerToken: e.API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN,
      maxPerToken: e.API_SUBSCRIPTION_MAX_PER_TOKEN,
      keepAliveMs: e.API_SUBSCRIPTION_KEEP_ALIVE,
    },
    trustProxy: e.API_TRUST_PROXY,
    web: {
      // Empty (an env file's unset value): the web app is not served.
      ...(e.WEB_ROOT?.trim() ? { root: e.WEB_ROOT.trim() } : {}),
      ...(tiles ? { tiles } : {}),
      sessionTtlMs: e.WEB_SESSION_TTL,
    },
  }
}

/** Only the database settings: what the `tokens` commands need. */
export function parseDatabaseEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const parsed = databaseEnvSchema('API').safeParse(env)
  if (!parsed.success) {
    throw new ApiConfigError(`Invalid database configuration:\n  - ${envIssues(parsed.error).join('\n  - ')}`)
  }
  return parsed.data
}

/** The configuration as it may be logged: durations readable, secrets left out, URLs redacted. */
export function describeConfig(config: ApiConfig): Record<string, unknown> {
  const url = config.databaseEnv.DATABASE_URL as string | undefined
  const d = (ms: number) => formatDuration(ms)
  return {
    host: config.host,
    port: config.port,
    logLevel: config.logLevel,
    graphiql: config.graphiql,
    database: url ? redactUrl(url) : `embedded (${String(config.databaseEnv.DATA_DIR)})`,
    dbPoolSize: config.databaseEnv.API_DB_POOL_SIZE,
    dbStatementTimeoutMs: config.databaseEnv.API_DB_STATEMENT_TIMEOUT_MS,
    locks: config.redisUrl
      ? `redis (${redactUrl(config.redisUrl)}, key prefix "${config.redisKeyPrefix}")`
      : 'in-process',
    history: {
      maxPoints: config.history.maxPoints,
      maxRangeHourly: d(config.history.maxRangeHourlyMs),
      maxRangeDaily: d(config.history.maxRangeDailyMs),
    },
    historyCache:
      config.historyCache.ttlMs > 0
        ? {
            ttl: d(config.historyCache.ttlMs),
            maxPoints: config.historyCache.maxPoints,
            maxBytes: config.historyCache.maxBytes,
          }
        : 'off',
    pagination: config.pagination,
    limits: config.limits,
    rateLimit: { max: config.rateLimit.max, window: d(config.rateLimit.windowMs) },
    status: { activeWithin: d(config.status.activeWithinMs), lostAfter: d(config.status.lostAfterMs) },
    refresh: {
      maxWindow: d(config.refresh.maxWindowMs),
      lockWait: d(config.refresh.lockWaitMs),
      acceptTimeout: d(config.refresh.acceptTimeoutMs),
      timeout: d(config.refresh.timeoutMs),
    },
    tokenCacheTtl: d(config.auth.tokenCacheTtlMs),
    subscriptions: {
      maxConnectionsPerToken: config.subscriptions.maxConnectionsPerToken,
      maxPerToken: config.subscriptions.maxPerToken,
      keepAlive: d(config.subscriptions.keepAliveMs),
    },
    trustProxy: config.trustProxy,
    web: {
      root: config.web.root ?? 'not served',
      tiles: config.web.tiles?.url ?? 'none (offline basemap)',
      sessionTtl: d(config.web.sessionTtlMs),
    },
    rawRetention: d(config.retention.rawRetentionMs),
  }
}

/** For error messages: "31 days", "1096 days". */
export const describeDuration = (ms: number) =>
  ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : formatDuration(ms)
