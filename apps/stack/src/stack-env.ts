import { z } from 'zod'

const port = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 (a free port) to 65535`)
    .max(65535, `${name} must be 0 (a free port) to 65535`)
    .default(fallback)

export const stackEnvSchema = z.object({
  DATA_DIR: z.string().min(1).default('.tracker-data'),
  API_PORT: port('API_PORT', 4000),
  /** Postgres wire protocol of the embedded database, for psql. */
  PG_PORT: port('PG_PORT', 5433),
  SIMULATOR_PORT: port('SIMULATOR_PORT', 0),
  IMPORTER_HTTP_PORT: port('IMPORTER_HTTP_PORT', 9465),
  REFRESHER_HTTP_PORT: port('REFRESHER_HTTP_PORT', 9466),
  DEMO_TRACKERS: z.coerce
    .number()
    .int()
    .min(1, 'DEMO_TRACKERS must be 1 to 50')
    .max(50, 'DEMO_TRACKERS must be 1 to 50')
    .default(3),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
})

export type StackSettings = z.infer<typeof stackEnvSchema>

export class StackConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

/** The stack's own settings; the apps read theirs from the same environment, with the stack's overrides. */
export function parseStackEnv(env: Record<string, string | undefined>): StackSettings {
  const parsed = stackEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`)
    throw new StackConfigError(`Invalid configuration:\n${problems.join('\n')}`)
  }
  if (env.DATABASE_URL) {
    throw new StackConfigError(
      'DATABASE_URL is set, but the one-command stack runs on the embedded TimescaleDB. Unset it, or run the apps ' +
        'against your server on their own (see README: docker compose, or each app alone).',
    )
  }
  return parsed.data
}
