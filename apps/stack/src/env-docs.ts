import { apiEnvSchema } from '@tracker/api'
import { bridgeEnvSchema } from '@tracker/bridge'
import { appRolesEnvSchema, DEFAULT_RETENTION, formatDuration, RETENTION_ENV } from '@tracker/db'
import { importerEnvSchema } from '@tracker/importer'
import { refresherEnvSchema } from '@tracker/refresher'
import type { z } from 'zod'
import { stackEnvSchema } from './stack-env.ts'

/**
 * The README's configuration table, generated from the apps' own environment schemas so that names
 * and defaults cannot drift from the code (test/env-docs.test.ts compares it with README.md).
 * Only the meanings are written here.
 */
const MEANINGS: Record<string, string> = {
  DATABASE_URL: 'PostgreSQL/TimescaleDB `postgres://` URL; unset: the embedded TimescaleDB in `DATA_DIR`',
  DATA_DIR: 'the embedded database directory (and the local stack state)',
  REDIS_URL: '`redis://` URL for locks across replicas (and the API rate limits); unset: in-process locks',
  KEY_SEALING_PRIVATE_KEY:
    "X25519 private key (32 bytes, base64 or hex; or PEM) that opens stored tracker keys: the importer's alone (the API refuses it); `keys generate` makes a pair",
  KEY_SEALING_PRIVATE_KEY_FILE: 'a file holding KEY_SEALING_PRIVATE_KEY instead (a secret mount); not both',
  KEY_SEALING_PUBLIC_KEY:
    "its public key (same forms): the API and the commands that add keys seal tracker keys to it; `keys public` prints it; must be the importer's",
  KEY_ENCRYPTION_KEY:
    'the old symmetric key (32 bytes, base64 or hex) of keys sealed before version 2: `keys reseal` needs it once, the importer opens them with it until then',
  LOG_LEVEL: 'pino level: trace, debug, info, warn, error, fatal, silent',
  LOG_FORMAT:
    'local stack: pretty (readable lines) or json (one JSON object per line, as the apps log in production)',
  API_DB_POOL_SIZE: 'connections in the API pool',
  API_DB_STATEMENT_TIMEOUT_MS: 'statement timeout of the API connections (ms)',
  API_HOST: 'API listen address',
  API_PORT: 'API listen port (0: a free port)',
  API_GRAPHIQL: 'serve GraphiQL at /graphiql from the installed packages, no CDN (queries need a token)',
  API_REQUEST_LOGGING: 'a log line as each API request arrives and as it completes (the local stack: false)',
  API_HISTORY_MAX_POINTS: 'points per history call (cut results say so)',
  API_HISTORY_CACHE_TTL:
    'longest a kept history answer is served; kept answers are dropped on every change (0 turns the cache off)',
  API_HISTORY_CACHE_MAX_POINTS: 'history points kept in memory (history pages)',
  API_HISTORY_CACHE_MAX_BYTES: 'bytes of whole history-only responses kept in memory',
  API_HISTORY_MAX_RANGE_HOURLY: 'longest range for bucketSize "1 hour"',
  API_HISTORY_MAX_RANGE_DAILY: 'longest range for bucketSize "1 day"',
  API_PAGE_SIZE_DEFAULT: 'default page size of lists',
  API_PAGE_SIZE_MAX: 'largest page size of lists',
  API_MAX_QUERY_DEPTH: 'GraphQL nesting limit',
  API_MAX_QUERY_COMPLEXITY:
    'GraphQL complexity limit (each field 1, each field that queries the database 1000 more, times its lists)',
  API_MAX_QUERY_TOKENS: 'GraphQL parser token limit',
  API_MAX_ROOT_FIELDS:
    'root fields of one GraphQL operation, each alias counted (each is a database query); more: TOO_MANY_ROOT_FIELDS',
  API_BODY_LIMIT_BYTES: 'request body limit',
  API_MAX_KEYS_PER_MUTATION: 'keys in one createTracker',
  API_RATE_LIMIT_MAX: 'requests per token per window',
  API_RATE_LIMIT_WINDOW: 'rate-limit window',
  API_RATE_LIMIT_UNAUTHENTICATED:
    'requests without a valid token per client address per window; then 429 before any token lookup',
  API_STATUS_ACTIVE_WITHIN: 'currentStatus ACTIVE: seen within this',
  API_STATUS_LOST_AFTER: 'currentStatus LOST: not seen for this (STALE in between)',
  API_REFRESH_MAX_WINDOW: 'longest window refreshLocationHistoryAggregates accepts',
  API_REFRESH_LOCK_WAIT:
    "how long the refresher waits for the shared refresh lock on a refresh mutation's behalf (then REFRESH_BUSY)",
  API_REFRESH_ACCEPT_TIMEOUT:
    "how long a refresher has to take a refresh mutation's request (none: REFRESH_TIMEOUT, is the refresher running?)",
  API_REFRESH_TIMEOUT:
    'how long the refresh mutation waits for the refresher to finish (then REFRESH_TIMEOUT; it still finishes)',
  API_TOKEN_CACHE_TTL: 'how long a token check is remembered (revocation delay on running replicas)',
  API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN:
    'subscription WebSockets one token (or its sessions) may hold open per replica; more are closed with 4429',
  API_SUBSCRIPTION_MAX_PER_TOKEN:
    'live subscriptions one token may run across its sockets per replica; more are refused (TOO_MANY_SUBSCRIPTIONS)',
  API_SUBSCRIPTION_KEEP_ALIVE: 'how often the server pings each subscription socket (0: never)',
  API_TRUST_PROXY:
    "which proxies' X-Forwarded-Proto/-Host/-For to believe: false, true, a hop count, or addresses/CIDRs (Secure cookies, per-client limits behind a TLS proxy)",
  WEB_ROOT:
    'the built web app (index.html, assets/) the API serves at /; the local stack: apps/web/dist when built; the image: /app/web',
  WEB_TILE_URL:
    'opt-in map tile server, http(s) with {z}/{x}/{y} (e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`); unset: the offline basemap',
  WEB_TILE_ATTRIBUTION:
    "the tile server's required attribution, shown on the map (required with WEB_TILE_URL)",
  WEB_SESSION_TTL: 'how long a web sign-in (the session cookie a token is exchanged for) lasts',
  IMPORTER_DB_POOL_SIZE: 'connections in the importer pool',
  IMPORTER_DB_STATEMENT_TIMEOUT_MS: 'statement timeout of the importer connections (ms)',
  REPORT_ENDPOINT_URL:
    'the report endpoint (macless-haystack mh_endpoint.py, or the simulator); required to import',
  REPORT_ENDPOINT_USERNAME: 'HTTP Basic user of the endpoint',
  REPORT_ENDPOINT_PASSWORD: 'HTTP Basic password of the endpoint (never logged)',
  REPORT_ENDPOINT_BATCH_SIZE: 'key ids per request (the endpoint de-duplicates across ids)',
  REPORT_ENDPOINT_TIMEOUT: 'per request',
  REPORT_ENDPOINT_MAX_ATTEMPTS: 'attempts per batch (backoff on 5xx, timeouts, empty 200)',
  REPORT_ENDPOINT_BACKOFF: 'first retry delay, doubling',
  REPORT_ENDPOINT_PAUSE: 'pause between requests (polling too fast gets accounts banned)',
  IMPORT_ENDPOINT_FAILURE_STREAK:
    'endpoint requests failing in a row (neither ok nor partial) that turn the importer /health `degraded`',
  IMPORT_LOOKBACK_DAYS: 'days of reports asked for (1-7, within the safe late horizon)',
  IMPORT_SCHEDULE: 'cron expression (UTC)',
  IMPORT_ON_START: 'run an import at start',
  P224_LIBCRYPTO:
    "the system's libcrypto for P-224 decryption (through koffi, self-tested at start); off: Node's crypto",
  IMPORT_MODE: 'schedule: full imports on IMPORT_SCHEDULE; adaptive: each tracker polled on its own cadence',
  IMPORT_REQUEST_BUDGET:
    'requests to the endpoint per sliding hour at most, every run included (0: no ceiling; needed for adaptive)',
  IMPORT_MIN_POLL_INTERVAL: 'adaptive: a tracker is never polled more often (a fixed interval neither)',
  IMPORT_MAX_POLL_INTERVAL: 'adaptive: a tracker is polled at least this often',
  IMPORT_ENDPOINT_REPORTS_PER_KEY:
    'most reports per key the endpoint gives ("auto": learnt from its answers); a full answer starting after the newest stored report is a coverage gap',
  IMPORT_INSERT_BATCH_SIZE: 'rows per insert statement',
  IMPORT_CLOCK_SKEW: 'reports further in the future are rejected',
  IMPORT_LOCK_TTL: 'TTL of the import lock (extended while a run works)',
  IMPORT_RETRY_BACKOFF:
    'first retry of a run Redis kept from starting; doubling (at most 10 min) until the next run',
  ALERTS_EVALUATE_INTERVAL:
    'how often alerts are evaluated without an import waking them (not-seen rules; a failed pass is retried)',
  ALERTS_DELIVERY:
    '`on`: this importer delivers the alert outbox (webhook, ntfy, MQTT); `off`: it does not (another replica does, or nobody)',
  ALERTS_MAX_ATTEMPTS:
    'attempts per alert and channel; the last failed one gives the delivery up (status failed)',
  ALERTS_RETRY_BACKOFF:
    'wait after a failed delivery attempt, doubling per attempt, jittered (between half and all of it)',
  ALERTS_RETRY_BACKOFF_MAX: "longest wait between two attempts (a receiver's Retry-After included)",
  ALERTS_SEND_TIMEOUT: 'one delivery attempt: the HTTP answer, or the MQTT PUBACK',
  ALERTS_LEASE:
    'how long a deliverer holds an alert it sends; one that dies is resent (same idempotency key) after this; at least ALERTS_SEND_TIMEOUT + 5 s',
  ALERTS_POLL_INTERVAL:
    'longest sleep of the deliverer between looks at the outbox (due retries and notified inserts wake it sooner)',
  ALERTS_MQTT_URL:
    "the broker of `mqtt` alert channels (usually the bridge's): `mqtt://`, `mqtts://`, `ws://`, `wss://`; unset: mqtt channels fail their attempts",
  ALERTS_MQTT_USERNAME: 'broker user for alerts',
  ALERTS_MQTT_PASSWORD: 'broker password for alerts (never logged)',
  ALERTS_MQTT_CA_FILE: "PEM of the CA that signed the alerts broker's certificate",
  ALERTS_MQTT_CERT_FILE: 'PEM client certificate (with ALERTS_MQTT_KEY_FILE)',
  ALERTS_MQTT_KEY_FILE: 'PEM key of the client certificate',
  ALERTS_MQTT_REJECT_UNAUTHORIZED: 'false accepts a broker certificate that does not verify (testing only)',
  GEOCODER: '`offline` (GeoNames, no network) or `off`',
  GEOCODER_MAX_DISTANCE_KM: 'farther than this from any place: no city',
  IMPORTER_HTTP_PORT: 'importer /health and /metrics port (0: a free port)',
  IMPORTER_HTTP_HOST: 'importer /health and /metrics address (the local stack: 127.0.0.1)',
  REFRESHER_DB_POOL_SIZE: 'connections in the refresher pool',
  REFRESHER_DB_STATEMENT_TIMEOUT_MS: 'statement timeout of ordinary refresher queries (ms)',
  REDIS_KEY_PREFIX:
    'put before every Redis key of every app (locks, last refresh, rate limits), e.g. `prod:`; one for all apps of a deployment (API and refresher share a lock)',
  REFRESH_STATEMENT_TIMEOUT: 'statement timeout of every refresh (the seed: 20 minutes)',
  REFRESH_MIN_INTERVAL: 'least time between two location_history refreshes',
  PERIODIC_REFRESH_INTERVAL: 'at most one periodic aggregate refresh per interval, across replicas',
  PERIODIC_REFRESH_CHECK_INTERVAL: 'how often each replica checks whether the periodic refresh is due',
  REFRESH_LOCK_TTL: 'TTL of the periodic refresh lock (extended while held)',
  SHUTDOWN_GRACE: 'on SIGTERM, how long a refresh in flight may finish before it is cancelled',
  REFRESHER_HTTP_PORT: 'refresher /health and /metrics port (0: a free port)',
  REFRESHER_HTTP_HOST: 'refresher /health and /metrics address',
  BRIDGE_DB_POOL_SIZE: 'connections in the bridge pool',
  BRIDGE_DB_STATEMENT_TIMEOUT_MS: 'statement timeout of the bridge connections (ms)',
  BRIDGE_MQTT_URL:
    'the MQTT broker of the bridge: `mqtt://`, `mqtts://` (TLS), `ws://`, `wss://`; the local stack starts the bridge only when it is set',
  BRIDGE_MQTT_USERNAME: 'broker user',
  BRIDGE_MQTT_PASSWORD: 'broker password (never logged)',
  BRIDGE_MQTT_CA_FILE: "PEM of the CA that signed the broker's certificate",
  BRIDGE_MQTT_CERT_FILE: 'PEM client certificate (with BRIDGE_MQTT_KEY_FILE)',
  BRIDGE_MQTT_KEY_FILE: 'PEM key of the client certificate',
  BRIDGE_MQTT_REJECT_UNAUTHORIZED: 'false accepts a broker certificate that does not verify (testing only)',
  BRIDGE_CLIENT_ID: 'MQTT client id of the bridge',
  BRIDGE_TOPIC_PREFIX:
    "the bridge's own topics: `<prefix>/status` (availability, Last Will), `<prefix>/<tracker id>/attributes` and `/published`",
  BRIDGE_HOMEASSISTANT: 'publish Home Assistant MQTT discovery (a device_tracker per tracker)',
  BRIDGE_HOMEASSISTANT_PREFIX: "Home Assistant's discovery prefix",
  BRIDGE_OWNTRACKS: 'publish OwnTracks location messages and cards',
  BRIDGE_OWNTRACKS_PREFIX: 'first level of the OwnTracks topics (`<prefix>/<user>/<tracker id>`)',
  BRIDGE_OWNTRACKS_USER: 'the OwnTracks `<user>` level',
  BRIDGE_RECONNECT_MAX: 'longest wait between two broker reconnect attempts (1 s, doubling)',
  BRIDGE_HTTP_PORT: 'bridge /health and /metrics port (0: a free port)',
  BRIDGE_HTTP_HOST: 'bridge /health and /metrics address (the local stack: 127.0.0.1)',
  DB_ROLES:
    '`on`: the migrate step creates a database role per app and grants each what its app needs (README "Database roles"); compose and tracker-migrate.service set it',
  DB_API_ROLE: "the API's database role",
  DB_API_PASSWORD:
    "the API's role's login password, at least 16 characters (`openssl rand -hex 24`: no escaping in URLs)",
  DB_IMPORTER_ROLE: "the importer's database role (its CLI's too)",
  DB_IMPORTER_PASSWORD: "the importer's role's login password, at least 16 characters",
  DB_REFRESHER_ROLE: "the refresher's database role (owns the two continuous aggregates)",
  DB_REFRESHER_PASSWORD: "the refresher's role's login password, at least 16 characters",
  DB_BRIDGE_ROLE: "the MQTT bridge's database role",
  DB_BRIDGE_PASSWORD: "the bridge's role's login password, at least 16 characters",
  PG_PORT: 'local stack: Postgres port of the embedded database, for psql',
  SIMULATOR_PORT: 'local stack: the simulator (report endpoint) port',
  DEMO_TRACKERS: 'local stack: demo trackers created on first start',
  RAW_RETENTION: 'raw reports kept (retention policy on location_reports)',
  RAW_CHUNK_INTERVAL: 'chunk interval of location_reports',
  RAW_COMPRESS_AFTER: 'raw chunks older than this are compressed',
  HOURLY_RETENTION: 'location_history_hourly kept',
  HOURLY_CHUNK_INTERVAL: 'chunk interval of the hourly aggregate (small, so its retention acts)',
  DAILY_RETENTION: 'location_history_daily kept',
  DAILY_CHUNK_INTERVAL: 'chunk interval of the daily aggregate',
  HOURLY_REFRESH_WINDOW: 'how far back the hourly aggregate is refreshed',
  DAILY_REFRESH_WINDOW:
    'how far back the daily aggregate is refreshed at least (it always reaches the late horizon)',
}

