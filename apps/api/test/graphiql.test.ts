import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { InProcessLockService } from '@tracker/locks'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/index.ts'
import { createTestApi, type TestApi, testConfig } from './helpers.ts'

// GraphiQL is served from this API alone: it works offline and sends nothing off the machine.
let api: TestApi
let withIde: FastifyInstance
beforeAll(async () => {
  api = await createTestApi()
  withIde = await buildApp({
    database: api.database,
    locks: new InProcessLockService(),
    logger: api.logs.logger,
    config: testConfig({ API_GRAPHIQL: 'true' }),
  })
})
afterAll(async () => {
  await withIde?.close()
  await api?.close()
})

const require = createRequire(import.meta.url)
const packageFile = (pkg: string, file: string) => join(dirname(require.resolve(`${pkg}/package.json`)), file)

/** Every script and stylesheet the page loads, as written in it. */
const references = (html: string) =>
  [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!)

describe('GraphiQL', () => {
  it('is off unless API_GRAPHIQL=true', async () => {
    expect((await api.app.inject({ url: '/graphiql' })).statusCode).toBe(404)
  })

  it('the page names no other host, and a policy tells the browser to load and send nothing elsewhere', async () => {
    const page = await withIde.inject({ url: '/graphiql' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).not.toMatch(/https?:\/\//)
    expect(page.body).not.toMatch(/(src|href)="\/\//)
    const policy = String(page.headers['content-security-policy'])
    expect(policy).toContain("default-src 'none'")
    expect(policy).toContain("script-src 'self'")
    expect(policy).toContain("connect-src 'self'")
  })

  it('every script and stylesheet it references is served here (200), from the installed packages', async () => {
    const page = await withIde.inject({ url: '/graphiql' })
    const urls = references(page.body)
    expect(urls.length).toBeGreaterThanOrEqual(5)
    const installed: Record<string, string> = {
      'react.production.min.js': packageFile('react', 'umd/react.production.min.js'),
      'react-dom.production.min.js': packageFile('react-dom', 'umd/react-dom.production.min.js'),
      'graphiql.min.js': packageFile('graphiql', 'graphiql.min.js'),
      'graphiql.min.css': packageFile('graphiql', 'graphiql.min.css'),
    }
    const served: string[] = []
    for (const reference of urls) {
      // Relative to the page, so it works behind a path prefix too.
      expect(reference).not.toMatch(/^(\/|[a-z]+:)/i)
      const url = new URL(reference, 'http://api.invalid/graphiql')
      expect(url.host).toBe('api.invalid')
      const response = await withIde.inject({ url: url.pathname })
      expect(response.statusCode, reference).toBe(200)
      expect(response.headers['content-type'], reference).toMatch(
        reference.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      )
      const name = reference.split('/').at(-1)!
      served.push(name)
      if (installed[name]) {
        expect(response.rawPayload.equals(readFileSync(installed[name]!)), reference).toBe(true)
      } else {
        // Our own code: it names no host either (the packages' files only mention URLs in texts).
        expect(response.body).not.toMatch(/https?:\/\//)
      }
    }
    expect(served).toEqual(expect.arrayContaining([...Object.keys(installed), 'app.js']))
  })

  it('its queries go to this API, relative to the page, and still need a token', async () => {
    const page = await withIde.inject({ url: '/graphiql' })
    expect(page.body).toContain('data-endpoint="graphql"')
    expect(new URL('graphql', 'http://api.invalid/graphiql').pathname).toBe('/graphql')
    const unauthenticated = await withIde.inject({
      method: 'POST',
      url: '/graphql',
      payload: { query: '{ __typename }' },
    })
    expect(unauthenticated.statusCode).toBe(401)
  })
})
