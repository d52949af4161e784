import { readFileSync } from 'node:fs'
import {
  booleanVar,
  type ConnectOptions,
  connectOptionsFromEnv,
  databaseEnvSchema,
  durationVar,
  envIssues,
  formatDuration,
  logLevelVar,
  portVar,
  redactUrl,
} from '@tracker/db'
import { z } from 'zod'

/** An MQTT topic level prefix: no wildcards, no leading or trailing slash, not empty. */
function topicPrefixVar(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .refine((value) => value.length > 0 && !/[#+\s]/.test(value) && !/^\/|\/$/.test(value), {
      message: `${name} must be a topic prefix without wildcards (+, #), spaces or a leading/trailing slash`,
    })
}

/** One topic level (OwnTracks' <user>): no slash, no wildcards. */
function topicLevelVar(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .refine((value) => value.length > 0 && !/[#+/\s]/.test(value), {
      message: `${name} must be one topic level: no slash, wildcard (+, #) or space`,
    })
}

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value))

export const bridgeEnvSchema = databaseEnvSchema('BRIDGE').extend({
  BRIDGE_MQTT_URL: z
    .string({
      error: 'BRIDGE_MQTT_URL is required: the broker, e.g. mqtt://mosquitto:1883 or mqtts://host:8883',
    })
    .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'BRIDGE_MQTT_URL must be an mqtt://, mqtts://, ws:// or wss:// URL'),
  BRIDGE_MQTT_USERNAME: optionalString,
  BRIDGE_MQTT_PASSWORD: optionalString,
  BRIDGE_MQTT_CA_FILE: optionalString,
  BRIDGE_MQTT_CERT_FILE: optionalString,
  BRIDGE_MQTT_KEY_FILE: optionalString,
  BRIDGE_MQTT_REJECT_UNAUTHORIZED: booleanVar('BRIDGE_MQTT_REJECT_UNAUTHORIZED', true),
  BRIDGE_CLIENT_ID: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'BRIDGE_CLIENT_ID must be 1-64 letters, digits, _ . or -')
    .default('tracker-bridge'),
  BRIDGE_TOPIC_PREFIX: topicPrefixVar('BRIDGE_TOPIC_PREFIX', 'tracker'),
  BRIDGE_HOMEASSISTANT: booleanVar('BRIDGE_HOMEASSISTANT', true),
  BRIDGE_HOMEASSISTANT_PREFIX: topicPrefixVar('BRIDGE_HOMEASSISTANT_PREFIX', 'homeassistant'),
  BRIDGE_OWNTRACKS: booleanVar('BRIDGE_OWNTRACKS', true),
  BRIDGE_OWNTRACKS_PREFIX: topicPrefixVar('BRIDGE_OWNTRACKS_PREFIX', 'owntracks'),
  BRIDGE_OWNTRACKS_USER: topicLevelVar('BRIDGE_OWNTRACKS_USER', 'tracker'),
  BRIDGE_RECONNECT_MAX: durationVar('BRIDGE_RECONNECT_MAX', '30 seconds'),
  BRIDGE_HTTP_PORT: portVar('BRIDGE_HTTP_PORT', 9467),
  BRIDGE_HTTP_HOST: z.string().min(1, 'BRIDGE_HTTP_HOST must not be empty').default('0.0.0.0'),
  LOG_LEVEL: logLevelVar(),
})

export interface MqttSettings {
  url: string
  username?: string
  password?: string
  /** PEM contents, read at start (a missing file fails the start, naming the variable). */
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized: boolean
  clientId: string
  /** The longest wait between two reconnect attempts (the first is after 1 s, doubling). */
  reconnectMaxMs: number
}

export interface BridgeConfig {
  connect: ConnectOptions
  mqtt: MqttSettings
  /** The bridge's own topics: `<prefix>/status` (availability) and `<prefix>/<tracker id>/...`. */
  topicPrefix: string
  homeAssistant: { enabled: boolean; discoveryPrefix: string }
  ownTracks: { enabled: boolean; prefix: string; user: string }
  httpPort: number
  httpHost: string
  logLevel: string
}

export class BridgeConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

