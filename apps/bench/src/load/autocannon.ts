import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT_DIR } from '../machine.ts'

/** The root devDependency's CLI, run as its own process: the load never shares the server's CPU time slice. */
const AUTOCANNON = join(ROOT_DIR, 'node_modules', 'autocannon', 'autocannon.js')

export interface LoadResult {
  /** Mean requests per second over the run (autocannon's per-second samples). */
  requestsPerS: number
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number }
  requests: number
  non2xx: number
  errors: number
  timeouts: number
  durationS: number
}

export interface LoadOptions {
  url: string
  body: string
  headers: Record<string, string>
  connections: number
  durationS: number
}

interface AutocannonJson {
  requests: { average: number; total: number }
  latency: { p50: number; p90: number; p99: number; average: number; max: number }
  non2xx: number
  errors: number
  timeouts: number
  duration: number
}

/** POSTs `body` to `url` from `connections` connections for `durationS` seconds, in a child process. */
export async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const args = [
    AUTOCANNON,
    '-c',
    String(options.connections),
    '-d',
    String(options.durationS),
    '-m',
    'POST',
    '-b',
    options.body,
    '-n',
    '-j',
  ]
  for (const [key, value] of Object.entries(options.headers)) args.push('-H', `${key}=${value}`)
  args.push(options.url)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000)
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('exit', resolve)
    child.once('error', reject)
  })
  if (code !== 0) throw new Error(`autocannon exited ${code}: ${stderr.trim()}`)
  const json = JSON.parse(stdout) as AutocannonJson
  return {
    requestsPerS: json.requests.average,
    latencyMs: {
      p50: json.latency.p50,
      p90: json.latency.p90,
      p99: json.latency.p99,
      mean: json.latency.average,
      max: json.latency.max,
    },
    requests: json.requests.total,
    non2xx: json.non2xx,
    errors: json.errors,
    timeouts: json.timeouts,
    durationS: json.duration,
  }
}