/** Shown instead of "(unset)" where unset means something specific. */
const UNSET: Record<string, string> = {
  DATABASE_URL: '(embedded)',
  REDIS_URL: '(in-process locks)',
  KEY_SEALING_PRIVATE_KEY: '(required to import)',
  KEY_SEALING_PUBLIC_KEY: '(required by the API)',
  REPORT_ENDPOINT_URL: '(required to import)',
  WEB_ROOT: '(not served)',
  WEB_TILE_URL: '(offline basemap)',
  DB_API_PASSWORD: '(required with DB_ROLES=on and DATABASE_URL)',
  DB_IMPORTER_PASSWORD: '(required with DB_ROLES=on and DATABASE_URL)',
  DB_REFRESHER_PASSWORD: '(required with DB_ROLES=on and DATABASE_URL)',
  DB_BRIDGE_PASSWORD: '(required with DB_ROLES=on and DATABASE_URL)',
  BRIDGE_MQTT_URL: '(required by the bridge)',
  ALERTS_MQTT_URL: '(mqtt channels fail)',
}

type Schema = z.ZodObject<Record<string, z.ZodType>>

/** The default a field falls back to: found through the pipes, optionals and defaults around it. */
export function defaultOf(field: z.ZodType): unknown {
  type Node = { _zod: { def: Record<string, unknown> } }
  let node = field as unknown as Node | undefined
  while (node) {
    const def = node._zod.def
    if (def.type === 'default') return def.defaultValue
    node = (def.in ?? def.innerType) as Node | undefined
  }
  return undefined
}

