import { envIssues, logLevelVar, portVar, wholeNumberVar } from '@tracker/db'
import { z } from 'zod'

export const stackEnvSchema = z.object({
  DATA_DIR: z.string().min(1).default('.tracker-data'),
  API_PORT: portVar('API_PORT', 4000),
  /** Postgres wire protocol of the embedded database, for psql. */
  PG_PORT: portVar('PG_PORT', 5433),
  SIMULATOR_PORT: portVar('SIMULATOR_PORT', 0),
  IMPORTER_HTTP_PORT: portVar('IMPORTER_HTTP_PORT', 9465),
  REFRESHER_HTTP_PORT: portVar('REFRESHER_HTTP_PORT', 9466),
  DEMO_TRACKERS: wholeNumberVar('DEMO_TRACKERS', 3, { max: 50 }),
  LOG_LEVEL: logLevelVar(),
  /** pretty: readable lines for a person at a terminal; json: one JSON object per line, as in production. */
  LOG_FORMAT: z.enum(['pretty', 'json'], { message: 'LOG_FORMAT must be pretty or json' }).default('pretty'),
})

export type StackSettings = z.infer<typeof stackEnvSchema>

export class StackConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

/** The stack's own settings; the apps read theirs from the same environment, with the stack's overrides. */
export function parseStackEnv(env: Record<string, string | undefined>): StackSettings {
  const parsed = stackEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
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
