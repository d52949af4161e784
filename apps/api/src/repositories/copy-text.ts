/**
 * Reading rows from COPY's text format, for the embedded engine's exports: its COPY … TO '/dev/blob'
 * hands a statement's rows over as one block of text, where its query protocol has every field of
 * every row copied and decoded on its own (see ExportCursorReader).
 */

/** A result column: its name and how the engine's query path would parse its text (none: kept as text). */
export interface CopyField {
  name: string
  dataTypeID: number
  parser?: ((text: string, typeId: number) => unknown) | undefined
}

/** COPY's text format writes NULL as \N. */
const NULL = '\\N'
const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }
const ESCAPED = /\\(.)/gs

/**
 * A field as COPY TO wrote it, unescaped: it writes a backslash as \\, the delimiter (tab) as \t and
 * the control characters among \b \f \n \r \v by those names (everything else as it is).
 */
export function unescapeCopyText(text: string): string {
  return text.includes('\\') ? text.replace(ESCAPED, (_, c: string) => ESCAPES[c] ?? c) : text
}

export interface CopyPage<R> {
  /** The first `limit` rows, each value parsed as the query path would parse it. */
  rows: R[]
  /** Whether the text held more rows than `limit`. */
  more: boolean
  /** The last row's values (of `rows`) as unescaped text: exact (no rounding of timestamps), for a keyset. */
  lastText: (string | null)[] | undefined
}

/**
 * The rows of COPY's text format (tab-separated, one row a line, \N for NULL, backslash escapes),
 * at most `limit` of them, as objects keyed by the fields' names. The text may come in pieces, each
 * of whole lines (copyText's).
 */
export function parseCopyText<R>(
  text: string | readonly string[],
  fields: readonly CopyField[],
  limit: number,
): CopyPage<R> {
  const lines: string[] = []
  for (const piece of typeof text === 'string' ? [text] : text) {
    const pieceLines = piece.split('\n')
    // Every row ends in "\n": the last piece is the empty rest after it.
    pieceLines.pop()
    for (const line of pieceLines) lines.push(line)
  }
  const count = Math.min(lines.length, limit)
  const rows = new Array<R>(count)
  for (let r = 0; r < count; r++) {
    const values = lines[r]!.split('\t')
    if (values.length !== fields.length)
      throw new Error(`COPY gave a row of ${values.length} fields where ${fields.length} were described`)
    const row: Record<string, unknown> = {}
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!
      const value = values[i]!
      if (value === NULL) row[field.name] = null
      else {
        const unescaped = unescapeCopyText(value)
        row[field.name] = field.parser ? field.parser(unescaped, field.dataTypeID) : unescaped
      }
    }
    rows[r] = row as R
  }
  const last = count > 0 ? lines[count - 1]!.split('\t') : undefined
  return {
    rows,
    more: lines.length > limit,
    lastText: last?.map((value) => (value === NULL ? null : unescapeCopyText(value))),
  }
}

/** A value as an SQL literal (pg's escapeLiteral: quotes doubled, E'' with doubled backslashes when any). */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE'
  if (typeof value === 'bigint') return String(value)
  if (typeof value === 'number')
    return Number.isFinite(value)
      ? String(value)
      : `'${Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'}'`
  let text: string
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError('an invalid Date cannot be an SQL literal')
    text = value.toISOString()
  } else if (typeof value === 'string') text = value
  else throw new TypeError(`no SQL literal for a ${typeof value} parameter`)
  if (text.includes('\0')) throw new RangeError('a text literal cannot hold NUL')
  const quoted = `'${text.replaceAll("'", "''")}'`
  return text.includes('\\') ? ` E${quoted.replaceAll('\\', '\\\\')}` : quoted
}

/** A name as an SQL identifier, quoted. */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

// A quoted literal or identifier (left as it is), else a placeholder $n.
const PLACEHOLDER = /'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)/g

/**
 * A compiled statement with its parameters written in as literals: COPY takes no parameters. Each
 * $n outside quotes is replaced by its parameter (kysely writes every value as a parameter).
 */
export function inlineParameters(compiled: { sql: string; parameters: readonly unknown[] }): string {
  return compiled.sql.replace(PLACEHOLDER, (match, n: string | undefined) => {
    if (n === undefined) return match
    const index = Number(n) - 1
    if (index < 0 || index >= compiled.parameters.length) throw new RangeError(`no parameter $${n}`)
    return sqlLiteral(compiled.parameters[index])
  })
}
