import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { insertTracker } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTokensCommand, runTokensCommand, UsageError } from '../src/cli/tokens-command.ts'
import { buildApp, startApi } from '../src/index.ts'
import { createTestApi, type TestApi, testConfig } from './helpers.ts'

let api: TestApi
beforeAll(async () => {
  // Answers about tokens are cached for 1 ms here, so a revocation shows at once.
  api = await createTestApi({ env: { API_TOKEN_CACHE_TTL: '1 ms' } })
})
afterAll(() => api?.close())

const code = (response: { body: { errors?: { extensions: { code: string } }[] } }) =>
  response.body.errors?.[0]?.extensions.code

async function tokensCli(args: string[]): Promise<{ exit: number; lines: string[] }> {
  const lines: string[] = []
  const exit = await runTokensCommand(api.database.db, parseTokensCommand(args), (line) => lines.push(line))
  return { exit, lines }
}

describe('bearer tokens', () => {
  it('a request without a token is 401 UNAUTHENTICATED with a Bearer challenge', async () => {
    const response = await api.gql('{ __typename }', { token: null })
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer realm="tracker"')
    expect(response.body).toEqual({
      data: null,
      errors: [
        { message: expect.stringMatching(/Missing API token/), extensions: { code: 'UNAUTHENTICATED' } },
      ],
    })
  })

  it('a wrong token, or a header that is not Bearer, is 401', async () => {
    expect(code(await api.gql('{ __typename }', { token: 'trk_not-a-real-token' }))).toBe('UNAUTHENTICATED')
    const basic = await api.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
      payload: { query: '{ __typename }' },
    })
    expect(basic.statusCode).toBe(401)
    expect(basic.json().errors[0].extensions.code).toBe('UNAUTHENTICATED')
  })

  it('a token revoked with the CLI stops working; tokens are stored only as SHA-256 hashes', async () => {
    const created = await tokensCli(['create', '--name', 'ci', '--scope', 'read'])
    expect(created.exit).toBe(0)
    const token = created.lines.find((line) => line.startsWith('trk_'))!
    expect(token).toMatch(/^trk_[A-Za-z0-9_-]{43}$/)
    expect((await api.gql('{ __typename }', { token })).status).toBe(200)
    // Its use is written off the request path (every 10 s, and at close): now, for this test.
    await api.app.services.lastUse.flush()

    const row = await api.database.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('name', '=', 'ci')
      .executeTakeFirstOrThrow()
    expect(row.token_hash).toBe(createHash('sha256').update(token).digest('hex'))
    expect(
      JSON.stringify(await api.database.db.selectFrom('api_tokens').selectAll().execute()),
    ).not.toContain(token)
    expect(row.last_used_at).not.toBeNull()

    const listed = await tokensCli(['list'])
    expect(listed.lines.join('\n')).toContain(`${row.id}\tread\tci`)
    expect(listed.lines.join('\n')).not.toContain(token)

    expect((await tokensCli(['revoke', row.id])).exit).toBe(0)
    const refused = await api.gql('{ __typename }', { token })
    expect(refused.status).toBe(401)
    expect(code(refused)).toBe('UNAUTHENTICATED')
    expect(refused.body.errors![0]!.message).toMatch(/revoked/)
  })

  it('a read-only token may query but not mutate (FORBIDDEN, nothing changes)', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Before' })
    const mutation = `mutation { renameTracker(id: "${tracker.id}", name: "After") { name } }`
    const refused = await api.gql(mutation, { token: api.readToken })
    expect(code(refused)).toBe('FORBIDDEN')
    expect(refused.body.errors![0]!.message).toMatch(/write scope/)
    const query = await api.gql(`{ tracker(id: "${tracker.id}") { name } }`, { token: api.readToken })
    expect(query.body.data).toEqual({ tracker: { name: 'Before' } })
    const allowed = await api.gql(mutation, { token: api.writeToken })
    expect(allowed.body.data).toEqual({ renameTracker: { name: 'After' } })
  })
})

