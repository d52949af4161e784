import { z } from 'zod'
import { type AppName, type AppRolesConfig, DEFAULT_ROLE_NAMES } from './app-roles.ts'

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/

const roleVar = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((value) => ROLE_NAME.test(value), `${name} must be a lower-case role name (a-z, 0-9, _)`)

const passwordVar = (name: string) =>
  z
    .string()
    .optional()
    .transform((value) => value || undefined)
    .refine((value) => value === undefined || value.length >= 16, `${name} must be at least 16 characters`)

const PREFIX: Record<AppName, string> = {
  api: 'DB_API',
  importer: 'DB_IMPORTER',
  refresher: 'DB_REFRESHER',
  bridge: 'DB_BRIDGE',
}

/** The migrate step's variables for the apps' database roles (applyAppRoles). */
export const appRolesEnvSchema = z.object({
  DB_ROLES: z.enum(['on', 'off'], { error: 'DB_ROLES must be on or off' }).default('off'),
  DB_API_ROLE: roleVar('DB_API_ROLE', DEFAULT_ROLE_NAMES.api),
  DB_API_PASSWORD: passwordVar('DB_API_PASSWORD'),
  DB_IMPORTER_ROLE: roleVar('DB_IMPORTER_ROLE', DEFAULT_ROLE_NAMES.importer),
  DB_IMPORTER_PASSWORD: passwordVar('DB_IMPORTER_PASSWORD'),
  DB_REFRESHER_ROLE: roleVar('DB_REFRESHER_ROLE', DEFAULT_ROLE_NAMES.refresher),
  DB_REFRESHER_PASSWORD: passwordVar('DB_REFRESHER_PASSWORD'),
  DB_BRIDGE_ROLE: roleVar('DB_BRIDGE_ROLE', DEFAULT_ROLE_NAMES.bridge),
  DB_BRIDGE_PASSWORD: passwordVar('DB_BRIDGE_PASSWORD'),
})

export type AppRolesEnv = z.infer<typeof appRolesEnvSchema>

/**
 * The roles to make, or null with DB_ROLES=off. Against a server (`login`) every role needs its
 * password, so that each app can log in; the embedded engine has no logins and takes none.
 */
export function appRolesFromEnv(env: AppRolesEnv, options: { login: boolean }): AppRolesConfig | null {
  if (env.DB_ROLES === 'off') return null
  const config = {} as AppRolesConfig
  const missing: string[] = []
  for (const [app, prefix] of Object.entries(PREFIX) as [AppName, string][]) {
    const role = env[`${prefix}_ROLE` as keyof AppRolesEnv] as string
    const password = env[`${prefix}_PASSWORD` as keyof AppRolesEnv] as string | undefined
    if (options.login && !password) missing.push(`${prefix}_PASSWORD`)
    config[app] = options.login && password ? { role, password } : { role }
  }
  if (missing.length > 0) {
    throw new Error(`DB_ROLES=on with DATABASE_URL: set ${missing.join(', ')} (each app logs in as its role)`)
  }
  return config
}
