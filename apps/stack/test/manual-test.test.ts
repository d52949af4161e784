import { type ChildProcess, execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KeyOpener } from '@tracker/db'
import { readmeManualTestStatements } from '@tracker/db/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { type Collected, spawnCollecting } from './helpers/child-process.ts'

// The README's manual test between two starts of `npm run demo`, as a person follows it: it stores a
// placeholder key by hand, which must disable that key, not the next start.
const MAIN = join(import.meta.dirname, '../src/main.ts')
const DB_CLI = join(import.meta.dirname, '../../../packages/db/src/cli')
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-manual-'))
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

const MANUAL_TRACKER = '00000000-0000-0000-0000-000000000001'
const MANUAL_KEY = 'dGVzdF9rZXlfdGVzdF9rZXlfdGVzdF9rZXlfdGVzdF8='

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

function startStack(env: Record<string, string>): Collected {
  const stack = spawnCollecting(process.execPath, ['--conditions=tracker-source', MAIN], {
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      API_PORT: '0',
      PG_PORT: '0',
      IMPORTER_HTTP_PORT: '0',
      REFRESHER_HTTP_PORT: '0',
      ...env,
    },
  })
  children.push(stack.child)
  return stack
}

/** The banner's GraphQL URL and token, once it is printed; fails with the output if it exits first. */
async function ready(stack: Collected): Promise<{ apiUrl: string; token: string }> {
  await stack.waitFor((output) => /API token: +\S+/.test(output), 120_000)
  const output = stack.output()
  return { apiUrl: /GraphQL: +(\S+)/.exec(output)![1]!, token: /API token: +(\S+)/.exec(output)![1]! }
}

async function stop(stack: Collected): Promise<number | null> {
  stack.child.kill('SIGINT')
  return stack.exited
}

/** `npm run db:<cli>` on the stopped stack's data directory. */
function dbCli(cli: string, input?: string) {
  const run = promisify(execFile)(process.execPath, ['--conditions=tracker-source', join(DB_CLI, cli)], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir },
    encoding: 'utf8',
  })
  if (input !== undefined) {
    run.child.stdin!.write(input)
    run.child.stdin!.end()
  }
  return run
}

async function gql(api: { apiUrl: string; token: string }, query: string) {
  const response = await fetch(api.apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
    body: JSON.stringify({ query }),
  })
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown }
  expect(body.errors).toBeUndefined()
  return body.data!
}

describe("the README's manual test", () => {
  it('between two starts of the demo: the next start works and reports the hand-made key as unreadable', async () => {
    const first = startStack({ IMPORT_ON_START: 'false' })
    await ready(first)
    expect(await stop(first)).toBe(0)

    // As the README says: migrate, then its SQL through db:sql.
    await dbCli('migrate.ts')
    const statements = readmeManualTestStatements()
    expect(statements.join('\n')).toContain("'\\x00'")
    const typed = await dbCli('sql.ts', `${statements.join(';\n')};\n`)
    expect(typed.stdout).not.toContain('ERROR')

    const importerPort = await freePort()
    const second = startStack({ IMPORTER_HTTP_PORT: String(importerPort) })
    let secondExit: number | null = null
    try {
      const api = await ready(second)
      const keys = await gql(
        api,
        `{ tracker(id: "${MANUAL_TRACKER}") { name keys { hashedAdvKey status } } }`,
      )
      expect(keys).toEqual({
        tracker: { name: 'manual test', keys: [{ hashedAdvKey: MANUAL_KEY, status: 'UNKNOWN_FORMAT' }] },
      })
      const health = (await (await fetch(`http://127.0.0.1:${importerPort}/health`)).json()) as {
        status: string
        checks: { keys: { detail: { keys: { hashedAdvKey: string }[] } } }
      }
      expect(health.status).toBe('degraded')
      expect(health.checks.keys.detail.keys.map((k) => k.hashedAdvKey)).toEqual([MANUAL_KEY])

      // The first run of this start: the demo trackers imported, the manual key in its ledger.
      type Runs = {
        importRuns: {
          nodes: { status: string; reportsFetched: number; unreadableKeys: { hashedAdvKey: string }[] }[]
        }
      }
      let runs: Runs['importRuns']['nodes'] = []
      const deadline = Date.now() + 120_000
      while (runs[0]?.status !== 'SUCCEEDED') {
        if (Date.now() > deadline) throw new Error(`no import run succeeded:\n${second.output()}`)
        await new Promise((r) => setTimeout(r, 500))
        const data = (await gql(
          api,
          '{ importRuns(first: 1) { nodes { status reportsFetched unreadableKeys { hashedAdvKey } } } }',
        )) as Runs
        runs = data.importRuns.nodes
      }
      expect(runs[0]!.reportsFetched).toBeGreaterThan(0)
      expect(runs[0]!.unreadableKeys).toEqual([{ hashedAdvKey: MANUAL_KEY }])
    } finally {
      secondExit = await stop(second)
    }
    expect(secondExit).toBe(0)

    // A state file with another key pair (replaced, or lost and generated anew) is refused clearly.
    const stateFile = join(dataDir, 'local-stack.json')
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>
    const other = KeyOpener.generate()
    writeFileSync(
      stateFile,
      JSON.stringify({
        ...state,
        keySealingPrivateKey: other.privateKey,
        keySealingPublicKey: other.publicKey,
      }),
    )
    const third = startStack({ IMPORT_ON_START: 'false' })
    await expect(ready(third)).rejects.toThrow(
      /keySealingPrivateKey in .*local-stack\.json \(public key \w+\) is not the private key this database's tracker keys are sealed to/,
    )
    expect(await third.exited).toBe(1)
    // Three cold starts of the whole system on a loaded 2-core machine.
  }, 400_000)
})