function readPem(variable: string, path: string | undefined): string | undefined {
  if (!path) return undefined
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new BridgeConfigError(
      `Invalid bridge configuration:\n  - ${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    )
  }
}

/** The bridge's one reader of the environment: parsed once, bad values named. */
export function parseBridgeEnv(env: Record<string, string | undefined>): BridgeConfig {
  const parsed = bridgeEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
    throw new BridgeConfigError(`Invalid bridge configuration:\n${problems.join('\n')}`)
  }
  const e = parsed.data
  if (!e.BRIDGE_HOMEASSISTANT && !e.BRIDGE_OWNTRACKS) {
    throw new BridgeConfigError(
      'Invalid bridge configuration:\n  - BRIDGE_HOMEASSISTANT and BRIDGE_OWNTRACKS are both off: nothing to publish',
    )
  }
  if (Boolean(e.BRIDGE_MQTT_CERT_FILE) !== Boolean(e.BRIDGE_MQTT_KEY_FILE)) {
    throw new BridgeConfigError(
      'Invalid bridge configuration:\n  - BRIDGE_MQTT_CERT_FILE and BRIDGE_MQTT_KEY_FILE go together (a client certificate and its key)',
    )
  }
  return {
    connect: connectOptionsFromEnv(e, 'BRIDGE'),
    mqtt: {
      url: e.BRIDGE_MQTT_URL,
      ...(e.BRIDGE_MQTT_USERNAME ? { username: e.BRIDGE_MQTT_USERNAME } : {}),
      ...(e.BRIDGE_MQTT_PASSWORD ? { password: e.BRIDGE_MQTT_PASSWORD } : {}),
      ...optionalPem('ca', readPem('BRIDGE_MQTT_CA_FILE', e.BRIDGE_MQTT_CA_FILE)),
      ...optionalPem('cert', readPem('BRIDGE_MQTT_CERT_FILE', e.BRIDGE_MQTT_CERT_FILE)),
      ...optionalPem('key', readPem('BRIDGE_MQTT_KEY_FILE', e.BRIDGE_MQTT_KEY_FILE)),
      rejectUnauthorized: e.BRIDGE_MQTT_REJECT_UNAUTHORIZED,
      clientId: e.BRIDGE_CLIENT_ID,
      reconnectMaxMs: e.BRIDGE_RECONNECT_MAX,
    },
    topicPrefix: e.BRIDGE_TOPIC_PREFIX,
    homeAssistant: { enabled: e.BRIDGE_HOMEASSISTANT, discoveryPrefix: e.BRIDGE_HOMEASSISTANT_PREFIX },
    ownTracks: {
      enabled: e.BRIDGE_OWNTRACKS,
      prefix: e.BRIDGE_OWNTRACKS_PREFIX,
      user: e.BRIDGE_OWNTRACKS_USER,
    },
    httpPort: e.BRIDGE_HTTP_PORT,
    httpHost: e.BRIDGE_HTTP_HOST,
    logLevel: e.LOG_LEVEL,
  }
}

function optionalPem<K extends 'ca' | 'cert' | 'key'>(key: K, value: string | undefined) {
  return (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>
}

/** The configuration as it may be logged: no secrets (the password and key are never shown). */
export function describeConfig(config: BridgeConfig): Record<string, unknown> {
  return {
    database:
      config.connect.mode === 'postgres'
        ? { mode: 'postgres', url: redactUrl(config.connect.url), poolSize: config.connect.poolSize }
        : { mode: 'embedded', dataDir: config.connect.dataDir },
    mqtt: {
      url: redactUrl(config.mqtt.url),
      username: config.mqtt.username,
      password: config.mqtt.password ? '***' : undefined,
      ca: Boolean(config.mqtt.ca),
      clientCertificate: Boolean(config.mqtt.cert),
      rejectUnauthorized: config.mqtt.rejectUnauthorized,
      clientId: config.mqtt.clientId,
      reconnectMax: formatDuration(config.mqtt.reconnectMaxMs),
    },
    topicPrefix: config.topicPrefix,
    homeAssistant: config.homeAssistant.enabled ? config.homeAssistant.discoveryPrefix : 'off',
    ownTracks: config.ownTracks.enabled ? `${config.ownTracks.prefix}/${config.ownTracks.user}` : 'off',
    http: `${config.httpHost}:${config.httpPort}`,
  }
}
