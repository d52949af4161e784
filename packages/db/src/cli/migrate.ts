import { connectDatabase } from '../connect/connect.ts'
import { migrateToLatest } from '../migrate.ts'
import { applyStoragePolicies } from '../storage-policies.ts'
import { readCliEnv } from './env.ts'
import { describeTarget, runCli } from './run-cli.ts'

// `pnpm db:migrate`: every pending migration, then the storage policies from the environment.
await runCli(async () => {
  const { connect, retention } = readCliEnv()
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
    console.log(`database: ${describeTarget(connect)}`)
  } finally {
    await database.close()
  }
})
