import { connectDatabase, connectOptionsFromEnv, requireMigrated, type TrackerDatabase } from '@tracker/db'
import { createLockService, RedisLockService } from '@tracker/locks'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { parseTokensCommand, runTokensCommand, TOKENS_USAGE, UsageError } from './cli/tokens-command.ts'
import { type ApiConfig, parseApiEnv, parseDatabaseEnv } from './env.ts'
import { startApi } from './start-api.ts'

const USAGE = `Tracker GraphQL API (Fastify + Mercurius)

Usage:
  node --conditions=tracker-source apps/api/src/main.ts [serve]   start the API (POST /graphql)
  node --conditions=tracker-source apps/api/src/main.ts tokens ...
  node --conditions=tracker-source apps/api/src/main.ts --help

${TOKENS_USAGE}

Configuration comes from the environment; see apps/api/README.md for every variable.`

function fail(message: string, code = 1): never {
  console.error(message)
  process.exit(code)
}

async function connect(databaseEnv: Record<string, unknown>, logger?: pino.Logger): Promise<TrackerDatabase> {
  let database: TrackerDatabase
  try {
    database = await connectDatabase(connectOptionsFromEnv(databaseEnv, 'API', logger))
  } catch (error) {
    // E.g. the embedded data directory held by a running API: say so, without a stack trace.
    fail(`Cannot open the database: ${(error as Error).message}`)
  }
  try {
    await requireMigrated(database.db)
  } catch (error) {
    await database.close()
    fail((error as Error).message)
  }
  return database
}

async function tokens(args: string[]): Promise<void> {
  let command: ReturnType<typeof parseTokensCommand>
  let databaseEnv: Record<string, unknown>
  try {
    command = parseTokensCommand(args)
    databaseEnv = parseDatabaseEnv(process.env)
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message}\n\n${TOKENS_USAGE}`, 2)
    fail((error as Error).message)
  }
  const database = await connect(databaseEnv)
  try {
    process.exitCode = await runTokensCommand(database.db, command, (line) => console.log(line))
  } finally {
    await database.close()
  }
}

async function serve(): Promise<void> {
  let config: ApiConfig
  try {
    config = parseApiEnv(process.env)
  } catch (error) {
    fail((error as Error).message)
  }
  const logger = pino({ level: config.logLevel, base: { app: 'api' } })
  const database = await connect(config.databaseEnv, logger)
  // The refresher's own way to build them: both take the same REDIS_KEY_PREFIX-ed refresh lock.
  const locks = createLockService({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger })
  const api = await startApi({
    database,
    locks,
    logger,
    config,
    ...(locks instanceof RedisLockService ? { rateLimitRedis: locks.redis } : {}),
  }).catch(async (error: Error & { code?: string }) => {
    // A configuration mistake (e.g. a KEY_SEALING_PUBLIC_KEY that is not the database's): its message, no stack.
    if (error.code !== 'KEY_SEALING_KEY_MISMATCH' && error.code !== 'INVALID_KEY_SEALING_KEY') throw error
    await locks.close()
    await database.close()
    return fail(error.message)
  })
  closeWithGrace({ delay: 15_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error')
    else logger.info({ signal }, 'shutting down')
    await api.stop()
    await locks.close()
    await database.close()
  })
}

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE)
} else if (args[0] === 'tokens') {
  await tokens(args.slice(1))
} else if (args.length === 0 || (args[0] === 'serve' && args.length === 1)) {
  await serve()
} else {
  fail(`Unknown arguments: ${args.join(' ')}\n\n${USAGE}`, 2)
}
