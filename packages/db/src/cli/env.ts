import { z } from 'zod'
import { envIssues } from '../config/env-fields.ts'
import { type RetentionConfig, retentionConfigFromEnv } from '../config/retention.ts'
import { connectOptionsFromEnv, databaseEnvSchema } from '../connect/connect.ts'

/** The database CLIs' one reader of process.env. */
export function readCliEnv(env: NodeJS.ProcessEnv = process.env) {
  const parsed = databaseEnvSchema('CLI').safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
    throw new Error(`Invalid environment:\n${problems.join('\n')}`)
  }
  const retention: RetentionConfig = retentionConfigFromEnv(env)
  return { connect: connectOptionsFromEnv(parsed.data, 'CLI'), retention }
}

export const cliArgs = z.array(z.string())
