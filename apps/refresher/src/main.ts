import { connectDatabase } from '@tracker/db'
import { createLockService, type LockService } from '@tracker/locks'
import pino from 'pino'
import { type CommandResult, check, rebuild, refreshAll } from './commands.ts'
import { describeConfig, parseRefresherEnv, type RefresherConfig } from './env.ts'
import { startRefresher } from './refresher.ts'

const USAGE = `Tracker refresher: keeps location_history and the continuous aggregates fresh.

Usage:
  main.ts               run: LISTEN on refresh_location_history and refresh on notification,
                        refresh the aggregates every PERIODIC_REFRESH_INTERVAL (one replica at a time),
                        serve /health and /metrics on REFRESHER_HTTP_PORT
  main.ts refresh-all   refresh location_history_hourly (48 h), location_history_daily (back to the
                        late horizon, 8 days by default), then
                        location_history for every tracker over the days a late report can reach
                        (what replaces REFRESH MATERIALIZED VIEW location_history); exit 0 done,
                        1 a refresh failed
  main.ts rebuild       recompute all of location_history from its sources (raw reports where all
                        are kept, the daily aggregate before; recovery; rewrites only rows that
                        differ); exit 0 done, 1 failed
  main.ts check         compare location_history with what the aggregates say once refreshed and
                        print every difference; exit 0 they agree, 1 they differ (or the check failed)
  main.ts --help

Configuration comes from the environment: see apps/refresher/README.md.`

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while shutting down: give up waiting.
      process.once('SIGTERM', () => process.exit(1))
      process.once('SIGINT', () => process.exit(1))
      resolve(signal)
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
}

async function serve(config: RefresherConfig, logger: pino.Logger): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  // The API's own way to build them: both take the same REDIS_KEY_PREFIX-ed refresh lock.
  const locks: LockService = createLockService({
    redisUrl: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    logger,
  })
  try {
    const refresher = await startRefresher({ database, locks, logger, config })
    const signal = await waitForSignal()
    logger.info({ signal }, 'shutting down')
    await refresher.stop()
    return 0
  } finally {
    await locks.close()
    await database.close()
  }
}

const COMMANDS = { 'refresh-all': refreshAll, rebuild, check } as const
type CommandName = keyof typeof COMMANDS

function printResult(result: CommandResult): void {
  for (const event of result.events) {
    const window = event.window
      ? ` ${event.window.from.toISOString()} .. ${event.window.to.toISOString()}`
      : ''
    const rows = event.rows ? ` (${event.rows.written} rows written, ${event.rows.removed} removed)` : ''
    process.stderr.write(
      `${event.object}: ${event.outcome}${window}${rows} ${Math.round(event.durationMs)} ms\n`,
    )
  }
  if (result.differences) {
    for (const d of result.differences) {
      process.stdout.write(
        `${d.kind}\t${d.trackerId}\t${d.bucketSize}\t${d.timestamp.toISOString()}\texpected ${JSON.stringify(d.expected)}\tstored ${JSON.stringify(d.stored)}\n`,
      )
    }
    process.stderr.write(
      result.differences.length === 0
        ? 'location_history agrees with the aggregates\n'
        : `${result.differences.length} difference(s) between location_history and the aggregates; \`rebuild\` repairs them\n`,
    )
  }
}

async function runCommand(name: CommandName, config: RefresherConfig, logger: pino.Logger): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  const interrupt = new AbortController()
  const onSignal = () => interrupt.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await COMMANDS[name]({
      database,
      retention: config.retention,
      statementTimeoutMs: config.statementTimeoutMs,
      logger,
      signal: interrupt.signal,
    })
    printResult(result)
    return result.ok ? 0 : 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await database.close()
  }
}

async function main(args: string[]): Promise<number> {
  const [command = 'serve', ...rest] = args
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if ((command !== 'serve' && !(command in COMMANDS)) || rest.length > 0) {
    process.stderr.write(`unknown arguments: ${args.join(' ')}\n\n${USAGE}\n`)
    return 1
  }
  let config: RefresherConfig
  try {
    config = parseRefresherEnv(process.env)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`)
    return 1
  }
  const logger = pino({ level: config.logLevel, base: { app: 'refresher', pid: process.pid } })
  logger.info({ event: 'config', command, config: describeConfig(config) }, 'configuration')
  try {
    return command === 'serve'
      ? await serve(config, logger)
      : await runCommand(command as CommandName, config, logger)
  } catch (error) {
    logger.fatal({ err: error }, (error as Error).message)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`)
    process.exit(1)
  },
)
