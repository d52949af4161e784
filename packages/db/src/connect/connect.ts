import { z } from 'zod'
import { connectEmbedded, type EmbeddedOptions } from './embedded.ts'
import { type Logger, silentLogger } from './logger.ts'
import { connectPostgres, type PostgresOptions } from './postgres.ts'
import type { TrackerDatabase } from './tracker-database.ts'

export type ConnectOptions =
  | ({ mode: 'postgres' } & PostgresOptions)
  | ({ mode: 'embedded' } & EmbeddedOptions)

/** The one way every app connects: a pg pool to a real server, or the embedded TimescaleDB. */
export async function connectDatabase(options: ConnectOptions): Promise<TrackerDatabase> {
  const { mode, ...rest } = options
  return mode === 'postgres'
    ? connectPostgres(rest as PostgresOptions)
    : connectEmbedded(rest as EmbeddedOptions)
}

const positiveInt = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a whole number` })
    .int(`${name} must be a whole number`)
    .positive(`${name} must be positive`)

const poolSize = (prefix: string) => positiveInt(`${prefix}_DB_POOL_SIZE`).default(10)
const statementTimeout = (prefix: string) => positiveInt(`${prefix}_DB_STATEMENT_TIMEOUT_MS`).default(30_000)

/**
 * The database settings of an app's environment. `prefix` names the app's own pool settings
 * (e.g. API_DB_POOL_SIZE), so each app sizes its pool for its own query profile.
 */
export function databaseEnvSchema<P extends string>(prefix: P) {
  const perApp = {
    [`${prefix}_DB_POOL_SIZE`]: poolSize(prefix),
    [`${prefix}_DB_STATEMENT_TIMEOUT_MS`]: statementTimeout(prefix),
  } as Record<`${P}_DB_POOL_SIZE`, ReturnType<typeof poolSize>> &
    Record<`${P}_DB_STATEMENT_TIMEOUT_MS`, ReturnType<typeof statementTimeout>>
  return z.object({
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
      .optional(),
    DATA_DIR: z.string().default('.tracker-data'),
    ...perApp,
  })
}

export function connectOptionsFromEnv(
  env: Record<string, unknown>,
  prefix: string,
  logger: Logger = silentLogger,
): ConnectOptions {
  const url = env.DATABASE_URL as string | undefined
  if (url) {
    return {
      mode: 'postgres',
      url,
      poolSize: env[`${prefix}_DB_POOL_SIZE`] as number,
      statementTimeoutMs: env[`${prefix}_DB_STATEMENT_TIMEOUT_MS`] as number,
      applicationName: `tracker-${prefix.toLowerCase()}`,
      logger,
    }
  }
  return { mode: 'embedded', dataDir: env.DATA_DIR as string, logger }
}

/** A connection string with its password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<unparseable url>'
  }
}
