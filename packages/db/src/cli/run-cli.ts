import type { ConnectOptions } from '../connect/connect.ts'
import { redactUrl } from '../connect/connect.ts'

export function describeTarget(options: ConnectOptions): string {
  return options.mode === 'postgres'
    ? `PostgreSQL at ${redactUrl(options.url)}`
    : `the embedded TimescaleDB in ${options.dataDir ?? 'memory'}`
}

/** Runs a CLI body; any error becomes one clear line on stderr and exit code 1, never a stack dump. */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main()
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`)
    if (process.env.DEBUG) process.stderr.write(`${(error as Error).stack}\n`)
    process.exitCode = 1
  }
}
