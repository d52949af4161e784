import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import {
  type DocumentNode,
  type GraphQLError,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  parse,
} from 'graphql'
import { ApiError } from '../errors.ts'
import { containsNulCharacter } from './validation-rules.ts'

const quote = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)

/** The operationName the client sent: in the query string of a GET, in the body of a POST. */
export function requestedOperationName(request: FastifyRequest): string | undefined {
  const source = (request.method === 'GET' ? request.query : request.body) as
    | { operationName?: unknown }
    | undefined
  const name = typeof source === 'object' && source !== null ? source.operationName : undefined
  return typeof name === 'string' ? name : undefined
}

/**
 * The operation a request runs: the document's only one, or the one operationName names. Anything
 * else is the request's fault (400 BAD_REQUEST), said before anything runs.
 */
export function selectOperation(
  document: DocumentNode,
  operationName: string | undefined,
): OperationDefinitionNode {
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )
  if (operationName === undefined) {
    if (operations.length === 1) return operations[0]!
    throw new ApiError(
      'BAD_REQUEST',
      operations.length === 0
        ? 'The document has no operation to run'
        : `The document has ${operations.length} operations: send operationName to say which one to run`,
      { statusCode: 400 },
    )
  }
  const operation = operations.find((o) => o.name?.value === operationName)
  if (!operation) {
    throw new ApiError(
      'BAD_REQUEST',
      `operationName ${quote(operationName)} names no operation of the document`,
      {
        statusCode: 400,
      },
    )
  }
  return operation
}

/** Errors about the request itself, in the shape Mercurius gives parse and validation errors. */
function requestErrors(errors: readonly GraphQLError[]): Error {
  return Object.assign(new Error('The request cannot run'), { errors, statusCode: 400 })
}

/**
 * What graphql-js and Mercurius leave to chance before executing: an operation that cannot be
 * picked (Mercurius' GET check dereferences it; execution reported it as an unexplained error),
 * variables that are not an object, required variables when no `variables` were sent (Mercurius
 * only coerces variables it was given), and strings PostgreSQL cannot store.
 *
 * Call `routeHooks` before Mercurius registers its routes and `graphqlHooks` after.
 */
export function requestChecks(options: { maxTokens: number }) {
  // GET only: Mercurius checks that a GET runs a query before any GraphQL hook, and fails on an
  // operation it cannot pick. A GET's document is small (it is in the URL); parsing it again is cheap.
  const getCheck = async (request: FastifyRequest) => {
    const query = (request.query as { query?: unknown } | undefined)?.query
    if (typeof query !== 'string') return
    let document: DocumentNode
    try {
      document = parse(query, { maxTokens: options.maxTokens })
    } catch {
      return // Mercurius answers the syntax error
    }
    selectOperation(document, requestedOperationName(request))
  }

  return {
    routeHooks(scope: FastifyInstance): void {
      // Route-level, after the rate limit's own: a refused request still counts.
      scope.addHook('onRoute', (route: RouteOptions) => {
        if (route.url !== '/graphql' || route.method !== 'GET') return
        const existing = route.preHandler ? [route.preHandler].flat() : []
        route.preHandler = [...existing, getCheck] as RouteOptions['preHandler']
      })
    },

    graphqlHooks(scope: FastifyInstance): void {
      scope.graphql.addHook('preExecution', async (schema, document, context, variables) => {
        const operation = selectOperation(document, requestedOperationName(context.reply.request))
        // A GET's variables are any JSON (a POST's are checked against the body schema); the
        // compiled (JIT) execution throws on anything but an object.
        const given = variables as unknown
        if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
          throw new ApiError('BAD_REQUEST', 'variables must be a JSON object of variable values', {
            statusCode: 400,
          })
        }
        if (containsNulCharacter(variables)) {
          throw new ApiError('BAD_USER_INPUT', 'Variables may not contain the NUL character (U+0000)', {
            statusCode: 400,
          })
        }
        if (variables === undefined && operation.variableDefinitions?.length) {
          const coerced = getVariableValues(schema, operation.variableDefinitions, {}, { maxErrors: 20 })
          if (coerced.errors) throw requestErrors(coerced.errors)
        }
      })
    },
  }
}
