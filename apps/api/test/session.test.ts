import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTokensCommand, runTokensCommand, UsageError } from '../src/cli/tokens-command.ts'
import { createApiToken, revokeApiToken } from '../src/index.ts'
import { createSignInLink } from '../src/services/session.service.ts'
import { createTestApi, type TestApi } from './helpers.ts'

// The web app's sessions: an API token exchanged for an HttpOnly cookie that works wherever a
// bearer token does, with the token's scope and trackers.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi({ env: { API_RATE_LIMIT_UNAUTHENTICATED: '1000' } })
})
afterAll(() => api?.close())

let addresses = 0
/** Each test its own client address: the per-address limit of one never touches another. */
const newAddress = () => `198.18.0.${++addresses}`

function signIn(
  app: TestApi['app'],
  token: unknown,
  extra: { headers?: Record<string, string>; remoteAddress?: string } = {},
) {
  return app.inject({ method: 'POST', url: '/session', payload: { token }, ...extra })
}

/** The session secret the response set, and its cookie's attributes as the browser reads them. */
function sessionCookie(response: { headers: Record<string, unknown> }) {
  const header = ([] as string[]).concat((response.headers['set-cookie'] as string | string[]) ?? [])
  const line = header.find((h) => h.startsWith('tracker_session='))
  if (!line) throw new Error(`no tracker_session cookie in ${JSON.stringify(header)}`)
  const [pair, ...attributes] = line.split(/;\s*/)
  return { secret: pair!.slice('tracker_session='.length), attributes, line }
}

const withCookie = (secret: string, headers: Record<string, string> = {}) => ({
  cookie: `tracker_session=${secret}`,
  ...headers,
})

