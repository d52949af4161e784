import { type FindMyKeyPair, InvalidKeyError, keyPairFromPrivateKey } from '@tracker/findmy'
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql'

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } })

/**
 * An input error about a secret: the edge shows only this message, never graphql-js's prefix that
 * quotes the value the client sent.
 */
export class SecretInputError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'BAD_USER_INPUT' } })
  }
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))$/i

const quote = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)

/** ISO 8601 with a zone, every field in range (Date.parse would roll Feb 30 over into March). */
export function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string') {
    throw badInput('DateTime must be a string in ISO 8601 with a zone, e.g. "2025-01-01T00:00:00Z"')
  }
  const m = ISO_8601.exec(value)
  const invalid = () =>
    badInput(`DateTime must be ISO 8601 with a zone, e.g. "2025-01-01T00:00:00Z" (got ${quote(value)})`)
  if (!m) throw invalid()
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(
    Number,
  ) as [number, number, number, number, number, number]
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    Number(m[9] ?? 0) > 23 ||
    Number(m[10] ?? 0) > 59
  ) {
    throw invalid()
  }
  const date = new Date(value.toUpperCase().replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  if (Number.isNaN(date.getTime())) throw invalid()
  return date
}

export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize(value) {
    const date = value instanceof Date ? value : parseDateTime(value)
    return date.toISOString()
  },
  parseValue: parseDateTime,
  parseLiteral(node: ValueNode) {
    if (node.kind !== Kind.STRING) {
      throw badInput('DateTime must be a string in ISO 8601 with a zone, e.g. "2025-01-01T00:00:00Z"')
    }
    return parseDateTime(node.value)
  },
})

function parsePrivateKey(value: unknown): FindMyKeyPair {
  if (typeof value !== 'string') throw new SecretInputError('PrivateKey must be a string: 28 bytes as base64')
  if (value.length > 256) throw new SecretInputError('PrivateKey is too long: 28 bytes as base64')
  try {
    return keyPairFromPrivateKey(value)
  } catch (error) {
    if (error instanceof InvalidKeyError)
      throw new SecretInputError(`PrivateKey is not valid: ${error.message}`)
    throw error
  }
}

/** Parsed into the key pair at the edge, so the rest of the API never sees the key as text. */
export const PrivateKey = new GraphQLScalarType<FindMyKeyPair, never>({
  name: 'PrivateKey',
  serialize() {
    throw new Error('PrivateKey is write-only')
  },
  parseValue: parsePrivateKey,
  parseLiteral(node: ValueNode) {
    if (node.kind !== Kind.STRING)
      throw new SecretInputError('PrivateKey must be a string: 28 bytes as base64')
    return parsePrivateKey(node.value)
  },
})
