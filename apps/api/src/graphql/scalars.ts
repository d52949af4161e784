import { type FindMyKeyPair, InvalidKeyError, keyPairFromPrivateKey } from '@tracker/findmy'
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql'
import { isStorableInstant } from '../services/input.ts'

// With the value's node when it was a literal: the error formatter names the argument it was given as.
const badInput = (message: string, node?: ValueNode) =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' }, ...(node ? { nodes: node } : {}) })

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

const EXAMPLE = 'e.g. "2025-01-01T00:00:00Z"'

/**
 * ISO 8601 with a zone, every field in range (Date.parse would roll Feb 30 over into March), and an
 * instant PostgreSQL can store: from 0001-01-01 to 9999-12-31 UTC (it has no year 0000).
 */
export function parseDateTime(value: unknown, node?: ValueNode): Date {
  if (typeof value !== 'string') {
    throw badInput(`DateTime must be a string in ISO 8601 with a zone, ${EXAMPLE}`, node)
  }
  const m = ISO_8601.exec(value)
  const invalid = () =>
    badInput(`DateTime must be ISO 8601 with a zone, ${EXAMPLE} (got ${quote(value)})`, node)
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
  if (!isStorableInstant(date.getTime())) {
    throw badInput(
      `DateTime must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z (got ${quote(value)})`,
      node,
    )
  }
  return date
}

export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize(value) {
    const date = value instanceof Date ? value : parseDateTime(value)
    return date.toISOString()
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral(node: ValueNode) {
    if (node.kind !== Kind.STRING) {
      throw badInput(`DateTime must be a string in ISO 8601 with a zone, ${EXAMPLE}`, node)
    }
    return parseDateTime(node.value, node)
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
