import { connectDatabase } from '../connect/connect.ts'
import { rollback } from '../migrate.ts'
import { readCliEnv } from './env.ts'
import { describeTarget, runCli } from './run-cli.ts'

// `pnpm db:rollback` undoes the latest migration; `pnpm db:rollback --all` undoes every one.
await runCli(async () => {
  const all = process.argv.includes('--all')
  const { connect } = readCliEnv()
  const database = await connectDatabase(connect)
  try {
    const results = await rollback(database.db, { all })
    for (const result of results) console.log(`migrated down: ${result.migrationName}`)
    if (results.length === 0) console.log('nothing to roll back')
    console.log(`database: ${describeTarget(connect)}`)
  } finally {
    await database.close()
  }
})
