import { onTestFinished } from 'vitest'
import type { Logger } from '../src/index.ts'
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../src/index.ts'

/** A simulator on a free port that is stopped when the test ends, whatever happens. */
export async function startTestSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const simulator = await startSimulator(options)
  onTestFinished(() => simulator.stop())
  return simulator
}

/** A logger that keeps what it was given, to check what gets logged. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; obj: object; msg?: string }> } {
  const lines: Array<{ level: string; obj: object; msg?: string }> = []
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, ...(msg === undefined ? {} : { msg }) })
  }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
