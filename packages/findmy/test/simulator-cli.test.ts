import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  decryptReports,
  type EndpointReport,
  generateKeyPair,
  parseKeyFile,
  ReportEndpointClient,
  toAccessoriesJson,
} from '../src/index.ts'
import { CliUsageError, parseCliArgs } from '../src/simulator/cli-options.ts'

const CLI = fileURLToPath(new URL('../src/simulator/cli.ts', import.meta.url))

describe('simulator command line', () => {
  it('turns flags into simulator options', () => {
    const tracker = { name: 'Keys from a file', keys: [generateKeyPair(), generateKeyPair()] }
    const config = parseCliArgs(
      [
        '--keys',
        'devices.json',
        '--port',
        '0',
        '--seed',
        '9',
        '--reports-per-day',
        '24',
        '--share-89',
        '1',
        '--corrupt-share',
        '0.1',
        '--no-gaps',
        '--dedupe-by-timestamp',
        '--user',
        'me',
        '--password',
        'pw',
        '--failure-share',
        '0.5',
        '--failures',
        '504,slow:100',
      ],
      (path) => (path === 'devices.json' ? toAccessoriesJson([tracker]) : ''),
    )
    expect(config.generated).toBe(false)
    expect(config.trackers.map((t) => t.keys.map((k) => k.hashedAdvKey))).toEqual([
      tracker.keys.map((k) => k.hashedAdvKey),
    ])
    expect(config.simulator).toMatchObject({
      port: 0,
      seed: 9,
      reportsPerDay: 24,
      share89Byte: 1,
      corruptShare: 0.1,
      gaps: false,
      dedupeByTimestamp: true,
      auth: { username: 'me', password: 'pw' },
    })
    expect(config.simulator.failures?.when).toBeTypeOf('function')
  })

  it("turns the flags of Apple's 2026 behaviour into options, all off by default", () => {
    const config = parseCliArgs([
      '--latest-per-key',
      '16',
      '--ignore-days',
      '--first-id-only',
      '--empty-rate',
      '0.1',
      '--server-error-rate',
      '0.05',
      '--unauthorized-rate',
      '0.01',
    ])
    expect(config.simulator).toMatchObject({
      latestPerKey: 16,
      ignoreDays: true,
      firstIdOnly: true,
      failureRates: { emptyBody: 0.1, serverError: 0.05, unauthorized: 0.01 },
    })
    const plain = parseCliArgs([]).simulator
    expect([plain.latestPerKey, plain.ignoreDays, plain.firstIdOnly, plain.failureRates]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ])
  })

  it.each([
    [['--latest-per-key', '0'], /--latest-per-key must be at least 1/],
    [['--latest-per-key', '2.5'], /--latest-per-key must be a whole number/],
    [['--ignore-days=yes'], /does not take an argument/],
    [['--empty-rate', '1.5'], /--empty-rate must be a number between 0 and 1/],
    [['--server-error-rate=-0.1'], /--server-error-rate must be a number between 0 and 1/],
    [['--unauthorized-rate', 'often'], /--unauthorized-rate must be a number between 0 and 1/],
    [['--empty-rate', '0.6', '--server-error-rate', '0.6'], /add up to 1.2; together they must be at most 1/],
    [['--port', 'eighty'], /--port must be a whole number/],
    [['--share-89', '2'], /between 0 and 1/],
    [['--user', 'me'], /go together/],
    [['--failure-share', '0.1', '--failures', '418'], /unknown failure "418"/],
    [['--colour'], /Unknown option/],
  ])('explains a bad command line %j', (args, message) => {
    expect(() => parseCliArgs(args)).toThrow(CliUsageError)
    expect(() => parseCliArgs(args)).toThrow(message)
  })

  it('serves the trackers it generates and prints their keys, then stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [CLI, '--port', '0', '--generate', '2', '--keys-per-tracker', '2', '--print-keys'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk
        const match = /"url":"([^"]+)"/.exec(stderr)
        if (match) resolve(match[1]!)
      })
      child.once('exit', () => reject(new Error(`the simulator exited: ${stderr}`)))
    })
    // stdout and stderr are separate pipes: the printed keys may arrive after the listening line.
    while (!stdout.trim().endsWith(']')) await new Promise((resolve) => setTimeout(resolve, 10))
    const trackers = parseKeyFile(stdout)
    expect(trackers).toHaveLength(2)
    const keys = new Map(trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
    const client = new ReportEndpointClient({ url, pauseBetweenRequestsMs: 0 })
    const reports: EndpointReport[] = []
    for await (const batch of client.fetchBatches([...keys.keys()], 1))
      if (batch.ok) reports.push(...batch.reports)
    const { reports: decrypted, rejected } = decryptReports(keys, reports)
    expect(decrypted.length).toBeGreaterThan(10)
    expect(rejected).toEqual([])
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(stderr).toContain('report endpoint simulator stopped')
  })
})
