import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'

export interface Collected {
  child: ChildProcess
  /** Everything it wrote so far, stdout and stderr interleaved as they came. */
  output(): string
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>
  /** Waits until `ready(output)` holds; fails with the output if it exits first or `timeoutMs` passes. */
  waitFor(ready: (output: string) => boolean, timeoutMs: number): Promise<void>
}

/** Starts a real process as a person would, keeping what it prints. */
export function spawnCollecting(command: string, args: string[], options: SpawnOptions): Collected {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const append = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    output: () => output,
    exited,
    async waitFor(ready, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (!ready(output)) {
        if (Date.now() > deadline)
          throw new Error(`${command} ${args.join(' ')} did not get ready:\n${output}`)
        if (child.exitCode !== null)
          throw new Error(`${command} ${args.join(' ')} exited with ${child.exitCode}:\n${output}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    },
  }
}
