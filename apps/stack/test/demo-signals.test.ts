import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

// `npm run demo` exactly as the README says, stopped as a person or a process manager stops it:
// a signal to the process `npm run demo` started (npm's own pid).
const ROOT = join(import.meta.dirname, '../../..')
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-demo-'))
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

async function startDemo() {
  const npm = spawn('npm', ['run', 'demo'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      API_PORT: '0',
      PG_PORT: '0',
      IMPORTER_HTTP_PORT: '0',
      REFRESHER_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(npm)
  let output = ''
  npm.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  npm.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 180_000
  while (!output.includes('API token:')) {
    if (Date.now() > deadline) throw new Error(`the demo did not come up:\n${output}`)
    if (npm.exitCode !== null) throw new Error(`npm run demo exited with ${npm.exitCode}:\n${output}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  const apiUrl = /GraphQL: +(\S+)/.exec(output)![1]!
  return { npm, output: () => output, apiUrl, exited }
}

/** True once nothing accepts connections at `url` any more. */
async function closed(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) })
    return false
  } catch {
    return true
  }
}

describe('npm run demo', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops everything, cleanly, on ${signal} to the process npm run demo started`, async () => {
      const demo = await startDemo()
      expect(await closed(demo.apiUrl)).toBe(false)
      demo.npm.kill(signal)
      expect(await demo.exited).toBe(0)
      expect(demo.output()).toContain('stopped cleanly')
      // No orphan left holding the ports.
      await expect.poll(() => closed(demo.apiUrl), { timeout: 10_000 }).toBe(true)
      // A start and a stop: with the install check first, a minute or two on a loaded 2-core machine.
    }, 300_000)
  }
})
