import { DataDirInUseError } from '@tracker/db'
import pino from 'pino'
import pretty from 'pino-pretty'
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
  // Each app logs with its own `app` binding; the stack's own lines say app=stack. For a person at
  // a terminal, readable lines (pino-pretty, written synchronously so the banner lands after them);
  // LOG_FORMAT=json gives the apps' production format.
  const level = env.LOG_LEVEL ?? 'info'
  const root =
    env.LOG_FORMAT === 'json'
      ? pino({ level, base: undefined })
      : pino(
          { level, base: undefined },
          pretty({
            colorize: Boolean(process.stdout.isTTY),
            translateTime: 'SYS:HH:MM:ss',
            messageFormat: '{app}: {msg}',
            ignore: 'app',
            singleLine: true,
            sync: true,
          }),
        )
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
  // Each banner its own one-time sign-in link: one printed before may have been used.
  const showBanner = async () => {
    const link = stack.webUrl
      ? await stack.newSignInLink().catch((error: unknown) => {
          logger.warn({ err: error }, 'could not make a sign-in link for the web app')
          return null
        })
      : null
    process.stdout.write(banner(stack, link))
  }
  await showBanner()
  // Again once the first import's lines are out, so it is the last thing on the screen; and on
  // request: Enter at this terminal, or SIGUSR2 (npm run demo passes an Enter on as that).
  void stack.firstImport.then(showBanner)
  process.on('SIGUSR2', showBanner)
  if (process.stdin.isTTY) {
    process.stdin.on('data', showBanner)
    process.stdin.unref()
  }
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
