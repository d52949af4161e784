import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnCollecting } from './helpers/child-process.ts'

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
  const demo = spawnCollecting('npm', ['run', 'demo'], {
    cwd: ROOT,
    env: {
      // A person's shell: the machine's npm, not the shims this test runner's PATH puts first
      // (node_modules/.bin/npm is a shell script that would stand between the signal and npm).
      PATH: (process.env.PATH ?? '')
        .split(':')
        .filter((dir) => !dir.includes('node_modules'))
        .join(':'),
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      API_PORT: '0',
      PG_PORT: '0',
      IMPORTER_HTTP_PORT: '0',
      REFRESHER_HTTP_PORT: '0',
    },
  })
  children.push(demo.child)
  await demo.waitFor((out) => out.includes('API token:'), 180_000)
  return {
    npm: demo.child,
    output: demo.output,
    apiUrl: /GraphQL: +(\S+)/.exec(demo.output())![1]!,
    exited: demo.exited,
  }
}

/** True once nothing accepts connections at `url` any more (refused, not merely slow). */
async function closed(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(20_000) })
    return false
  } catch (error) {
    return (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED'
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
