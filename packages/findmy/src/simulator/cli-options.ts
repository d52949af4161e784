import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type ParsedTracker, parseKeyFile } from '../key-files.ts'
import { type FailurePlan, failRandomly, type SimulatedFailure } from './failures.ts'
import type { SimulatorOptions } from './server.ts'
import { simulatedTrackers } from './tracker-keys.ts'

export const USAGE = `Find My report endpoint simulator: serves genuinely encrypted location reports over the
macless-haystack report endpoint protocol (POST {"ids": [...], "days": N}).

Usage: node --conditions=tracker-source packages/findmy/src/simulator/cli.ts [options]

Trackers
  --keys <file>                  a key file: macless-haystack/OpenHaystack accessories JSON, FindMy.py
                                 keypair JSON, .keys text, or bare base64 keys (repeatable)
  --generate <n>                 n trackers with keys derived from --seed (default 3 without --keys)
  --keys-per-tracker <n>         rotating keys per generated tracker (default 1)
  --save-keys <file>             write the generated keys as accessories JSON (holds private keys)
  --print-keys                   print the generated keys as accessories JSON on stdout

Server
  --host <host>                  default 127.0.0.1
  --port <port>                  default 6176 (0: a free port)
  --user <name>                  require HTTP Basic auth with this user...
  --password <password>          ...and this password

Reports
  --seed <n>                     same seed, same movement and report bytes (default 1)
  --reports-per-day <n>          per tracker while a finder is around (default 96)
  --days <n>                     days the network keeps reports (default 7)
  --rotation-minutes <n>         minutes each key of a rotating tracker is used (default 30)
  --late-share <0..1>            reports that appear 2-48 h late (default 0.05)
  --share-89 <0..1>              reports in the 89-byte layout (default 0.5)
  --corrupt-share <0..1>         tampered / truncated / off-Earth reports (default 0)
  --no-gaps                      a report in every slot: no outages, no flights without reports
  --dedupe-by-timestamp          the real endpoint's quirk: one report per timestamp per request
  --max-reports-per-request <n>  cap the reports of one answer, newest kept (Apple does)

Apple since about April 2026
  --latest-per-key <n>           each key's answer holds only its newest n reports
  --ignore-days                  ignore the request's days; the network's --days applies
  --first-id-only                answer a request with several ids for its first id only
  --empty-rate <0..1>            share of requests answered 200 with no body (default 0)
  --server-error-rate <0..1>     share of requests answered 501 (default 0)
  --unauthorized-rate <0..1>     share of requests answered 401 (default 0)
                                 the rates add up to at most 1; --failure-share decides first

Failures
  --failure-share <0..1>         share of requests that fail (default 0)
  --failures <list>              what they fail with, comma-separated (default 501,504):
                                 401, 501, 503, 504, empty, missing-results, invalid-json, reset, slow:<ms>

  --verbose                      log every request as a JSON line on stderr
  -h, --help                     this help
`

export class CliUsageError extends Error {
  readonly code = 'CLI_USAGE'
}

export interface CliConfig {
  help: boolean
  simulator: Omit<SimulatorOptions, 'logger'>
  trackers: ParsedTracker[]
  generated: boolean
  saveKeys: string | undefined
  printKeys: boolean
  verbose: boolean
}