export interface EnvDoc {
  name: string
  apps: string[]
  default: string
  meaning: string
}

export function envDocs(): EnvDoc[] {
  const schemas: [string, Schema][] = [
    ['importer', importerEnvSchema as unknown as Schema],
    ['refresher', refresherEnvSchema as unknown as Schema],
    ['api', apiEnvSchema as unknown as Schema],
    ['bridge', bridgeEnvSchema as unknown as Schema],
    ['migrate', appRolesEnvSchema as unknown as Schema],
    ['local stack', stackEnvSchema as unknown as Schema],
  ]
  const docs = new Map<string, EnvDoc>()
  const add = (name: string, app: string, fallback: unknown) => {
    const doc = docs.get(name) ?? { name, apps: [], default: '', meaning: MEANINGS[name] ?? '' }
    doc.apps.push(app)
    const shown = fallback === undefined ? (UNSET[name] ?? '(unset)') : `\`${String(fallback)}\``
    // The stack overrides some apps' defaults (ports); the apps' own default is the documented one.
    if (!doc.default) doc.default = shown
    docs.set(name, doc)
  }
  for (const [app, schema] of schemas) {
    for (const [name, field] of Object.entries(schema.shape)) add(name, app, defaultOf(field))
  }
  for (const [key, name] of Object.entries(RETENTION_ENV)) {
    for (const app of ['importer', 'refresher', 'api', 'local stack']) {
      add(name, app, formatDuration(DEFAULT_RETENTION[key as keyof typeof DEFAULT_RETENTION]))
    }
  }
  return [...docs.values()]
}

