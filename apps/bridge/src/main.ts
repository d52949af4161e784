import { connectDatabase } from '@tracker/db'
import pino from 'pino'
import { startBridge } from './bridge.ts'
import { type BridgeConfig, describeConfig, parseBridgeEnv } from './env.ts'

const USAGE = `Tracker MQTT bridge: publishes every tracker's latest position to an MQTT broker as Home
Assistant discovery (device_tracker) and OwnTracks location messages.

Usage:
  main.ts          run: LISTEN on tracker_changed, publish each change (QoS 1, retained), republish
                   everything after every (re)connect, serve /health and /metrics on BRIDGE_HTTP_PORT
  main.ts --help

Configuration comes from the environment (BRIDGE_MQTT_URL is required): see apps/bridge/README.md.`

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

async function serve(config: BridgeConfig, logger: pino.Logger): Promise<number> {
  const database = await connectDatabase({ ...config.connect, logger })
  try {
    const bridge = await startBridge({ database, logger, config })
    const signal = await waitForSignal()
    logger.info({ signal }, 'shutting down')
    await bridge.stop()
    return 0
  } finally {
    await database.close()
  }
}

async function main(args: string[]): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (args.length > 0) {
    process.stderr.write(`unknown arguments: ${args.join(' ')}\n\n${USAGE}\n`)
    return 1
  }
  let config: BridgeConfig
  try {
    config = parseBridgeEnv(process.env)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`)
    return 1
  }
  const logger = pino({ level: config.logLevel, base: { app: 'bridge', pid: process.pid } })
  logger.info({ event: 'config', config: describeConfig(config) }, 'configuration')
  try {
    return await serve(config, logger)
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
