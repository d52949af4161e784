import { Writable } from 'node:stream'
import { ensureOpeningKey, KeyOpener, type TrackerDatabase } from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService, type LockService } from '@tracker/locks'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import pino from 'pino'
import { type ApiConfig, buildApp, createApiToken, parseApiEnv } from '../src/index.ts'

/** The tests' key pair: the API gets its public key; the private key stands for the importer's. */
export const TEST_KEY_PAIR = KeyOpener.generate()
/** What the importer holds (never the API): opens what the API sealed, in tests that check it. */
export const testKeyOpener = () => KeyOpener.fromPrivateKey(TEST_KEY_PAIR.privateKey)

export function testConfig(env: Record<string, string> = {}): ApiConfig {
  return parseApiEnv({ KEY_SEALING_PUBLIC_KEY: TEST_KEY_PAIR.publicKey, LOG_LEVEL: 'silent', ...env })
}

/** What the importer's start does first: records the public key of its private key in the database. */
export async function recordTestSealingKey(database: TrackerDatabase): Promise<void> {
  await ensureOpeningKey(database.db, testKeyOpener())
}

/** Log lines the app wrote, parsed: tests assert on what operators would see. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = []
  readonly logger = pino(
    { level: 'info' },
    new Writable({
      write: (chunk, _encoding, done) => {
        for (const line of String(chunk).split('\n').filter(Boolean)) this.lines.push(JSON.parse(line))
        done()
      },
    }),
  )
}

export interface GraphQLResponse {
  status: number
  headers: Record<string, unknown>
  body: {
    data?: Record<string, unknown> | null
    errors?: { message: string; extensions: { code: string; [key: string]: unknown }; path?: unknown[] }[]
    extensions?: Record<string, unknown>
  }
  raw: string
}

export interface TestApi {
  app: FastifyInstance
  database: TrackerDatabase
  logs: LogCapture
  readToken: string
  writeToken: string
  gql(
    query: string,
    options?: { variables?: Record<string, unknown>; token?: string | null },
  ): Promise<GraphQLResponse>
  close(): Promise<void>
}

/**
 * The API built on a test database with a read and a write token. Pass `database` to share one
 * between apps (it is then left open); otherwise a fresh one is created and closed with the app.
 */
export async function createTestApi(
  options: {
    env?: Record<string, string>
    database?: TrackerDatabase
    locks?: LockService
    /** Rate-limit counters in Redis, as main.ts shares them across replicas. */
    rateLimitRedis?: Redis
    /** Settings no variable sets (e.g. the token cache's bounds), changed after the env is parsed. */
    configure?: (config: ApiConfig) => ApiConfig
    /** false: the importer has not recorded its public key yet (default: it has, as after its start). */
    sealingKeyRecorded?: boolean
  } = {},
): Promise<TestApi> {
  const owned: TestDatabase | undefined = options.database ? undefined : await createTestDatabase()
  const database = options.database ?? owned!
  if (options.sealingKeyRecorded !== false) await recordTestSealingKey(database)
  const logs = new LogCapture()
  const app = await buildApp({
    database,
    locks: options.locks ?? new InProcessLockService(),
    logger: logs.logger,
    config: (options.configure ?? ((c) => c))(testConfig(options.env)),
    ...(options.rateLimitRedis ? { rateLimitRedis: options.rateLimitRedis } : {}),
  })
  const readToken = (await createApiToken(database.db, { name: 'test read', scope: 'read' })).token
  const writeToken = (await createApiToken(database.db, { name: 'test write', scope: 'write' })).token
  return {
    app,
    database,
    logs,
    readToken,
    writeToken,
    async gql(query, gqlOptions = {}) {
      const token = gqlOptions.token === undefined ? writeToken : gqlOptions.token
      const response = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: token ? { authorization: `Bearer ${token}` } : {},
        payload: { query, ...(gqlOptions.variables ? { variables: gqlOptions.variables } : {}) },
      })
      return {
        status: response.statusCode,
        headers: response.headers,
        body: response.json(),
        raw: response.body,
      }
    },
    async close() {
      await app.close()
      await owned?.close()
    },
  }
}

export const HOUR = 3_600_000
export const DAY = 86_400_000
export const hourStart = (t: number) => Math.floor(t / HOUR) * HOUR
export const dayStart = (t: number) => Math.floor(t / DAY) * DAY

/** The history cache serves once its change feed is listening (started with the app, not awaited). */
export async function cacheServing(api: TestApi, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!api.app.services.historyCache.serving) {
    if (Date.now() > deadline) throw new Error(`the history cache did not connect within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Makes location_history equal to what the aggregates say now, as the refresher keeps it. */
export async function rebuildHistory(api: { app: FastifyInstance }): Promise<void> {
  await api.app.services.historyEngine.rebuild({
    trigger: 'manual',
    runId: 'test',
    signal: new AbortController().signal,
  })
}
