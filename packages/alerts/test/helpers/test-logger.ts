import pino, { type Logger } from 'pino'

export const testLogger: Logger = pino({ level: 'silent' })

/** Headers as standardwebhooks' verify takes them: one string per name. */
export function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
  return flat
}