function gqlWithCookie(
  app: TestApi['app'],
  secret: string,
  query: string,
  headers: Record<string, string> = {},
  remoteAddress = '198.18.1.1',
) {
  return app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress,
    headers: withCookie(secret, headers),
    payload: { query },
  })
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('POST /session, GET /session, DELETE /session', () => {
  it('exchanges a token for an HttpOnly, SameSite=Strict cookie that authenticates GraphQL on its own', async () => {
    const response = await signIn(api.app, api.writeToken)
    expect(response.statusCode).toBe(200)
    const body = response.json()
    const token = await api.app.services.tokens.authenticate(api.writeToken)
    expect(body).toEqual({
      token: { id: token!.id, name: 'test write', scope: 'WRITE', trackerIds: null },
      expiresAt: expect.any(String),
    })
    const expiresIn = Date.parse(body.expiresAt) - Date.now()
    expect(expiresIn).toBeGreaterThan(7 * 86_400_000 - 60_000)
    expect(expiresIn).toBeLessThanOrEqual(7 * 86_400_000)

    const cookie = sessionCookie(response)
    expect(cookie.secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(cookie.attributes).toEqual(
      expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=604800']),
    )
    expect(cookie.attributes).not.toContain('Secure') // plain http
    expect(response.body).not.toContain(api.writeToken)
    // Only its hash is stored.
    const stored = await api.database.db.selectFrom('api_sessions').select('secret_hash').execute()
    expect(stored.map((s) => s.secret_hash)).not.toContain(cookie.secret)

    const current = await api.app.inject({
      method: 'GET',
      url: '/session',
      headers: withCookie(cookie.secret),
    })
    expect(current.statusCode).toBe(200)
    expect(current.json()).toEqual(body)

    const answer = await gqlWithCookie(api.app, cookie.secret, '{ trackers { nodes { id } } }')
    expect(answer.statusCode).toBe(200)
    expect(answer.json()).toEqual({ data: { trackers: { nodes: [] } } })
    const created = await gqlWithCookie(
      api.app,
      cookie.secret,
      'mutation { createTracker(input: { name: "by cookie", privateKeys: [] }) { name } }',
    )
    expect(created.json().errors?.[0]?.extensions?.code).not.toBe('FORBIDDEN')
  })

  it('DELETE /session revokes it in the database and clears the cookie; it is 401 from then on', async () => {
    const { secret } = sessionCookie(await signIn(api.app, api.readToken))
    expect((await gqlWithCookie(api.app, secret, '{ __typename }')).statusCode).toBe(200)

    const signOut = await api.app.inject({ method: 'DELETE', url: '/session', headers: withCookie(secret) })
    expect(signOut.statusCode).toBe(204)
    const cleared = sessionCookie(signOut)
    expect(cleared.secret).toBe('')
    expect(cleared.line).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/)
    const revoked = await api.database.db
      .selectFrom('api_sessions')
      .select('revoked_at')
      .where('revoked_at', 'is not', null)
      .execute()
    expect(revoked.length).toBeGreaterThanOrEqual(1)

    const after = await gqlWithCookie(api.app, secret, '{ __typename }')
    expect(after.statusCode).toBe(401)
    expect(after.json().errors[0].extensions.code).toBe('UNAUTHENTICATED')
    const current = await api.app.inject({ method: 'GET', url: '/session', headers: withCookie(secret) })
    expect(current.statusCode).toBe(401)
    expect(current.json()).toEqual({
      error: expect.stringMatching(/sign in again/),
      code: 'UNAUTHENTICATED',
      requestId: expect.any(String),
    })
    // Idempotent, with or without a cookie.
    expect(
      (await api.app.inject({ method: 'DELETE', url: '/session', headers: withCookie(secret) })).statusCode,
    ).toBe(204)
    expect((await api.app.inject({ method: 'DELETE', url: '/session' })).statusCode).toBe(204)
  })

  it('GET /session without a cookie is 401 UNAUTHENTICATED', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/session' })
    expect(response.statusCode).toBe(401)
    expect(response.json()).toMatchObject({ code: 'UNAUTHENTICATED', requestId: expect.any(String) })
  })

  it('a read-scope session may query but not mutate; a limited token keeps its trackers', async () => {
    const { secret } = sessionCookie(await signIn(api.app, api.readToken))
    const mutation = await gqlWithCookie(api.app, secret, 'mutation { deactivateTracker(id: "x") { id } }')
    expect(mutation.json().errors[0].extensions.code).toBe('FORBIDDEN')

    const tracker = await api.gql(
      'mutation { createTracker(input: { name: "shared", privateKeys: [] }) { id } }',
    )
    const trackerId = (tracker.body.data!.createTracker as { id: string }).id
    const limited = await createApiToken(api.database.db, {
      name: 'anna',
      scope: 'read',
      trackerIds: [trackerId],
    })
    const response = await signIn(api.app, limited.token)
    expect(response.json().token).toEqual({
      id: limited.id,
      name: 'anna',
      scope: 'READ',
      trackerIds: [trackerId],
    })
    const listed = await gqlWithCookie(
      api.app,
      sessionCookie(response).secret,
      '{ importRuns { nodes { id } } }',
    )
    expect(listed.json().errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('a session ends when its API token is revoked (at its next request)', async () => {
    const token = await createApiToken(api.database.db, { name: 'soon revoked', scope: 'read' })
    const { secret } = sessionCookie(await signIn(api.app, token.token))
    expect((await gqlWithCookie(api.app, secret, '{ __typename }')).statusCode).toBe(200)
    await revokeApiToken(api.database.db, token.id)
    const refused = await gqlWithCookie(api.app, secret, '{ __typename }')
    expect(refused.statusCode).toBe(401)
    expect(refused.json().errors[0].message).toMatch(/revoked/)
    const current = await api.app.inject({ method: 'GET', url: '/session', headers: withCookie(secret) })
    expect(current.json().code).toBe('UNAUTHENTICATED')
  })

  it('a session expires after WEB_SESSION_TTL: SESSION_EXPIRED', async () => {
    const shortLived = await createTestApi({ database: api.database, env: { WEB_SESSION_TTL: '1 s' } })
    try {
      const response = await signIn(shortLived.app, shortLived.readToken)
      const { secret, attributes } = sessionCookie(response)
      expect(attributes).toContain('Max-Age=1')
      const expired = await waitFor('the session expired', async () => {
        const current = await shortLived.app.inject({
          method: 'GET',
          url: '/session',
          headers: withCookie(secret),
        })
        return current.statusCode === 401 ? current : undefined
      })
      expect(expired.json()).toMatchObject({ code: 'SESSION_EXPIRED' })
      const refused = await gqlWithCookie(shortLived.app, secret, '{ __typename }')
      expect(refused.statusCode).toBe(401)
      expect(refused.json().errors[0].extensions.code).toBe('SESSION_EXPIRED')
    } finally {
      await shortLived.app.close()
    }
  })

  it('Secure over HTTPS: behind a proxy API_TRUST_PROXY believes; never on the word of an untrusted peer', async () => {
    const proxied = await createTestApi({ database: api.database, env: { API_TRUST_PROXY: '127.0.0.1' } })
    try {
      const https = await signIn(proxied.app, proxied.readToken, {
        headers: { 'x-forwarded-proto': 'https' },
      })
      expect(sessionCookie(https).attributes).toContain('Secure')
      const http = await signIn(proxied.app, proxied.readToken)
      expect(sessionCookie(http).attributes).not.toContain('Secure')
    } finally {
      await proxied.app.close()
    }
    const untrusted = await signIn(api.app, api.readToken, { headers: { 'x-forwarded-proto': 'https' } })
    expect(sessionCookie(untrusted).attributes).not.toContain('Secure')
  })

  it('a malformed body is 400 BAD_REQUEST', async () => {
    for (const payload of [{}, { token: 5 }, { token: '' }, [], { token: 'has spaces in it' }]) {
      const response = await api.app.inject({ method: 'POST', url: '/session', payload: payload as object })
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', error: expect.any(String) })
    }
    const notJson = await api.app.inject({
      method: 'POST',
      url: '/session',
      headers: { 'content-type': 'application/json' },
      payload: '{"token": ',
    })
    expect(notJson.statusCode).toBe(400)
    expect(notJson.json()).toMatchObject({ code: 'BAD_REQUEST' })
  })
})

describe('refused tokens and the per-address limit', () => {
  it('a refused token is 401 and counts against the address, as a bad bearer token does; then 429', async () => {
    const limited = await createTestApi({
      database: api.database,
      env: { API_RATE_LIMIT_UNAUTHENTICATED: '3' },
    })
    try {
      const remoteAddress = newAddress()
      const refused = await signIn(limited.app, 'trk_not-a-token', { remoteAddress })
      expect(refused.statusCode).toBe(401)
      expect(refused.json()).toEqual({
        error: 'Invalid or revoked API token',
        code: 'UNAUTHENTICATED',
        requestId: expect.any(String),
      })
      expect(refused.headers['set-cookie']).toBeUndefined()
      // A bad bearer token and a bad cookie count against the same allowance.
      const bearer = await limited.app.inject({
        method: 'POST',
        url: '/graphql',
        remoteAddress,
        headers: { authorization: 'Bearer trk_guess' },
        payload: { query: '{ __typename }' },
      })
      expect(bearer.statusCode).toBe(401)
      expect(
        (await gqlWithCookie(limited.app, 'x'.repeat(43), '{ __typename }', {}, remoteAddress)).statusCode,
      ).toBe(401)
      const exhausted = await signIn(limited.app, limited.readToken, { remoteAddress })
      expect(exhausted.statusCode).toBe(429)
      expect(exhausted.headers['retry-after']).toMatch(/^[1-9]\d*$/)
      expect(exhausted.json()).toMatchObject({ code: 'RATE_LIMITED' })
      // Another address is not affected.
      expect((await signIn(limited.app, limited.readToken, { remoteAddress: newAddress() })).statusCode).toBe(
        200,
      )
    } finally {
      await limited.app.close()
    }
  })
})

describe('cross-origin requests with the cookie', () => {
  it('are refused 403 CROSS_ORIGIN (Origin of another site, or Sec-Fetch-Site: cross-site); same origin and bearer pass', async () => {
    const { secret } = sessionCookie(await signIn(api.app, api.readToken))
    const foreign = await gqlWithCookie(api.app, secret, '{ __typename }', { origin: 'https://evil.example' })
    expect(foreign.statusCode).toBe(403)
    expect(foreign.json().errors[0].extensions.code).toBe('CROSS_ORIGIN')
    const fetchSite = await gqlWithCookie(api.app, secret, '{ __typename }', {
      'sec-fetch-site': 'cross-site',
    })
    expect(fetchSite.statusCode).toBe(403)
    expect(fetchSite.json().errors[0].extensions.code).toBe('CROSS_ORIGIN')
    const otherPort = await gqlWithCookie(api.app, secret, '{ __typename }', {
      origin: 'http://localhost:8080',
    })
    expect(otherPort.statusCode).toBe(403)

    // inject() speaks to localhost:80 over http.
    const same = await gqlWithCookie(api.app, secret, '{ __typename }', {
      origin: 'http://localhost',
      'sec-fetch-site': 'same-origin',
    })
    expect(same.statusCode).toBe(200)
    const sessionCheck = await api.app.inject({
      method: 'GET',
      url: '/session',
      headers: withCookie(secret, { origin: 'https://evil.example' }),
    })
    expect(sessionCheck.json()).toMatchObject({ code: 'CROSS_ORIGIN' })
    const signOut = await api.app.inject({
      method: 'DELETE',
      url: '/session',
      headers: withCookie(secret, { origin: 'https://evil.example' }),
    })
    expect(signOut.statusCode).toBe(403)

    const bearer = await api.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: {
        authorization: `Bearer ${api.readToken}`,
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      payload: { query: '{ __typename }' },
    })
    expect(bearer.statusCode).toBe(200)
  })
})

describe('one-time sign-in links', () => {
  it('open a session once (303 to /), then send to /?sign-in=link-invalid', async () => {
    const token = await api.app.services.tokens.authenticate(api.readToken)
    const link = await createSignInLink(api.database.db, { apiTokenId: token!.id })
    expect(link.path).toBe(`/sign-in/${link.code}`)
    expect(link.expiresAt.getTime() - Date.now()).toBeGreaterThan(23 * 3_600_000)

    const first = await api.app.inject({ method: 'GET', url: link.path })
    expect(first.statusCode).toBe(303)
    expect(first.headers.location).toBe('/')
    const { secret, attributes } = sessionCookie(first)
    expect(attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']))
    const current = await api.app.inject({ method: 'GET', url: '/session', headers: withCookie(secret) })
    expect(current.json().token.id).toBe(token!.id)

    const second = await api.app.inject({ method: 'GET', url: link.path })
    expect(second.statusCode).toBe(303)
    expect(second.headers.location).toBe('/?sign-in=link-invalid')
    expect(second.headers['set-cookie']).toBeUndefined()

    for (const path of ['/sign-in/unknown', `/sign-in/${'A'.repeat(43)}`]) {
      const unknown = await api.app.inject({ method: 'GET', url: path })
      expect(unknown.statusCode).toBe(303)
      expect(unknown.headers.location).toBe('/?sign-in=link-invalid')
    }
  })

  it('an expired link, or one whose token was revoked, opens nothing', async () => {
    const token = await createApiToken(api.database.db, { name: 'link', scope: 'read' })
    const expired = await createSignInLink(api.database.db, { apiTokenId: token.id })
    await sql`UPDATE sign_in_links SET expires_at = created_at + interval '1 millisecond'
               WHERE expires_at > now()`.execute(api.database.db)
    const late = await api.app.inject({ method: 'GET', url: expired.path })
    expect(late.headers.location).toBe('/?sign-in=link-invalid')

    const revoked = await createSignInLink(api.database.db, { apiTokenId: token.id })
    await revokeApiToken(api.database.db, token.id)
    const afterRevocation = await api.app.inject({ method: 'GET', url: revoked.path })
    expect(afterRevocation.headers.location).toBe('/?sign-in=link-invalid')
    await expect(createSignInLink(api.database.db, { apiTokenId: token.id })).rejects.toThrow(
      /does not exist/,
    )
  })

  it('tokens sign-in-link ID prints the path of a fresh one-time link', async () => {
    const token = await createApiToken(api.database.db, { name: 'cli link', scope: 'read' })
    const lines: string[] = []
    const run = (id: string) =>
      runTokensCommand(api.database.db, parseTokensCommand(['sign-in-link', id]), (l) => lines.push(l))
    expect(await run(token.id)).toBe(0)
    expect(lines[0]).toMatch(/^One-time sign-in link, valid until \d{4}-/)
    const path = lines[1]!
    expect(path).toMatch(/^\/sign-in\/[A-Za-z0-9_-]{43}$/)
    const opened = await api.app.inject({ method: 'GET', url: path })
    expect(opened.headers.location).toBe('/')

    await revokeApiToken(api.database.db, token.id)
    expect(await run(token.id)).toBe(1)
    expect(lines.at(-1)).toMatch(/no unrevoked token has id/)
    expect(() => parseTokensCommand(['sign-in-link'])).toThrow(UsageError)
    expect(() => parseTokensCommand(['sign-in-link', 'nope'])).toThrow(/not a token ID/)
  })
})
