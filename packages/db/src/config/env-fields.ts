import { z } from 'zod'
import { parseDuration } from './duration.ts'

/**
 * Field builders shared by every app's environment schema, so a variable of one kind reads, and
 * fails, the same way in every app. Messages name the variable and say what it should be.
 */

/** A duration ("10 days", "30 s", "2 hours") as milliseconds; `allowZero` also accepts "0". */
export function durationVar(name: string, fallback: string, options: { allowZero?: boolean } = {}) {
  return z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      if (options.allowZero && /^\s*0\s*[a-z]*\s*$/i.test(value)) return 0
      try {
        return parseDuration(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${name}: ${(error as Error).message}` })
        return z.NEVER
      }
    })
}

/** A whole number within bounds (min defaults to 1). */
export function wholeNumberVar(name: string, fallback: number, options: { min?: number; max?: number } = {}) {
  const min = options.min ?? 1
  const max = options.max ?? Number.MAX_SAFE_INTEGER
  return z.coerce
    .number({ error: `${name} must be a whole number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`)
    .default(fallback)
}

/** true/false (also 1/0, yes/no). */
export function booleanVar(name: string, fallback: boolean) {
  return (
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: `${name} must be true or false` })
      .default(fallback ? 'true' : 'false')
      // Empty (as env files write an unset value) means the default.
      .transform((value) => (value === '' ? fallback : value === 'true' || value === '1' || value === 'yes'))
  )
}

/** One line per problem, each naming its variable. */
export function envIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const variable = issue.path.join('.')
    return !variable || issue.message.includes(variable) ? issue.message : `${variable}: ${issue.message}`
  })
}

/** A TCP port; 0 asks for any free port. */
export function portVar(name: string, fallback: number) {
  return wholeNumberVar(name, fallback, { min: 0, max: 65535 })
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export function logLevelVar() {
  return z.enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` }).default('info')
}

/** Redis for locks across replicas; unset means in-process locks (one process). */
export function redisUrlVar() {
  return z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// or rediss:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined))
}

/**
 * Put before every Redis key of every app (locks, last-refresh time, rate-limit counters), so that
 * deployments sharing one Redis share nothing; used as given (e.g. `prod:`), empty by default.
 */
export function redisKeyPrefixVar() {
  return z.string().regex(/^\S*$/, 'REDIS_KEY_PREFIX must not contain whitespace').default('')
}
