import { connectDatabase } from '../connect/connect.ts'
import { migrateToLatest } from '../migrate.ts'
import { applyAppRoles } from '../roles/app-roles.ts'
import { applyStoragePolicies } from '../storage-policies.ts'
import { readAppRolesEnv, readCliEnv } from './env.ts'
import { describeTarget, runCli } from './run-cli.ts'

// `pnpm db:migrate`: every pending migration, the storage policies from the environment, then (with
// DB_ROLES=on) the apps' database roles and their grants.
await runCli(async () => {
  const { connect, retention } = readCliEnv()
  const roles = readAppRolesEnv(connect.mode)
  const database = await connectDatabase(connect)
  try {
    const results = await migrateToLatest(database.db)
    for (const result of results) console.log(`migrated up: ${result.migrationName}`)
    if (results.length === 0) console.log('no pending migrations')
    const changed = await applyStoragePolicies(database.db, retention)
    console.log(
      changed.length
        ? `storage policies updated: ${changed.join(', ')}`
        : 'storage policies match the configuration',
    )
    if (roles) {
      await applyAppRoles(database.db, roles)
      const names = Object.values(roles).map((r) => r.role)
      console.log(`app roles granted: ${names.join(', ')}`)
    }
    console.log(`database: ${describeTarget(connect)}`)
  } finally {
    await database.close()
  }
})
