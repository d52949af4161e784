import { writeFileSync } from 'node:fs'
import type { Logger } from '../logger.ts'
import { CliUsageError, parseCliArgs, USAGE } from './cli-options.ts'
import { startSimulator } from './server.ts'
import { toAccessoriesJson } from './tracker-keys.ts'

// One JSON object per line on stderr, pino-style, so stdout stays free for --print-keys.
function lineLogger(verbose: boolean): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), ...obj, msg })}\n`)
  }
  return {
    debug: verbose ? write('debug') : () => {},
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  }
}

async function main(): Promise<number> {
  let config: ReturnType<typeof parseCliArgs>
  try {
    config = parseCliArgs(process.argv.slice(2))
  } catch (error) {
    if (!(error instanceof CliUsageError) && !(error instanceof Error && 'entry' in error)) throw error
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (config.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const logger = lineLogger(config.verbose)
  if (config.generated && config.saveKeys) {
    writeFileSync(config.saveKeys, `${toAccessoriesJson(config.trackers)}\n`, { mode: 0o600 })
  }
  if (config.printKeys) process.stdout.write(`${toAccessoriesJson(config.trackers)}\n`)

  const simulator = await startSimulator({ ...config.simulator, logger })
  logger.info(
    {
      url: simulator.url,
      trackers: simulator.network.trackerCount,
      keys: simulator.network.keyCount,
      auth: config.simulator.auth !== undefined,
      savedKeys: config.saveKeys ?? null,
    },
    'report endpoint simulator listening',
  )
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await simulator.stop()
  logger.info({ ...simulator.stats }, 'report endpoint simulator stopped')
  return 0
}

process.exitCode = await main()
