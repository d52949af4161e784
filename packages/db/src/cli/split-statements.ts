/** Splits input into statements at `;` outside quotes and dollar-quoted bodies. */
export function splitStatements(buffer: string): { statements: string[]; rest: string } {
  const statements: string[] = []
  let start = 0
  let quote: string | null = null
  for (let i = 0; i < buffer.length; i++) {
    const ch = buffer[i]!
    if (quote) {
      if (buffer.startsWith(quote, i)) {
        i += quote.length - 1
        quote = null
      }
    } else if (ch === "'" || ch === '"') {
      quote = ch
    } else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(buffer.slice(i))
      if (tag) {
        quote = tag[0]
        i += tag[0].length - 1
      }
    } else if (ch === ';') {
      const statement = buffer.slice(start, i).trim()
      if (statement) statements.push(statement)
      start = i + 1
    }
  }
  return { statements, rest: buffer.slice(start) }
}
