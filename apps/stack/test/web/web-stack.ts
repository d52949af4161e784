import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { webDistDir } from '@tracker/web'
import pino from 'pino'
import { type RunningStack, startStack } from '../../src/index.ts'

/** The built page (turbo builds @tracker/web before these tests). */
export const WEB_ROOT = webDistDir

export interface WebStack {
  stack: RunningStack
  origin: string
  token: string
  /** Stops the whole stack (idempotent): the API goes away under the page. */
  stop(): Promise<void>
  close(): Promise<void>
}

/**
 * The whole system as `npm run demo` runs it (simulator, importer, refresher, API serving the built
 * page) on the embedded engine, in a fresh data directory, after its first import.
 */
export async function startWebStack(env: Record<string, string> = {}): Promise<WebStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tracker-web-'))
  const stack = await startStack(
    {
      DATA_DIR: dataDir,
      API_PORT: '0',
      PG_PORT: '0',
      IMPORTER_HTTP_PORT: '0',
      REFRESHER_HTTP_PORT: '0',
      LOG_FORMAT: 'json',
      WEB_ROOT,
      ...env,
    },
    pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  )
  await stack.firstImport
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= stack.stop()
    return stopping
  }
  return {
    stack,
    origin: new URL(stack.apiUrl).origin,
    token: stack.apiToken,
    stop,
    async close() {
      await stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** A GraphQL request straight to the API with the bearer token: what the page should show. */
export async function gql<T>(
  web: WebStack,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const response = await fetch(`${web.origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${web.token}` },
    body: JSON.stringify({ query, variables }),
  })
  const body = (await response.json()) as { data?: T; errors?: unknown[] }
  if (!body.data || body.errors) throw new Error(`GraphQL failed: ${JSON.stringify(body)}`)
  return body.data
}
