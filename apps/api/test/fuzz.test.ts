import { insertTracker, reportRow } from '@tracker/db/testing'
import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, DAY, type TestApi } from './helpers.ts'

/*
 * A request fuzzer: generated malformed and hostile requests (documents, variables, bodies, content
 * types, methods, query strings, headers) against the API on the embedded engine. Every answer is a
 * 4xx with a coded error, or a 200 whose errors carry client codes; never a 5xx, never a masked
 * internal error, nothing logged as an error; and the app still answers afterwards.
 *
 * Fixed seed: a failure is reproduced by running the file again. A few thousand cases in CI, a few
 * hundred locally (FUZZ_RUNS sets the number).
 */
const SEED = Number(process.env.FUZZ_SEED) || 1_300_013
const RUNS = Number(process.env.FUZZ_RUNS) || (process.env.CI ? 3000 : 300)
const BODY_LIMIT = 16 * 1024

let api: TestApi
let trackerId: string
let hashedAdvKey: string
beforeAll(async () => {
  api = await createTestApi({
    env: {
      API_GRAPHIQL: 'true',
      API_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // Valid clients are not what is fuzzed: their limit would only turn cases into 429s.
      API_RATE_LIMIT_MAX: '1000000',
      // No refresher runs: a valid refresh is REFRESH_TIMEOUT, after this long.
      API_REFRESH_ACCEPT_TIMEOUT: '50 ms',
    },
  })
  const tracker = await insertTracker(api.database.db, { name: 'fuzzed' })
  trackerId = tracker.id
  hashedAdvKey = tracker.hashedAdvKeys[0]!
  const now = Date.now()
  await api.database.db
    .insertInto('location_reports')
    .values(Array.from({ length: 30 }, (_, i) => reportRow(hashedAdvKey, new Date(now - i * 0.4 * DAY))))
    .execute()
})
afterAll(() => api?.close())

// ---- values ------------------------------------------------------------------------------------

const oddText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\uD800',
    '\uDFFFx',
    '\u202E',
    '😀',
    "' OR 1=1 --",
    '%s%n',
    '$' + '{x}',
  ),
  fc.string({ minLength: 200, maxLength: 400 }),
)

const isoNear = fc
  .integer({ min: -40 * 86_400, max: 2 * 86_400 })
  .map((s) => new Date(Date.now() + s * 1000).toISOString())
const dateTime = fc.oneof(
  { weight: 8, arbitrary: isoNear },
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '0001-01-01T00:30:00+01:00',
    '9999-12-31T23:59:59Z',
    '9999-12-31T23:59:59-01:00',
    '2025-02-29T00:00:00Z',
    '2024-02-29T12:00:00+14:00',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:00:00',
    '2025-01-01',
    '+275760-09-13T00:00:00Z',
    '2025-01-01T00:00:00.123456789Z',
    'yesterday',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  oddText,
)
const id = fc.oneof(
  { weight: 4, arbitrary: fc.constant('TRACKER') },
  fc.uuid(),
  fc.constantFrom('123', '', '00000000-0000-0000-0000-000000000000', 'TRACKER '),
  oddText,
)
const cursorValue = fc.oneof(dateTime, fc.uuid(), fc.integer(), fc.double(), oddText, fc.constant(null))
const cursor = fc.oneof(
  fc
    .array(cursorValue, { maxLength: 3 })
    .map((values) => Buffer.from(JSON.stringify(values)).toString('base64url')),
  fc.base64String({ maxLength: 60 }),
  oddText,
)
const bucketSize = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('1 hour', '1 day') },
  fc.constantFrom('1 week', '1 HOUR', ' 1 day'),
  oddText,
)
const size = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -2, max: 600 }) },
  fc.constantFrom(0, -1, 2_147_483_647, -2_147_483_648, 99_999_999_999),
)
const privateKey = fc.oneof(
  fc.base64String({ minLength: 36, maxLength: 40 }),
  fc.stringMatching(/^[0-9a-f]{56}$/),
  fc.base64String({ maxLength: 300 }),
  oddText,
)

