import pino, { type Logger } from 'pino'
import type { BenchEnv } from './env.ts'

/** What every figure gets: the environment (which engine) and a logger for the apps it starts. */
export interface BenchContext {
  env: BenchEnv
  /** The apps' logs go to stderr, so stdout stays the table. */
  logger: Logger
  /** Progress lines for the operator (stderr). */
  progress(message: string): void
}

export function createContext(env: BenchEnv, options: { quiet?: boolean } = {}): BenchContext {
  const started = performance.now()
  return {
    env,
    logger: pino({ level: env.logLevel, base: { app: 'bench' } }, pino.destination(2)),
    progress(message) {
      if (options.quiet) return
      const at = ((performance.now() - started) / 1000).toFixed(1).padStart(7)
      process.stderr.write(`[bench ${at}s] ${message}\n`)
    },
  }
}
