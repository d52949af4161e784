import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiConfigError } from '../src/index.ts'
import { createTestApi, type TestApi, testConfig } from './helpers.ts'

// The API serves the built web app from WEB_ROOT, with a Content-Security-Policy that allows this
// origin only (and the tile server when one is configured).
let root: string
let served: TestApi
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'tracker-web-'))
  mkdirSync(join(root, 'assets'))
  writeFileSync(
    join(root, 'index.html'),
    '<!doctype html><title>Tracker</title><script src="/assets/app-1a2b.js"></script>',
  )
  writeFileSync(join(root, 'assets', 'app-1a2b.js'), 'console.log("tracker")')
  writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  served = await createTestApi({ env: { WEB_ROOT: root } })
})
afterAll(async () => {
  await served?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

function expectWebHeaders(headers: Record<string, unknown>, policy = POLICY) {
  expect(headers['content-security-policy']).toBe(policy)
  expect(headers['x-content-type-options']).toBe('nosniff')
  expect(headers['referrer-policy']).toBe('no-referrer')
}

describe('WEB_ROOT set', () => {
  it('serves index.html at / (revalidated on every visit) and assets/ for good, all with the CSP', async () => {
    const page = await served.app.inject({ method: 'GET', url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<title>Tracker</title>')
    expect(page.headers['cache-control']).toBe('no-cache')
    expectWebHeaders(page.headers)

    const index = await served.app.inject({ method: 'GET', url: '/index.html' })
    expect(index.statusCode).toBe(200)
    expect(index.headers['cache-control']).toBe('no-cache')

    const script = await served.app.inject({ method: 'GET', url: '/assets/app-1a2b.js' })
    expect(script.statusCode).toBe(200)
    expect(script.headers['content-type']).toMatch(/javascript/)
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expectWebHeaders(script.headers)

    const icon = await served.app.inject({ method: 'GET', url: '/favicon.svg' })
    expect(icon.statusCode).toBe(200)
    expect(icon.headers['cache-control']).toBe('no-cache')
  })

  it('a file that is not there is a JSON 404; nothing outside WEB_ROOT is served', async () => {
    const missing = await served.app.inject({ method: 'GET', url: '/assets/nope.js' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ requestId: expect.any(String) })
    for (const url of ['/../package.json', '/assets/../../package.json', '/%2e%2e/package.json']) {
      const outside = await served.app.inject({ method: 'GET', url })
      expect(outside.statusCode, url).not.toBe(200)
    }
  })

  it('the API routes keep working beside it', async () => {
    expect((await served.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' })
    expect((await served.gql('{ __typename }')).body).toEqual({ data: { __typename: 'Query' } })
    const unauthenticated = await served.app.inject({ method: 'GET', url: '/session' })
    expect(unauthenticated.json().code).toBe('UNAUTHENTICATED')
  })

  it('/web-config.json: no tile server by default, the session lifetime', async () => {
    const response = await served.app.inject({ method: 'GET', url: '/web-config.json' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ tiles: null, sessionTtlSeconds: 7 * 86_400 })
    expectWebHeaders(response.headers)
  })

  it('logs at start that the web app is served', () => {
    expect(served.logs.lines).toContainEqual(
      expect.objectContaining({ msg: 'web app served at /', webRoot: root }),
    )
  })
})

describe('a tile server', () => {
  it('is named in img-src and /web-config.json only when configured', async () => {
    const api = await createTestApi({
      database: served.database,
      env: {
        WEB_ROOT: root,
        WEB_TILE_URL: 'https://{s}.tile.example.org/{z}/{x}/{y}.png',
        WEB_TILE_ATTRIBUTION: '© Example contributors',
        WEB_SESSION_TTL: '12 hours',
      },
    })
    try {
      const page = await api.app.inject({ method: 'GET', url: '/' })
      expectWebHeaders(
        page.headers,
        POLICY.replace("img-src 'self' data:", "img-src 'self' data: https://*.tile.example.org"),
      )
      const config = await api.app.inject({ method: 'GET', url: '/web-config.json' })
      expect(config.json()).toEqual({
        tiles: { url: 'https://{s}.tile.example.org/{z}/{x}/{y}.png', attribution: '© Example contributors' },
        sessionTtlSeconds: 12 * 3600,
      })
    } finally {
      await api.app.close()
    }
  })

  it('WEB_TILE_URL without WEB_TILE_ATTRIBUTION, or not a tile URL, is refused at start', () => {
    expect(() => testConfig({ WEB_TILE_URL: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png' })).toThrow(
      /WEB_TILE_ATTRIBUTION must be set with WEB_TILE_URL/,
    )
    expect(() =>
      testConfig({ WEB_TILE_URL: 'ftp://tiles.example/{z}/{x}/{y}.png', WEB_TILE_ATTRIBUTION: 'x' }),
    ).toThrow(/WEB_TILE_URL must be an http\(s\) tile URL/)
    expect(() =>
      testConfig({ WEB_TILE_URL: 'https://tiles.example/{z}/{x}.png', WEB_TILE_ATTRIBUTION: 'x' }),
    ).toThrow(/\{y\} is missing/)
    expect(() => testConfig({ WEB_TILE_ATTRIBUTION: 'x' })).toThrow(/without WEB_TILE_URL/)
    expect(() => testConfig({ WEB_TILE_URL: 'https://tiles.example/{z}/{x}/{y}.png' })).toThrow(
      ApiConfigError,
    )
  })
})

describe('WEB_ROOT unset', () => {
  let api: TestApi
  beforeAll(async () => {
    api = await createTestApi({ database: served.database })
  })
  afterAll(() => api?.app.close())

  it('GET / says the web app is not configured (404 JSON); /web-config.json still answers', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: expect.stringMatching(/set WEB_ROOT/),
      code: 'WEB_APP_NOT_CONFIGURED',
      requestId: expect.any(String),
    })
    expect((await api.app.inject({ method: 'GET', url: '/web-config.json' })).statusCode).toBe(200)
    expect(api.logs.lines).toContainEqual(
      expect.objectContaining({ msg: expect.stringMatching(/^web app not served: WEB_ROOT is not set/) }),
    )
  })

  it('a WEB_ROOT without index.html is refused at start, naming it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tracker-web-empty-'))
    try {
      await expect(createTestApi({ database: served.database, env: { WEB_ROOT: empty } })).rejects.toThrow(
        /WEB_ROOT: .* holds no index\.html/,
      )
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