/** An enum value: a bare name in a document, a string in variables. */
class EnumValue {
  readonly name: string
  constructor(name: string) {
    this.name = name
  }
  toJSON() {
    return this.name
  }
}
const enumOf = (...names: string[]) => fc.constantFrom(...names).map((name) => new EnumValue(name))

/** A value as GraphQL literal text. */
function literal(value: unknown): string {
  if (value instanceof EnumValue) return value.name
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '1e400'
  if (value === null || value === undefined) return 'null'
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`
  if (typeof value === 'object') {
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${literal(v)}`)
      .join(', ')} }`
  }
  return String(value)
}
const wrongTyped = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  oddText,
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constantFrom({ a: 1 }, 'ENUM_VALUE', '$undefinedVariable'),
)

// ---- documents ---------------------------------------------------------------------------------

interface Field {
  name: string
  /** Each argument's values and its type (for variables). */
  args: Record<string, [fc.Arbitrary<unknown>, string]>
  selection: string
  mutation?: boolean
}

const historyArgs: Field['args'] = {
  trackerId: [id, 'ID!'],
  startTime: [dateTime, 'DateTime!'],
  endTime: [dateTime, 'DateTime!'],
  bucketSize: [bucketSize, 'String!'],
  limit: [size, 'Int'],
  after: [cursor, 'String'],
}

const point =
  'id timestamp bucketSize resolution location { latitude longitude } nearestCity accuracy bestAccuracy reportCount firstReportAt lastReportAt source'
const FIELDS: Field[] = [
  {
    name: 'locationHistoryAggregated',
    args: historyArgs,
    selection: `${point} tracker { id name currentStatus }`,
  },
  {
    name: 'locationHistoryPage',
    args: historyArgs,
    selection: `points { ${point} } truncated limit pageInfo { hasNextPage endCursor }`,
  },
  {
    name: 'trackers',
    args: {
      status: [enumOf('ACTIVE', 'STALE', 'LOST', 'INACTIVE', 'GONE'), 'TrackerStatus'],
      first: [size, 'Int'],
      after: [cursor, 'String'],
    },
    selection:
      'nodes { id name currentStatus isActive lastSeenAt lastLocation { latitude } battery keys { hashedAdvKey isActive } } pageInfo { hasNextPage endCursor }',
  },
  {
    name: 'tracker',
    args: { id: [id, 'ID!'] },
    selection: 'id name currentStatus lastNearestCity createdAt',
  },
  {
    name: 'locationReports',
    args: {
      trackerId: [id, 'ID!'],
      startTime: [dateTime, 'DateTime'],
      endTime: [dateTime, 'DateTime'],
      first: [size, 'Int'],
      after: [cursor, 'String'],
    },
    selection: 'nodes { timestamp hashedAdvKey accuracy battery status insertedAt } pageInfo { endCursor }',
  },
  {
    name: 'importRuns',
    args: {
      status: [enumOf('RUNNING', 'FAILED', 'NOT_STARTED', 'nope'), 'ImportRunStatus'],
      first: [size, 'Int'],
      after: [cursor, 'String'],
    },
    selection:
      'nodes { id status trigger rejected { reason count } sourceErrors { source } requests { outcome count } multiIdRetries } pageInfo { endCursor }',
  },
  {
    name: 'endpointHealth',
    args: { hours: [fc.oneof(size, fc.constantFrom(744, 745)), 'Int'] },
    selection:
      'hours { hour total requests { outcome count } } totals { count } streak { failingRequests outcome since }',
  },
  {
    name: 'renameTracker',
    args: { id: [fc.oneof(fc.uuid(), id), 'ID!'], name: [oddText, 'String!'] },
    selection: 'id name',
    mutation: true,
  },
  { name: 'deactivateTracker', args: { id: [fc.uuid(), 'ID!'] }, selection: 'id isActive', mutation: true },
  {
    name: 'addTrackerKey',
    args: { trackerId: [id, 'ID!'], privateKey: [privateKey, 'PrivateKey!'] },
    selection: 'id keys { hashedAdvKey }',
    mutation: true,
  },
  {
    name: 'removeTrackerKey',
    args: {
      trackerId: [id, 'ID!'],
      hashedAdvKey: [fc.oneof(fc.base64String({ minLength: 44, maxLength: 44 }), oddText), 'String!'],
    },
    selection: 'id',
    mutation: true,
  },
  {
    name: 'createTracker',
    args: {
      input: [
        fc.record({ name: oddText, privateKeys: fc.array(privateKey, { maxLength: 3 }) }),
        'CreateTrackerInput!',
      ],
    },
    selection: 'id name keys { hashedAdvKey }',
    mutation: true,
  },
  {
    name: 'refreshLocationHistoryAggregates',
    args: { trackerId: [id, 'ID!'], startTime: [dateTime, 'DateTime!'], endTime: [dateTime, 'DateTime!'] },
    selection: '',
    mutation: true,
  },
]

interface Generated {
  query: string
  variables?: Record<string, unknown>
  operationName?: string
}

const argumentMode = fc.oneof(
  { weight: 6, arbitrary: fc.constant('literal') },
  { weight: 4, arbitrary: fc.constant('variable') },
  fc.constantFrom('wrong', 'missing', 'wrongVariable'),
)

/** One field with its arguments as literals, variables (declared right or wrong), or missing. */
const fieldCall = (fields: Field[]) =>
  fc
    .tuple(
      fc.constantFrom(...fields),
      fc.nat(),
      fc.array(argumentMode, { minLength: 6, maxLength: 6 }),
      fc.array(wrongTyped, { minLength: 6, maxLength: 6 }),
      fc.integer({ min: 0, max: 9 }),
    )
    .chain(([field, aliasSeed, modes, wrongs, oddity]) =>
      fc.record(Object.fromEntries(Object.entries(field.args).map(([k, [a]]) => [k, a]))).map((values) => {
        const args: string[] = []
        const definitions: string[] = []
        const variables: Record<string, unknown> = {}
        Object.entries(values).forEach(([name, value], i) => {
          const mode = modes[i % modes.length]
          const variable = `${name}${aliasSeed % 7}`
          if (mode === 'missing') return
          if (mode === 'literal') args.push(`${name}: ${literal(value)}`)
          else if (mode === 'wrong') args.push(`${name}: ${literal(wrongs[i % wrongs.length])}`)
          else {
            args.push(`${name}: $${variable}`)
            definitions.push(`$${variable}: ${mode === 'wrongVariable' ? 'Int' : field.args[name]![1]}`)
            variables[variable] = mode === 'wrongVariable' ? wrongs[i % wrongs.length] : value
          }
        })
        const selection = field.selection + (oddity === 0 ? ' secret' : '')
        const alias = aliasSeed % 3 === 0 ? `a${aliasSeed}: ` : ''
        return {
          mutation: field.mutation === true,
          text: `${alias}${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection ? ` { ${selection} }` : ''}`,
          definitions,
          variables,
        }
      }),
    )

const operationOf = (kind: 'query' | 'mutation') =>
  fc
    .tuple(
      fc.array(fieldCall(FIELDS.filter((f) => (f.mutation === true) === (kind === 'mutation'))), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.integer({ min: 0, max: 9 }),
      fc.option(fc.constantFrom('Op', 'Other')),
    )
    .map(([calls, oddity, name]): Generated => {
      const definitions = [...new Set(calls.flatMap((c) => c.definitions))]
      const head = `${kind}${name ? ` ${name}` : ''}${definitions.length ? `(${definitions.join(', ')})` : ''}`
      return {
        query: `${head} { ${calls.map((c) => c.text).join(' ')} }`,
        // Now and then the variables are left out altogether.
        ...(oddity > 0 ? { variables: Object.assign({}, ...calls.map((c) => c.variables)) } : {}),
        ...(name ? { operationName: name } : {}),
      }
    })

const wellFormed: fc.Arbitrary<Generated> = fc.oneof(
  { weight: 4, arbitrary: operationOf('query') },
  { weight: 1, arbitrary: operationOf('mutation') },
)

const repeat = (n: number, f: (i: number) => string, sep = ' ') =>
  Array.from({ length: n }, (_, i) => f(i)).join(sep)

const hostile: fc.Arbitrary<Generated> = fc.oneof(
  // Deep nesting, of real and of unknown fields.
  fc.integer({ min: 5, max: 3000 }).map((n) => ({ query: `{${'a {'.repeat(n)} b ${'}'.repeat(n + 1)}` })),
  fc.integer({ min: 3, max: 60 }).map((n) => ({
    query: `{ trackers { ${repeat(n, () => 'nodes { keys {', ' ')} hashedAdvKey ${'} } '.repeat(n)} } }`,
  })),
  // Huge aliases, cheap and expensive.
  fc.integer({ min: 10, max: 3000 }).map((n) => ({ query: `{ ${repeat(n, (i) => `a${i}: __typename`)} }` })),
  fc.integer({ min: 2, max: 60 }).map((n) => ({
    query: `{ ${repeat(n, (i) => `h${i}: locationHistoryAggregated(trackerId: "TRACKER", startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-20T00:00:00Z", bucketSize: "1 day") { id tracker { keys { hashedAdvKey } } }`)} }`,
  })),
  // Fragments: fan-out bombs, cycles, unknown and unused ones.
  fc.integer({ min: 2, max: 150 }).map((n) => ({
    query: `{ ...F0 } ${repeat(n, (i) => `fragment F${i} on Query { ${i === n - 1 ? '__typename' : `...F${i + 1} ...F${i + 1}`} }`)}`,
  })),
  fc.integer({ min: 1, max: 40 }).map((n) => ({
    query: `{ ...F0 } ${repeat(n, (i) => `fragment F${i} on Query { ...F${(i + 1) % n} }`)}`,
  })),
  fc.constantFrom(
    { query: '{ ...Missing }' },
    { query: 'fragment F on Query { __typename }' },
    { query: '{ __typename } fragment F on Nope { x }' },
    { query: 'subscription { trackers { nodes { id } } }' },
    { query: '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }' },
    {
      query:
        '{ __type(name: "Tracker") { name fields { name args { name type { name ofType { name } } } } } }',
    },
    { query: '{ __typename @include(if: $x) }' },
    { query: 'query ($x: Boolean!) { __typename @skip(if: $x) }', variables: { x: 'yes' } },
    { query: '{ __typename @nope @deprecated }' },
    { query: 'query ($a: Int, $a: Int) { __typename }' },
    { query: 'query ($t: Tracker) { __typename }' },
    { query: 'query ($t: Nope!) { __typename }', variables: { t: 1 } },
    { query: 'query ($d: DateTime = "0000-01-01T00:00:00Z") { tracker(id: "x") { id } }' },
    { query: 'query A { __typename } query A { __typename }', operationName: 'A' },
    { query: '{ __typename } query B { __typename }' },
    { query: 'query A { __typename } mutation B { deactivateTracker(id: "x") { id } }', operationName: 'B' },
    { query: '\uFEFF{ __typename }' },
    { query: '{ __typename } # trailing comment' },
    { query: '"""block""" query { __typename }' },
    { query: '{ tracker(id: """\n  multi\n  line\n""") { id } }' },
    { query: '{ tracker(id: "\\u0000") { id } }' },
    { query: '{ tracker(id: "\\uD800") { id } }' },
    { query: '{ trackers(first: 99999999999999999999999) { nodes { id } } }' },
    { query: '{ trackers(first: 1.5) { nodes { id } } }' },
    { query: '{ trackers(status: null, first: null, after: null) { nodes { id } } }' },
    { query: 'mutation { createTracker(input: { name: "x", privateKeys: [], extra: 1 }) { id } }' },
    { query: 'mutation { createTracker(input: null) { id } }' },
    { query: '' },
    { query: ' ' },
    { query: '{' },
    { query: '}' },
    { query: 'query' },
    { query: '{ __typename }', operationName: '' },
    { query: '{ __typename }', operationName: 'Nope' },
  ),
  // A long string literal, a long name, many tokens.
  fc
    .integer({ min: 1000, max: 20_000 })
    .map((n) => ({ query: `{ tracker(id: "${'x'.repeat(n)}") { id } }` })),
  fc.integer({ min: 100, max: 5000 }).map((n) => ({ query: `{ ${'a'.repeat(n)} }` })),
  fc.integer({ min: 1000, max: 4000 }).map((n) => ({ query: `{ __typename ${'@a '.repeat(n)}}` })),
  // Huge or odd variables.
  fc.integer({ min: 100, max: 5000 }).map((n) => ({
    query: 'query ($ids: [ID!]) { __typename }',
    variables: { ids: Array.from({ length: n }, (_, i) => String(i)) },
  })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({
    query: 'query ($v: String, $k: PrivateKey, $d: DateTime, $i: CreateTrackerInput) { __typename }',
    variables: { v, k: v, d: v, i: v },
  })),
  // Random text, and valid documents with a few characters changed.
  oddText.map((query) => ({ query })),
  fc
    .tuple(wellFormed, fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.string({ maxLength: 3 })), { maxLength: 4 }))
    .map(([doc, edits]) => {
      let query = doc.query
      for (const [at, remove, insert] of edits) {
        const i = at % (query.length + 1)
        query = query.slice(0, i) + insert + query.slice(i + remove)
      }
      return { ...doc, query }
    }),
)

const document = fc.oneof({ weight: 3, arbitrary: wellFormed }, { weight: 2, arbitrary: hostile })

// ---- transport -----------------------------------------------------------------------------------

type Auth = 'read' | 'write' | 'none' | 'invalid' | 'malformed' | 'basic' | 'long'
const auth = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Auth>('read', 'write') },
  { weight: 1, arbitrary: fc.constantFrom<Auth>('none', 'invalid', 'malformed', 'basic', 'long') },
)

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'APPLICATION/JSON',
    'application/graphql',
    'application/graphql-response+json',
    'text/plain',
    'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/octet-stream',
    '',
    ';;;',
    'application/json, text/plain',
  ),
)

interface Case {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
  remoteAddress: string
}

/** A POST body: the document as JSON mostly, or broken in every way a body can be. */
const postBody = fc
  .tuple(
    document,
    fc.oneof(
      { weight: 6, arbitrary: fc.constant('json') },
      fc.constantFrom(
        'graphql',
        'truncated',
        'batch',
        'notObject',
        'invalidUtf8',
        'huge',
        'deepJson',
        'extra',
        'empty',
        'proto',
      ),
    ),
    fc.nat(),
    fc.jsonValue({ maxDepth: 3 }),
  )
  .map(([doc, shape, n, junk]): string | Buffer => {
    const json = JSON.stringify(doc)
    switch (shape) {
      case 'graphql':
        return doc.query
      case 'truncated':
        return json.slice(0, n % json.length)
      case 'batch':
        return JSON.stringify(Array.from({ length: (n % 5) + 1 }, () => doc))
      case 'notObject':
        return JSON.stringify(junk)
      case 'invalidUtf8':
        return Buffer.concat([
          Buffer.from(json.slice(0, n % json.length)),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
          Buffer.from(json.slice(n % json.length)),
        ])
      case 'huge':
        return JSON.stringify({ ...doc, padding: 'x'.repeat(BODY_LIMIT - 500 + (n % 1000)) })
      case 'deepJson':
        return `${'['.repeat(4000 + (n % 4000))}${']'.repeat(4000 + (n % 4000))}`
      case 'extra':
        return JSON.stringify({ ...doc, extensions: junk, persisted: true, variables: doc.variables ?? junk })
      case 'empty':
        return ''
      case 'proto':
        return [
          `{"query":${JSON.stringify(doc.query)},"__proto__":{"polluted":true}}`,
          `{"query":${JSON.stringify(doc.query)},"variables":{"constructor":{"prototype":{"polluted":true}}}}`,
        ][n % 2]!
      default:
        return json
    }
  })

/** A GET query string: the document's fields, or odd ones. */
const getQuery = fc
  .tuple(
    document,
    fc.constantFrom(
      'plain',
      'plain',
      'repeated',
      'badVariables',
      'badEncoding',
      'nul',
      'empty',
      'extensions',
      'proto',
    ),
    fc.nat(),
  )
  .map(([doc, shape, n]) => {
    const params = new URLSearchParams({ query: doc.query })
    if (doc.variables) params.set('variables', JSON.stringify(doc.variables))
    if (doc.operationName !== undefined) params.set('operationName', doc.operationName)
    switch (shape) {
      case 'repeated':
        params.append('query', '{ __typename }')
        params.append('operationName', 'X')
        return params.toString()
      case 'badVariables':
        params.set('variables', ['{', '[1]', 'null', '"x"', '{"a":'][n % 5]!)
        return params.toString()
      case 'badEncoding':
        return `query=%7B%20__typename%20%7D&x=%zz%E0%A4%A&variables=%7B%7D%`
      case 'nul':
        return `query=%7B%20tracker(id%3A%20%22%00%22)%20%7B%20id%20%7D%20%7D`
      case 'empty':
        return ['', 'query', 'query=', '&&&', '=x'][n % 5]!
      case 'proto':
        return `${params.toString()}&__proto__[polluted]=1&constructor[prototype][polluted]=1`
      case 'extensions':
        params.set('extensions', ['{"persistedQuery":{"sha256Hash":"x","version":1}}', '{', '5'][n % 3]!)
        return params.toString()
      default:
        return params.toString()
    }
  })

const remoteAddress = fc.oneof({ weight: 4, arbitrary: fc.constant('127.0.0.1') }, fc.ipV4(), fc.ipV6())

const requestCase: fc.Arbitrary<Case> = fc
  .record({
    kind: fc.oneof(
      { weight: 7, arbitrary: fc.constant('post') },
      { weight: 2, arbitrary: fc.constant('get') },
      { weight: 1, arbitrary: fc.constant('other') },
    ),
    body: postBody,
    query: getQuery,
    contentType,
    auth,
    remoteAddress,
    method: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'GET', 'POST'),
    path: fc.constantFrom(
      '/graphql',
      '/graphql/',
      '/GRAPHQL',
      '//graphql',
      '/graphql/../graphql',
      '/graphql%00',
      '/graphiql',
      '/graphiql/app.js',
      '/graphiql/vendor/..%2f..%2fpackage.json',
      '/graphiql/vendor/react@0.0.0/react.production.min.js',
      '/graphiql/../../package.json',
      '/health',
      '/ready',
      '/metrics',
      '/nope',
    ),
    requestId: fc.option(
      fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 100, maxLength: 300 })),
    ),
    accept: fc.option(
      fc.constantFrom('application/graphql-response+json', 'text/html', '*/*', 'application/xml'),
    ),
  })
  .map(({ kind, body, query, contentType, auth, remoteAddress, method, path, requestId, accept }) => {
    const headers: Record<string, string> = {}
    const token = { read: api.readToken, write: api.writeToken }
    if (auth === 'read' || auth === 'write') headers.authorization = `Bearer ${token[auth]}`
    else if (auth === 'invalid') headers.authorization = 'Bearer trk_not-a-token'
    else if (auth === 'malformed') headers.authorization = 'Bearer a b c'
    else if (auth === 'basic') headers.authorization = 'Basic dXNlcjpwYXNz'
    else if (auth === 'long') headers.authorization = `Bearer ${'x'.repeat(5000)}`
    // Header values must be valid HTTP (a client library would refuse to send anything else).
    if (requestId !== null && /^[\t\x20-\x7e]*$/.test(requestId)) headers['x-request-id'] = requestId
    if (accept) headers.accept = accept
    const fill = (text: string) => text.replaceAll('TRACKER', trackerId)
    if (kind === 'get') return { method: 'GET', url: `/graphql?${fill(query)}`, headers, remoteAddress }
    if (contentType) headers['content-type'] = contentType
    const payload = typeof body === 'string' ? fill(body) : body
    if (kind === 'other') return { method, url: path, headers, payload, remoteAddress }
    return { method: 'POST', url: '/graphql', headers, payload, remoteAddress }
  })

// ---- the property ----------------------------------------------------------------------------------

interface ErrorBody {
  errors?: { message?: unknown; extensions?: { code?: unknown } }[]
  error?: unknown
}

function checkAnswer(c: Case, response: Awaited<ReturnType<TestApi['app']['inject']>>): void {
  const logged = api.logs.lines.findLast(
    (l) => l.reqId === response.headers['x-request-id'] && Number(l.level) >= 50,
  )
  const cause = (logged?.err as { message?: string } | undefined)?.message
  const where = `${c.method} ${c.url.slice(0, 200)} -> ${response.statusCode} ${response.body.slice(0, 300)}${cause ? ` (logged: ${cause})` : ''}`
  expect(response.statusCode, where).toBeLessThan(500)
  expect(response.body, where).not.toMatch(
    /INTERNAL_SERVER_ERROR|Internal server error|"stack"|\bat .*\.(ts|js):\d+/,
  )
  if (c.method === 'HEAD' || !String(response.headers['content-type'] ?? '').includes('json')) {
    // Static files (GraphiQL) and bodiless answers; errors are always JSON.
    expect(response.statusCode < 400 || c.method === 'HEAD', where).toBe(true)
    return
  }
  const body = response.json() as ErrorBody
  if (response.statusCode >= 400 || body.errors) {
    if (body.errors) {
      expect(body.errors.length, where).toBeGreaterThan(0)
      for (const error of body.errors) {
        expect(typeof error.message, where).toBe('string')
        expect(typeof error.extensions?.code, where).toBe('string')
      }
    } else {
      // Routes outside GraphQL (404, /ready) answer { error } or { status, reason }.
      expect(typeof body.error === 'string' || response.statusCode === 503, where).toBe(true)
    }
  }
}

describe('request fuzzer', () => {
  it(
    `answers ${RUNS} generated malformed and hostile requests with 4xx or coded errors, never a 5xx`,
    async () => {
      const errorsBefore = api.logs.lines.filter((l) => Number(l.level) >= 50).length
      await fc.assert(
        fc.asyncProperty(requestCase, async (c) => {
          const response = await api.app.inject({
            method: c.method as InjectOptions['method'],
            url: c.url,
            headers: c.headers,
            remoteAddress: c.remoteAddress,
            ...(c.payload !== undefined ? { payload: c.payload } : {}),
          })
          checkAnswer(c, response)
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: !process.env.FUZZ_SHRINK },
      )
      const logged = api.logs.lines.filter((l) => Number(l.level) >= 50).slice(errorsBefore)
      expect(logged.map((l) => (l.err as { message?: string } | undefined)?.message ?? l.msg)).toEqual([])
    },
    30 * 60_000,
  )

  it('the app still answers a normal query afterwards, and no prototype was polluted', async () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const response = await api.gql(
      `{ trackers { nodes { id } } locationHistoryAggregated(trackerId: "${trackerId}", startTime: "${new Date(Date.now() - 20 * DAY).toISOString()}", endTime: "${new Date().toISOString()}", bucketSize: "1 day") { reportCount } }`,
    )
    expect(response.status).toBe(200)
    expect(response.body.errors).toBeUndefined()
    expect((response.body.data!.trackers as { nodes: unknown[] }).nodes.length).toBeGreaterThan(0)
    expect((response.body.data!.locationHistoryAggregated as unknown[]).length).toBeGreaterThan(0)
  })
})
