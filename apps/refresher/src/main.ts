import { connectDatabase } from '@tracker/db'
import { InProcessLockService, type LockService, RedisLockService } from '@tracker/locks'
import pino from 'pino'
import { describeConfig, parseRefresherEnv, type RefresherConfig } from './env.ts'
import { refreshAll } from './refresh/refresh-all.ts'
import { startRefresher } from './refresher.ts'

const USAGE = `Tracker refresher: keeps location_history and the continuous aggregates fresh.

Usage:
  main.ts               run: LISTEN on refresh_location_history and refresh on notification,
                        refresh the aggregates every PERIODIC_REFRESH_INTERVAL (one replica at a time),
                        serve /health and /metrics on REFRESHER_HTTP_PORT
  main.ts refresh-all   refresh location_history_hourly, location_history_daily and location_history
                        once, then exit: 0 done, 1 a refresh failed
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
  const locks: LockService = config.redisUrl
    ? new RedisLockService({ redis: config.redisUrl, logger })
    : new InProcessLockService()
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

async function refreshAllCommand(config: RefresherConfig, logger: pino.Logger): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  const interrupt = new AbortController()
  const onSignal = () => interrupt.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await refreshAll({
      database,
      retention: config.retention,
      statementTimeoutMs: config.statementTimeoutMs,
      logger,
      signal: interrupt.signal,
    })
    for (const event of result.events) {
      const window = event.window
        ? ` ${event.window.from.toISOString()} .. ${event.window.to.toISOString()}`
        : ''
      process.stderr.write(
        `${event.object}: ${event.outcome}${window} (${Math.round(event.durationMs)} ms)\n`,
      )
    }
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
  if ((command !== 'serve' && command !== 'refresh-all') || rest.length > 0) {
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
    return command === 'refresh-all' ? await refreshAllCommand(config, logger) : await serve(config, logger)
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
