import { connectDatabase } from '../connect/connect.ts'
import { insertMockLocationReports } from '../mock-data.ts'
import { readCliEnv } from './env.ts'
import { describeTarget, runCli } from './run-cli.ts'

// `pnpm db:mock-data`: the seed's bulk test (sql/mock_location_reports_europe.sql).
await runCli(async () => {
  const { connect } = readCliEnv()
  const database = await connectDatabase(connect)
  try {
    const inserted = await insertMockLocationReports(database)
    console.log(
      inserted > 0
        ? `inserted ${inserted} mock reports into location_reports (${describeTarget(connect)}); ` +
            "the refresher carries them into location_history (or run the refresher's refresh-all)"
        : 'every tracker already has history (or has no key): nothing inserted',
    )
  } finally {
    await database.close()
  }
})
