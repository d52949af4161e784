import type { EmbeddedDatabase } from '../connect/embedded.ts'
import { embeddedAsRole } from '../connect/embedded.ts'
import { type AppName, applyAppRoles, DEFAULT_ROLE_NAMES } from '../roles/app-roles.ts'
import type { TestDatabase } from './test-database.ts'

/**
 * Makes every app's role on an embedded test database (as the migrate step does with DB_ROLES=on)
 * and returns a way to run an app's statements under its role; fixtures keep writing as the owner.
 */
export async function withAppRoles(owner: TestDatabase): Promise<(app: AppName) => EmbeddedDatabase> {
  await applyAppRoles(owner.db, {
    api: { role: DEFAULT_ROLE_NAMES.api },
    importer: { role: DEFAULT_ROLE_NAMES.importer },
    refresher: { role: DEFAULT_ROLE_NAMES.refresher },
    bridge: { role: DEFAULT_ROLE_NAMES.bridge },
  })
  return (app) => embeddedAsRole(owner as unknown as EmbeddedDatabase, DEFAULT_ROLE_NAMES[app])
}
