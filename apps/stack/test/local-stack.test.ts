import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnCollecting } from './helpers/child-process.ts'

// The one-command stack as a person runs it: a real process, its own data directory, free ports.
const MAIN = join(import.meta.dirname, '../src/main.ts')
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-stack-'))
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

interface Started {
  child: ChildProcess
  output: () => string
  apiUrl: string
  token: string
  trackerId: string
  exited: Promise<number | null>
}

async function startStack(): Promise<Started> {
  const started = spawnCollecting(process.execPath, ['--conditions=tracker-source', MAIN], {
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      API_PORT: '0',
      PG_PORT: '0',
      IMPORTER_HTTP_PORT: '0',
      REFRESHER_HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    },
  })
  children.push(started.child)
  // Wait for the banner and the first import run.
  await started.waitFor((out) => out.includes('API token:') && out.includes('import run finished'), 120_000)
  const { child, exited } = started
  const output = started.output()
  const pick = (re: RegExp) => {
    const match = re.exec(output)
    if (!match) throw new Error(`${re} not found in:\n${output}`)
    return match[1]!
  }
  return {
    child,
    output: started.output,
    apiUrl: pick(/GraphQL: +(\S+)/),
    token: pick(/API token: +(\S+)/),
    trackerId: pick(/trackerId: "([^"]+)"/),
    exited,
  }
}

async function dailyHistory(stack: Started) {
  const end = new Date()
  const start = new Date(end.getTime() - 10 * 86_400_000)
  const response = await fetch(stack.apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token}` },
    body: JSON.stringify({
      query: `query($id: ID!, $from: DateTime!, $to: DateTime!) {
        locationHistoryAggregated(trackerId: $id, startTime: $from, endTime: $to, bucketSize: "1 day") {
          timestamp location { latitude longitude } nearestCity reportCount tracker { name }
        }
      }`,
      variables: { id: stack.trackerId, from: start.toISOString(), to: end.toISOString() },
    }),
  })
  const body = (await response.json()) as {
    data?: {
      locationHistoryAggregated: {
        timestamp: string
        nearestCity: string | null
        reportCount: number
        tracker: { name: string }
      }[]
    }
    errors?: unknown
  }
  expect(body.errors).toBeUndefined()
  return body.data!.locationHistoryAggregated
}

/** The refresh mutation: the API asks the refresher running in the same process, which answers. */
async function refresh(stack: Started) {
  const end = new Date()
  const response = await fetch(stack.apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token}` },
    body: JSON.stringify({
      query: `mutation($id: ID!, $from: DateTime!, $to: DateTime!) {
        refreshLocationHistoryAggregates(trackerId: $id, startTime: $from, endTime: $to)
      }`,
      variables: {
        id: stack.trackerId,
        from: new Date(end.getTime() - 2 * 86_400_000).toISOString(),
        to: end.toISOString(),
      },
    }),
  })
  return response.json()
}

/**
 * The banner's web app line: each banner a fresh one-time sign-in link that opens a session for the
 * demo token once; or, where the web app is not built, how to build it.
 */
async function webApp(stack: Started) {
  const output = stack.output()
  if (output.includes('Web app:    not built')) {
    expect(output).toContain('--filter @tracker/web build')
    return
  }
  const links = [...output.matchAll(/Web app: +(http:\/\/\S+\/sign-in\/\S+)/g)].map((m) => m[1]!)
  expect(links.length).toBeGreaterThanOrEqual(3)
  expect(new Set(links).size).toBe(links.length)
  const link = links.at(-1)!
  const opened = await fetch(link, { redirect: 'manual' })
  expect(opened.status).toBe(303)
  expect(opened.headers.get('location')).toBe('/')
  const cookie = /^(tracker_session=[^;]+)/.exec(opened.headers.get('set-cookie') ?? '')![1]!
  const session = await fetch(new URL('/session', link), { headers: { cookie } })
  expect(((await session.json()) as { token: { name: string } }).token.name).toBe('local stack')
  const again = await fetch(link, { redirect: 'manual' })
  expect(again.headers.get('location')).toBe('/?sign-in=link-invalid')
  const page = await fetch(new URL('/', link))
  expect(page.status).toBe(200)
  expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
}

async function stop(stack: Started): Promise<number | null> {
  stack.child.kill('SIGINT')
  return stack.exited
}

describe('the one-command stack', () => {
  it('imports at start, answers the printed query with the printed token, stops cleanly and restarts with the same history', async () => {
    const first = await startStack()
    // The refresher makes the run's reports history after the run ends: the banner promises points
    // within a minute, so the test waits that long for them, no longer.
    await expect
      .poll(async () => (await dailyHistory(first)).length, { timeout: 60_000, interval: 500 })
      .toBeGreaterThanOrEqual(7)
    const points = await dailyHistory(first)
    expect(points.every((p) => p.tracker.name === 'Demo tracker 1')).toBe(true)
    expect(points.filter((p) => p.nearestCity !== null).length).toBeGreaterThan(points.length / 2)
    expect(await refresh(first)).toEqual({ data: { refreshLocationHistoryAggregates: true } })

    // For a person: readable lines, no line per API request, every port on this machine only, and
    // the banner last once the first import has logged, and again on request (SIGUSR2; Enter).
    const output = first.output()
    expect(output).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: importer: import run finished /m)
    expect(output).not.toMatch(/incoming request|request completed/)
    expect(output).toMatch(/importer: importer health and metrics listening \{"host":"127\.0\.0\.1"/)
    const banners = () => first.output().split('Tracker is running on the embedded TimescaleDB.').length - 1
    await expect.poll(banners).toBe(2)
    expect(first.output().lastIndexOf('Tracker is running')).toBeGreaterThan(
      first.output().indexOf('import run finished'),
    )
    first.child.kill('SIGUSR2')
    await expect.poll(banners).toBe(3)
    await webApp(first)
    expect(await stop(first)).toBe(0)
    expect(first.output()).toContain('stopped cleanly')

    const second = await startStack()
    try {
      expect(second.token).toBe(first.token)
      expect(second.trackerId).toBe(first.trackerId)
      // Everything stored before is recognised; only reports the simulator made since may be new.
      const run = /"inserted":(\d+),"duplicates":(\d+)/.exec(second.output())
      expect(run).not.toBeNull()
      expect(Number(run![2])).toBeGreaterThan(1000)
      expect(Number(run![1])).toBeLessThanOrEqual(5)
      const again = await dailyHistory(second)
      // Complete days are identical; today may have gained a report since.
      const today = new Date().toISOString().slice(0, 10)
      const complete = (list: typeof points) => list.filter((p) => !p.timestamp.startsWith(today))
      expect(complete(again)).toEqual(complete(points))
    } finally {
      expect(await stop(second)).toBe(0)
    }
    // Two cold starts of the whole system, each with a first import: minutes on a loaded 2-core CI machine.
  }, 300_000)
})
