import { type EmbeddedDatabase, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase, testEnv } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  inlineParameters,
  parseCopyText,
  sqlLiteral,
  unescapeCopyText,
} from '../src/repositories/copy-text.ts'
import { copyText } from '../src/repositories/embedded-copy.ts'
import { ExportCursorReader } from '../src/repositories/export-cursor.repository.ts'
import { reportExportQuery } from '../src/repositories/location-report.repository.ts'
import { parseTimestamptzText } from '../src/repositories/timestamptz-text.ts'

// The export's pages against the same statement run whole through Kysely: every row, value for
// value, in order. On the embedded engine the reports are read by COPY a page at a time after the
// last row's key (text parsed here), so the cases are what that could get wrong: ties on the
// timestamp broken by the key, timestamps a microsecond apart (a Date has milliseconds), text with
// tabs, line breaks, backslashes, quotes and "\N", NULLs, page sizes that divide the rows exactly.

let database: TestDatabase
let trackerId: string
const from = new Date('2026-03-01T00:00:00Z')
const to = new Date('2026-03-02T00:00:00Z')
const CITIES = [
  null,
  '',
  'tab\there',
  'two\nlines\r\n',
  'back\\slash \\N and \\t',
  '\\N',
  `quote ' and "double"`,
  'Zürich 🗺️',
  ' padded ',
]

beforeAll(async () => {
  database = await createTestDatabase()
  const tracker = await insertTracker(database.db, { name: 'pages', keys: 3 })
  trackerId = tracker.id
  const rows = []
  for (let i = 0; i < 40; i++) {
    // Three keys report at the same instants: the key orders them.
    for (const [k, key] of tracker.hashedAdvKeys.entries()) {
      if ((i + k) % 4 === 0) continue
      rows.push(
        reportRow(key, new Date(from.getTime() + 3_600_000 + i * 60_000), {
          latitude: -45 + i / 7,
          longitude: 179.999999 - k / 3,
          nearest_city: CITIES[(i + k) % CITIES.length]!,
          horizontal_accuracy: i % 5 === 0 ? null : i,
          confidence: k,
          status: i % 3 === 0 ? null : 0b1010_0000,
          published_at: i % 2 === 0 ? null : new Date(from.getTime() + 7_200_000 + i),
        }),
      )
    }
  }
  await database.db.insertInto('location_reports').values(rows).execute()
  // Within one millisecond, and only microseconds apart: one key, so only the timestamp tells them apart.
  await sql`
    INSERT INTO location_reports (hashed_adv_key, "timestamp", tracker_id, latitude, longitude)
    SELECT ${tracker.hashedAdvKeys[0]!}, '2026-03-01T05:00:00.123456Z'::timestamptz + us * INTERVAL '1 microsecond',
           ${trackerId}::uuid, 10, 20
      FROM unnest(ARRAY[0, 1, 2, 300, 301]) AS us`.execute(database.db)
})
afterAll(() => database?.close())

const query = () => reportExportQuery(database.db, { trackerId, from, to })

async function read(pageSize: number, signal = new AbortController().signal) {
  const reader = await ExportCursorReader.open(database, signal)
  try {
    const pages = []
    for await (const page of reader.pages(query(), pageSize, { key: ['timestamp', 'hashed_adv_key'] }))
      pages.push(page)
    return pages
  } finally {
    await reader.close()
  }
}

describe('reports read a page at a time', () => {
  it.each([1, 2, 7, 95, 1000])('pages of %i: every row as the query gives it, in order', async (size) => {
    const expected = await query().execute()
    expect(expected.length).toBe(95)
    const pages = await read(size)
    expect(pages.flat()).toEqual(expected)
    for (const page of pages) {
      expect(page.length).toBeGreaterThan(0)
      expect(page.length).toBeLessThanOrEqual(size)
    }
    expect(pages.length).toBe(Math.ceil(expected.length / size))
  })

  it('an empty range: no page', async () => {
    const reader = await ExportCursorReader.open(database, new AbortController().signal)
    const pages = []
    const empty = reportExportQuery(database.db, { trackerId, from: to, to })
    for await (const page of reader.pages(empty, 10, { key: ['timestamp', 'hashed_adv_key'] }))
      pages.push(page)
    await reader.close()
    expect(pages).toEqual([])
  })

  it('stops at the next page once aborted', async () => {
    const abort = new AbortController()
    const reader = await ExportCursorReader.open(database, abort.signal)
    const seen: number[] = []
    await expect(
      (async () => {
        for await (const page of reader.pages(query(), 10, { key: ['timestamp', 'hashed_adv_key'] })) {
          seen.push(page.length)
          abort.abort(new Error('the client went away'))
        }
      })(),
    ).rejects.toThrow('the client went away')
    await reader.close()
    expect(seen).toEqual([10])
  })
})

