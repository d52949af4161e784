import { z } from 'zod'
import { envIssues } from '../config/env-fields.ts'
import { type RetentionConfig, retentionConfigFromEnv } from '../config/retention.ts'
import { connectOptionsFromEnv, databaseEnvSchema } from '../connect/connect.ts'
import { appRolesEnvSchema, appRolesFromEnv } from '../roles/app-roles-env.ts'

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

/** The migrate CLI's app roles (DB_ROLES…), or null when off; passwords needed against a server. */
export function readAppRolesEnv(mode: 'postgres' | 'embedded', env: NodeJS.ProcessEnv = process.env) {
  const parsed = appRolesEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
    throw new Error(`Invalid environment:\n${problems.join('\n')}`)
  }
  return appRolesFromEnv(parsed.data, { login: mode === 'postgres' })
}

export const cliArgs = z.array(z.string())
