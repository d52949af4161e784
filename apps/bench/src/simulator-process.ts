import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { SimulatorChildConfig, SimulatorChildReady } from './child/simulator-child.ts'

const CHILD = fileURLToPath(new URL('./child/simulator-child.ts', import.meta.url))

export interface SimulatorProcess extends SimulatorChildReady {
  pid: number
  stop(): Promise<void>
}

/** Starts the simulator in a child process and waits until it has generated every report. */
export async function startSimulatorProcess(config: SimulatorChildConfig): Promise<SimulatorProcess> {
  const child = spawn(process.execPath, ['--conditions=tracker-source', CHILD, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000)
  })
  const ready = await new Promise<SimulatorChildReady>((resolve, reject) => {
    let buffer = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      const newline = buffer.indexOf('\n')
      if (newline >= 0) resolve(JSON.parse(buffer.slice(0, newline)) as SimulatorChildReady)
    })
    child.once('exit', (code) =>
      reject(new Error(`the simulator process exited (${code}): ${stderr.trim()}`)),
    )
    child.once('error', reject)
  })
  return { ...ready, pid: child.pid!, stop: () => stopChild(child) }
}

/** SIGTERM to the child we started (by its handle, never by name), then wait for it to exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