export function parseCliArgs(
  args: readonly string[],
  readFile = (path: string) => readFileSync(path, 'utf8'),
): CliConfig {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(args).values
  } catch (error) {
    throw new CliUsageError((error as Error).message)
  }
  const seed = integer('--seed', values.seed, 1)
  let trackers: ParsedTracker[] = []
  for (const file of values.keys ?? []) trackers.push(...parseKeyFile(readFile(file), file))
  const generate = values.generate !== undefined || trackers.length === 0
  if (generate) {
    trackers = trackers.concat(
      simulatedTrackers({
        seed,
        trackers: integer('--generate', values.generate, 3),
        keysPerTracker: integer('--keys-per-tracker', values['keys-per-tracker'], 1),
      }),
    )
  }
  if ((values.user === undefined) !== (values.password === undefined)) {
    throw new CliUsageError('--user and --password go together')
  }
  const failureShare = fraction('--failure-share', values['failure-share'], 0)
  const simulator: CliConfig['simulator'] = {
    trackers,
    seed,
    host: values.host ?? '127.0.0.1',
    port: integer('--port', values.port, 6176),
    reportsPerDay: integer('--reports-per-day', values['reports-per-day'], 96),
    days: number('--days', values.days, 7),
    rotationMinutes: number('--rotation-minutes', values['rotation-minutes'], 30),
    lateArrivalShare: fraction('--late-share', values['late-share'], 0.05),
    share89Byte: fraction('--share-89', values['share-89'], 0.5),
    corruptShare: fraction('--corrupt-share', values['corrupt-share'], 0),
    gaps: !values['no-gaps'],
    dedupeByTimestamp: values['dedupe-by-timestamp'] ?? false,
  }
  if (values['max-reports-per-request'] !== undefined) {
    simulator.maxReportsPerRequest = integer(
      '--max-reports-per-request',
      values['max-reports-per-request'],
      0,
    )
  }
  if (values['latest-per-key'] !== undefined) {
    const latest = integer('--latest-per-key', values['latest-per-key'], 0)
    if (latest < 1) throw new CliUsageError(`--latest-per-key must be at least 1, got "${latest}"`)
    simulator.latestPerKey = latest
  }
  if (values['ignore-days']) simulator.ignoreDays = true
  if (values['first-id-only']) simulator.firstIdOnly = true
  const failureRates = {
    emptyBody: fraction('--empty-rate', values['empty-rate'], 0),
    serverError: fraction('--server-error-rate', values['server-error-rate'], 0),
    unauthorized: fraction('--unauthorized-rate', values['unauthorized-rate'], 0),
  }
  const totalRate = failureRates.emptyBody + failureRates.serverError + failureRates.unauthorized
  if (totalRate > 1 + 1e-9) {
    throw new CliUsageError(
      `--empty-rate, --server-error-rate and --unauthorized-rate add up to ${totalRate}; together they must be at most 1`,
    )
  }
  if (totalRate > 0) simulator.failureRates = failureRates
  if (values.user !== undefined && values.password !== undefined) {
    simulator.auth = { username: values.user, password: values.password }
  }
  if (failureShare > 0) {
    simulator.failures = failRandomly(
      failureShare,
      parseFailures(values.failures ?? '501,504'),
      seed,
    ) satisfies FailurePlan
  }
  return {
    help: values.help ?? false,
    simulator,
    trackers,
    generated: generate,
    saveKeys: values['save-keys'],
    printKeys: values['print-keys'] ?? false,
    verbose: values.verbose ?? false,
  }
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      keys: { type: 'string', multiple: true },
      generate: { type: 'string' },
      'keys-per-tracker': { type: 'string' },
      'save-keys': { type: 'string' },
      'print-keys': { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      seed: { type: 'string' },
      'reports-per-day': { type: 'string' },
      days: { type: 'string' },
      'rotation-minutes': { type: 'string' },
      'late-share': { type: 'string' },
      'share-89': { type: 'string' },
      'corrupt-share': { type: 'string' },
      'no-gaps': { type: 'boolean' },
      'dedupe-by-timestamp': { type: 'boolean' },
      'max-reports-per-request': { type: 'string' },
      'latest-per-key': { type: 'string' },
      'ignore-days': { type: 'boolean' },
      'first-id-only': { type: 'boolean' },
      'empty-rate': { type: 'string' },
      'server-error-rate': { type: 'string' },
      'unauthorized-rate': { type: 'string' },
      'failure-share': { type: 'string' },
      failures: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

const FAILURES: Record<string, SimulatedFailure> = {
  '401': { type: 'unauthorized' },
  '501': { type: 'server_error' },
  '503': { type: 'session_expired' },
  '504': { type: 'anisette_timeout' },
  empty: { type: 'empty_body' },
  'missing-results': { type: 'missing_results' },
  'invalid-json': { type: 'invalid_json' },
  reset: { type: 'connection_reset' },
}

export function parseFailures(list: string): SimulatedFailure[] {
  return list.split(',').map((item) => {
    const name = item.trim()
    const slow = /^slow:(\d+)$/.exec(name)
    if (slow) return { type: 'slow', delayMs: Number(slow[1]) }
    const failure = FAILURES[name]
    if (!failure) {
      throw new CliUsageError(
        `--failures: unknown failure "${name}" (known: ${Object.keys(FAILURES).join(', ')}, slow:<ms>)`,
      )
    }
    return failure
  })
}

function number(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new CliUsageError(`${flag} must be a positive number, got "${value}"`)
  }
  return parsed
}

function integer(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
    throw new CliUsageError(`${flag} must be a whole number, got "${value}"`)
  }
  return parsed
}

function fraction(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (value.trim() === '' || !(parsed >= 0 && parsed <= 1)) {
    throw new CliUsageError(`${flag} must be a number between 0 and 1, got "${value}"`)
  }
  return parsed
}