describe('the tokens CLI', () => {
  it('refuses bad arguments before touching the database', () => {
    expect(() => parseTokensCommand(['create', '--name', 'x'])).toThrow(UsageError)
    expect(() => parseTokensCommand(['create', '--name', 'x', '--scope', 'owner'])).toThrow(
      /--scope read, --scope write or --scope admin/,
    )
    expect(() => parseTokensCommand(['revoke'])).toThrow(UsageError)
    expect(() => parseTokensCommand(['revoke', 'not-an-id'])).toThrow(/not a token ID/)
    expect(() => parseTokensCommand(['rotate'])).toThrow(/unknown tokens command/)
    expect(() => parseTokensCommand(['create', '--bogus'])).toThrow(UsageError)
  })

  it('revoking an unknown id exits 1', async () => {
    const result = await tokensCli(['revoke', '00000000-0000-4000-8000-000000000000'])
    expect(result.exit).toBe(1)
    expect(result.lines[0]).toMatch(/No token has id/)
  })

  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--conditions=tracker-source', main, ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    })

  it('main.ts --help prints the usage and exits 0', () => {
    const result = run(['--help'])
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('tokens create --name NAME --scope read|write')
  })

  it('main.ts refuses a bad configuration naming the variables, and bad tokens arguments with exit 2', () => {
    const result = run([], { API_HISTORY_MAX_POINTS: 'many', API_PORT: '70000' })
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/KEY_SEALING_PUBLIC_KEY must be set/)
    expect(result.stderr).toMatch(/API_HISTORY_MAX_POINTS must be a whole number/)
    expect(result.stderr).toMatch(/API_PORT must be at most 65535/)
    expect(run(['tokens', 'create']).status).toBe(2)
  })
})

describe('open routes', () => {
  it('/health, /ready and /metrics need no token; request ids are echoed', async () => {
    expect((await api.app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' })
    expect((await api.app.inject({ url: '/ready' })).json()).toEqual({ status: 'ready' })
    const withId = await api.app.inject({ url: '/health', headers: { 'x-request-id': 'trace-123' } })
    expect(withId.headers['x-request-id']).toBe('trace-123')
    const metrics = await api.app.inject({ url: '/metrics' })
    expect(metrics.statusCode).toBe(200)
    expect(metrics.body).toContain(
      'tracker_api_graphql_request_duration_seconds_count{operation="query __typename"',
    )
    expect(metrics.body).toMatch(/tracker_api_graphql_errors_total\{code="UNAUTHENTICATED"\} [1-9]/)
    expect(metrics.body).toMatch(/tracker_api_graphql_errors_total\{code="FORBIDDEN"\} [1-9]/)
  })

  it('/ready answers 503 once the database is gone', async () => {
    const other = await createTestApi()
    await other.database.close()
    const response = await other.app.inject({ url: '/ready' })
    expect(response.statusCode).toBe(503)
    await other.app.close()
  })

  it('GraphiQL is served only when API_GRAPHIQL=true', async () => {
    expect((await api.app.inject({ url: '/graphiql' })).statusCode).toBe(404)
    const withIde = await buildApp({
      database: api.database,
      locks: new InProcessLockService(),
      logger: api.logs.logger,
      config: testConfig({ API_GRAPHIQL: 'true' }),
    })
    try {
      const page = await withIde.inject({ url: '/graphiql' })
      expect(page.statusCode).toBe(200)
      expect(page.headers['content-type']).toMatch(/text\/html/)
      expect(
        (await withIde.inject({ method: 'POST', url: '/graphql', payload: { query: '{ __typename }' } }))
          .statusCode,
      ).toBe(401)
    } finally {
      await withIde.close()
    }
  })
})

describe('startApi', () => {
  it('listens, serves over HTTP, and stops', async () => {
    const running = await startApi({
      database: api.database,
      locks: new InProcessLockService(),
      logger: api.logs.logger,
      config: testConfig({ API_HOST: '127.0.0.1', API_PORT: '0' }),
    })
    try {
      const response = await fetch(`${running.address}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${api.readToken}` },
        body: JSON.stringify({ query: '{ __typename }' }),
      })
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } })
    } finally {
      await running.stop()
    }
    await expect(fetch(`${running.address}/health`)).rejects.toThrow()
  })
})
