import { DataDirInUseError } from '@tracker/db'
import pino from 'pino'
import { banner } from './banner.ts'
import { startStack } from './stack.ts'

const USAGE = `Tracker, the whole system in one process on the embedded TimescaleDB.

Usage: node --conditions=tracker-source apps/stack/src/main.ts
Environment: DATA_DIR (.tracker-data), API_PORT (4000), PG_PORT (5433), SIMULATOR_PORT (free),
IMPORTER_HTTP_PORT (9465), REFRESHER_HTTP_PORT (9466), DEMO_TRACKERS (3), LOG_LEVEL (info), and
every app's own variables (see README).`

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE)
    return 0
  }
  // Each app logs with its own `app` binding; the stack's own lines say app=stack.
  const root = pino({ level: env.LOG_LEVEL ?? 'info', base: undefined })
  const logger = root.child({ app: 'stack' })
  let stack: Awaited<ReturnType<typeof startStack>>
  try {
    stack = await startStack(env, root)
  } catch (error) {
    if (error instanceof DataDirInUseError) {
      process.stderr.write(`error: ${error.message}\n`)
      return 1
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(
        `error: ${(error as Error).message}: another program uses that port. Choose others with API_PORT, ` +
          'IMPORTER_HTTP_PORT, REFRESHER_HTTP_PORT (0 picks a free port), e.g. API_PORT=4100 npm run demo\n',
      )
      return 1
    }
    throw error
  }
  process.stdout.write(banner(stack))
  let signals = 0
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      signals++
      if (signals === 1) resolve()
      // Ctrl-C reaches every process of the terminal's group; one more while stopping is ignored,
      // a third forces the exit.
      else if (signals === 2) logger.warn({ signal }, 'already stopping; send it again to force exit')
      else process.exit(1)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  logger.info({}, 'stopping')
  await stack.stop()
  logger.info({}, 'stopped cleanly')
  return 0
}

if (import.meta.main) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`error: ${(error as Error).message}\n`)
      process.exit(1)
    },
  )
}