export function envTableMarkdown(): string {
  const rows = envDocs().map((d) => `| \`${d.name}\` | ${d.apps.join(', ')} | ${d.default} | ${d.meaning} |`)
  return ['| variable | read by | default | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

export const ENV_TABLE_BEGIN =
  "<!-- env-table:begin (generated by `npm run docs:env` from the apps' schemas) -->"
export const ENV_TABLE_END = '<!-- env-table:end -->'

/** README text with the section between the markers replaced by the generated table. */
export function withEnvTable(readme: string): string {
  const start = readme.indexOf(ENV_TABLE_BEGIN)
  const end = readme.indexOf(ENV_TABLE_END)
  if (start === -1 || end === -1) throw new Error('README.md has no env-table markers')
  return `${readme.slice(0, start + ENV_TABLE_BEGIN.length)}\n${envTableMarkdown()}\n${readme.slice(end)}`
}

/** A markdown table's cells, whatever the column alignment a formatter gave it. */
export function tableCells(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.trimStart().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim().replace(/^-+$/, '---')),
    )
}

/** The table between the README's markers. */
export function envTableIn(readme: string): string {
  const start = readme.indexOf(ENV_TABLE_BEGIN)
  const end = readme.indexOf(ENV_TABLE_END)
  if (start === -1 || end === -1) throw new Error('README.md has no env-table markers')
  return readme.slice(start + ENV_TABLE_BEGIN.length, end)
}