describe('COPY text', () => {
  it('unescapes what COPY TO writes', () => {
    expect(unescapeCopyText('a\\tb\\nc\\\\d\\re\\bf\\fg\\vh')).toBe('a\tb\nc\\d\re\bf\fg\vh')
    expect(unescapeCopyText('\\\\N')).toBe('\\N')
    expect(unescapeCopyText('plain')).toBe('plain')
  })

  it('parses rows, NULLs and at most `limit` of them, the last one kept as text', () => {
    const fields = [
      { name: 'n', dataTypeID: 23, parser: (t: string) => Number(t) },
      { name: 's', dataTypeID: 25 },
    ]
    const page = parseCopyText<{ n: number | null; s: string | null }>('1\ta\\tb\n\\N\t\\N\n3\t\n', fields, 2)
    expect(page.rows).toEqual([
      { n: 1, s: 'a\tb' },
      { n: null, s: null },
    ])
    expect(page.more).toBe(true)
    expect(page.lastText).toEqual([null, null])
    expect(parseCopyText('', fields, 2)).toEqual({ rows: [], more: false, lastText: undefined })
    expect(() => parseCopyText('1\n', fields, 2)).toThrow(/1 fields where 2/)
  })

  it('writes parameters in as literals, placeholders inside quotes left alone', async () => {
    expect(sqlLiteral("it's")).toBe("'it''s'")
    expect(sqlLiteral('a\\b')).toBe(" E'a\\\\b'")
    expect(sqlLiteral(new Date('2026-03-01T00:00:00.5Z'))).toBe("'2026-03-01T00:00:00.500Z'")
    expect(sqlLiteral(null)).toBe('NULL')
    expect(sqlLiteral(-1.5)).toBe('-1.5')
    expect(() => sqlLiteral({})).toThrow(TypeError)
    expect(() => sqlLiteral('a\0b')).toThrow(RangeError)
    const statement = inlineParameters({
      sql: `SELECT $1::text AS a, '$2' AS "b$2", $2::text AS c, $3::timestamptz AS d`,
      parameters: ["x'y", 'p\\q', new Date('2026-03-01T00:00:00Z')],
    })
    expect(statement).toBe(
      `SELECT 'x''y'::text AS a, '$2' AS "b$2",  E'p\\\\q'::text AS c, '2026-03-01T00:00:00.000Z'::timestamptz AS d`,
    )
    const { rows } = await sql
      .raw<{ a: string; b$2: string; c: string; d: Date }>(statement)
      .execute(database.db)
    expect(rows).toEqual([{ a: "x'y", b$2: '$2', c: 'p\\q', d: new Date('2026-03-01T00:00:00Z') }])
  })
})

