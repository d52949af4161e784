import { z } from 'zod'

/**
 * The harness's one reader of the environment. DATABASE_URL runs every figure on a real
 * TimescaleDB server (a fresh database per figure, dropped afterwards); unset, each figure gets a
 * fresh embedded engine.
 */
export const benchEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  // The apps log through pino to stderr; info would put a line per request into the measurements.
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: 'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent',
    })
    .default('warn'),
  // The broker the mqtt figure's bridge publishes to (the machine's Mosquitto).
  BENCH_MQTT_URL: z
    .string()
    .regex(/^(mqtts?|wss?):\/\//, 'BENCH_MQTT_URL must be an mqtt://, mqtts://, ws:// or wss:// URL')
    .default('mqtt://127.0.0.1:1883'),
})

export interface BenchEnv {
  databaseUrl: string | undefined
  logLevel: string
  /** The broker of the mqtt figure. */
  mqttUrl: string
}

export class BenchConfigError extends Error {
  readonly code = 'INVALID_BENCH_CONFIG'
}

export function parseBenchEnv(env: Record<string, string | undefined>): BenchEnv {
  const parsed = benchEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join('.') || 'env'}: ${issue.message}`,
    )
    throw new BenchConfigError(`Invalid benchmark configuration:\n${problems.join('\n')}`)
  }
  return {
    databaseUrl: parsed.data.DATABASE_URL,
    logLevel: parsed.data.LOG_LEVEL,
    mqttUrl: parsed.data.BENCH_MQTT_URL,
  }
}
