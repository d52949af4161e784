import { createInterface } from 'node:readline/promises'
import { sql } from 'kysely'
import { connectDatabase } from '../connect/connect.ts'
import type { TrackerDatabase } from '../connect/tracker-database.ts'
import { readCliEnv } from './env.ts'
import { describeTarget, runCli } from './run-cli.ts'
import { splitStatements } from './split-statements.ts'

/**
 * `pnpm db:sql`: a small SQL shell for the embedded database (or DATABASE_URL), so the seed's
 * troubleshooting SQL can be typed as is. `pnpm db:sql -c "SELECT ..."` runs one statement;
 * piped input runs each `;`-terminated statement.
 */
async function execute(database: TrackerDatabase, statement: string): Promise<void> {
  const started = performance.now()
  try {
    const result = await sql.raw(statement).execute(database.db)
    const ms = (performance.now() - started).toFixed(1)
    if (result.rows.length > 0) {
      console.table(result.rows)
      console.log(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'}, ${ms} ms)`)
    } else {
      const affected = result.numAffectedRows !== undefined ? `${result.numAffectedRows} rows affected, ` : ''
      console.log(`OK (${affected}${ms} ms)`)
    }
  } catch (error) {
    console.log(`ERROR: ${(error as Error).message}`)
  }
}

await runCli(async () => {
  const { connect } = readCliEnv()
  const database = await connectDatabase(connect)
  try {
    const oneShot = process.argv.indexOf('-c')
    if (oneShot !== -1) {
      const statement = process.argv[oneShot + 1]
      if (!statement) throw new Error('-c needs a SQL statement')
      await execute(database, statement)
      return
    }
    const interactive = process.stdin.isTTY
    if (interactive)
      console.log(
        `Connected to ${describeTarget(connect)}. End statements with ";", quit with \\q or Ctrl-D.`,
      )
    const lines = createInterface({
      input: process.stdin,
      ...(interactive ? { output: process.stdout } : {}),
    })
    let buffer = ''
    if (interactive) lines.setPrompt('tracker=> ')
    if (interactive) lines.prompt()
    for await (const line of lines) {
      if (line.trim() === '\\q') break
      buffer += `${line}\n`
      const { statements, rest } = splitStatements(buffer)
      buffer = rest
      for (const statement of statements) await execute(database, statement)
      if (interactive) {
        lines.setPrompt(buffer.trim() ? 'tracker-> ' : 'tracker=> ')
        lines.prompt()
      }
    }
    if (buffer.trim()) await execute(database, buffer.trim())
  } finally {
    await database.close()
  }
})