describe('timestamptz text', () => {
  const engineParser = (text: string) => new Date(text)
  const pad = (value: number, width: number) => String(value).padStart(width, '0')

  it('reads what PostgreSQL writes exactly as the engine’s parser (new Date) does: fractions, offsets, leap days', () => {
    let seed = 7
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    const texts = [
      '2024-02-29 23:59:59.999999+00',
      '2026-12-31 23:59:59.9995+00',
      '1970-01-01 00:00:00+00',
      '1969-12-31 23:59:59.999+00',
      '0100-01-01 00:00:00+00',
      '9999-12-31 23:59:59.999+00',
      '2026-03-29 01:30:00+05:30',
      '2026-03-29 01:30:00-09:30',
      '2026-06-01 12:00:00.1+14',
    ]
    for (let i = 0; i < 2000; i++) {
      const fraction = ['', `.${pad(next(1000), 3)}`, `.${pad(next(1_000_000), 6)}`, `.${next(10)}`][next(4)]
      const offset = ['+00', `-${pad(next(13), 2)}`, `+${pad(next(15), 2)}:${pad(next(4) * 15, 2)}`][next(3)]
      texts.push(
        `${pad(1900 + next(200), 4)}-${pad(1 + next(12), 2)}-${pad(1 + next(28), 2)} ${pad(next(24), 2)}:${pad(next(60), 2)}:${pad(next(60), 2)}${fraction}${offset}`,
      )
    }
    for (const text of texts) {
      const expected = engineParser(text)
      expect(Number.isNaN(expected.getTime()), text).toBe(false)
      expect(parseTimestamptzText(text, engineParser).getTime(), text).toBe(expected.getTime())
    }
  })

  it('leaves anything else to the engine’s parser', () => {
    const seen: string[] = []
    const fallback = (text: string) => {
      seen.push(text)
      return new Date(Number.NaN)
    }
    const others = [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '12026-01-01 00:00:00+00',
      '2026-01-01 00:00:00+05:45:12',
      '2026-01-01T00:00:00Z',
      '2026-13-01 00:00:00+00',
      '2026-01-01 00:00:00.+00',
      '0099-01-01 00:00:00+00',
    ]
    for (const text of others) parseTimestamptzText(text, fallback)
    expect(seen).toEqual(others)
  })
})

describe.skipIf(testEnv.databaseUrl)('the embedded engine’s copy device', () => {
  it('gives each COPY its own output: larger than its buffer, after a failed one, on two engines', async () => {
    const embedded = database as unknown as EmbeddedDatabase
    const big = await copyText(embedded, `SELECT repeat('é', 1500000) AS a UNION ALL SELECT 'b'`)
    expect(big).toEqual([`${'é'.repeat(1_500_000)}\n`, 'b\n'])
    await expect(copyText(embedded, 'SELECT no_such_column')).rejects.toThrow(/no_such_column/)
    expect(await copyText(embedded, `SELECT 1, 'x\ty'`)).toEqual(['1\tx\\ty\n'])
    const other = await createTestDatabase({ migrate: false })
    try {
      const [mine, theirs] = await Promise.all([
        copyText(embedded, 'SELECT g FROM generate_series(1, 3) g'),
        copyText(other as unknown as EmbeddedDatabase, 'SELECT g FROM generate_series(7, 8) g'),
      ])
      expect([mine, theirs]).toEqual([['1\n2\n3\n'], ['7\n8\n']])
    } finally {
      await other.close()
    }
  })

  it('hands over large output in pieces of whole lines, none much over 32 KiB but a longer line, the text intact', async () => {
    const embedded = database as unknown as EmbeddedDatabase
    // 20,000 lines of 2-byte characters and ASCII, lengths varying; one line of 100 KB among them.
    const statement = `SELECT CASE WHEN g = 7000 THEN repeat('ü', 50000) ELSE g || repeat('ß', g % 37) END FROM generate_series(1, 20000) g`
    const pieces = await copyText(embedded, statement)
    const expected = Array.from(
      { length: 20_000 },
      (_, i) => `${i + 1 === 7000 ? 'ü'.repeat(50_000) : `${i + 1}${'ß'.repeat((i + 1) % 37)}`}\n`,
    ).join('')
    expect(pieces.join('')).toBe(expected)
    expect(pieces.length).toBeGreaterThan(10)
    for (const piece of pieces) {
      expect(piece.endsWith('\n')).toBe(true)
      const bytes = Buffer.byteLength(piece)
      if (!piece.includes('ü')) expect(bytes).toBeLessThanOrEqual(32 * 1024)
    }
    expect(pieces.filter((p) => p.includes('ü'))).toHaveLength(1)
    const fields = [{ name: 'v', dataTypeID: 25 }]
    const page = parseCopyText<{ v: string }>(pieces, fields, 20_000)
    expect(page.rows.map((r) => r.v).join('\n')).toBe(expected.slice(0, -1))
  })
})
