import {
  type ArgumentNode,
  type ASTNode,
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type StringValueNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql'

// Introspection (GraphiQL, codegen clients) is bounded by the schema itself: neither rule counts it.
const isIntrospection = (node: FieldNode) => node.name.value.startsWith('__')

/**
 * Depth of an operation: a root field is 1, each nested selection one more. Fragments count where
 * they are spread; a fragment cycle is left to the spec's own rule (NoFragmentCycles). A fragment's
 * depth is computed once: a fragment spreading the next one twice, a hundred times over, would
 * otherwise be walked 2^100 times.
 */
export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragmentDepths = new Map<string, number>()
    const depthOf = (set: SelectionSetNode | undefined, visiting: Set<string>): number => {
      if (!set) return 0
      let deepest = 0
      for (const selection of set.selections) {
        let depth = 0
        if (selection.kind === Kind.FIELD) {
          if (isIntrospection(selection)) continue
          depth = 1 + depthOf(selection.selectionSet, visiting)
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          depth = depthOf(selection.selectionSet, visiting)
        } else {
          const name = selection.name.value
          const fragment = context.getFragment(name)
          if (!fragment) continue
          if (visiting.has(name)) continue
          const known = fragmentDepths.get(name)
          if (known !== undefined) {
            depth = known
          } else {
            visiting.add(name)
            depth = depthOf(fragment.selectionSet, visiting)
            visiting.delete(name)
            fragmentDepths.set(name, depth)
          }
        }
        deepest = Math.max(deepest, depth)
        if (deepest > maxDepth) return deepest
      }
      return deepest
    }
    return {
      OperationDefinition(node: OperationDefinitionNode) {
        const depth = depthOf(node.selectionSet, new Set())
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`The query is nested ${depth} levels deep; at most ${maxDepth} are allowed`, {
              nodes: [node],
              extensions: { code: 'QUERY_TOO_DEEP', maxDepth },
            }),
          )
        }
      },
    }
  }
}

export interface ComplexityOptions {
  maxComplexity: number
  /** A list argument's (`first`, `limit`) value when it is left out. */
  defaultListSize: (field: GraphQLField<unknown, unknown>) => number
  /** Its value when given as a variable, unknown while validating: the largest allowed. */
  maxListSize: (field: GraphQLField<unknown, unknown>) => number
  /** Assumed length of a list without a size argument (a tracker's keys). */
  assumedListSize: number
  /**
   * What a field that runs database queries of its own costs on top of its 1 (default 0): every
   * root field, and fields resolved with a query per parent (`isDatabaseField`). Aliases are
   * separate fields, so each alias costs it again.
   */
  databaseFieldCost?: number
  isDatabaseField?: (parent: GraphQLNamedType, field: GraphQLField<unknown, unknown>) => boolean
}

/**
 * What a field that queries the database costs in the API (API_MAX_QUERY_COMPLEXITY): a round trip
 * costs about what resolving a thousand fields from memory does.
 */
export const DATABASE_FIELD_COST = 1000

const SIZE_ARGUMENTS = ['first', 'limit']

/**
 * Complexity of an operation: every selected field costs 1, times the most items each enclosing
 * list can hold. A field with a `first`/`limit` argument multiplies what is under it by that
 * argument; the lists of its own result (connection nodes, page points) are already counted by it.
 * So the seed's history query costs 1 + 500 x 10 = 5001, plus `databaseFieldCost` for the root
 * field (and for each field below that runs a query per parent). Aliases count separately.
 */
export function complexityLimitRule(options: ComplexityOptions): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema()
    // A fragment's cost depends only on whether its parent sized it: computed once each (see depth).
    const fragmentCosts = new Map<string, number>()

    const sizeOf = (field: GraphQLField<unknown, unknown>, node: FieldNode): number | null => {
      const argument = field.args.find((a) => SIZE_ARGUMENTS.includes(a.name))
      if (!argument) return null
      const given = node.arguments?.find((a) => a.name.value === argument.name)
      if (!given || given.value.kind === Kind.NULL) return options.defaultListSize(field)
      if (given.value.kind === Kind.INT) return Math.max(0, Number(given.value.value))
      return options.maxListSize(field)
    }

    const costOf = (
      set: SelectionSetNode | undefined,
      parent: GraphQLNamedType | undefined,
      sizedByParent: boolean,
      visiting: Set<string>,
    ): number => {
      if (!set || !parent) return 0
      let total = 0
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          if (isIntrospection(selection)) continue
          const field =
            isObjectType(parent) || isInterfaceType(parent)
              ? parent.getFields()[selection.name.value]
              : undefined
          if (!field) continue
          const type = isNonNullType(field.type) ? field.type.ofType : field.type
          const size = sizeOf(field, selection)
          const isCompositeList = isListType(type) && isCompositeType(getNamedType(field.type))
          const multiplier = size ?? (isCompositeList && !sizedByParent ? options.assumedListSize : 1)
          const database = options.isDatabaseField?.(parent, field) ? (options.databaseFieldCost ?? 0) : 0
          total +=
            1 +
            database +
            multiplier * costOf(selection.selectionSet, getNamedType(field.type), size !== null, visiting)
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent
          total += costOf(selection.selectionSet, type ?? undefined, sizedByParent, visiting)
        } else {
          const name = selection.name.value
          const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name)
          if (!fragment || visiting.has(name)) continue
          const key = `${name}:${sizedByParent}`
          let cost = fragmentCosts.get(key)
          if (cost === undefined) {
            visiting.add(name)
            cost = costOf(
              fragment.selectionSet,
              schema.getType(fragment.typeCondition.name.value) ?? undefined,
              sizedByParent,
              visiting,
            )
            visiting.delete(name)
            fragmentCosts.set(key, cost)
          }
          total += cost
        }
      }
      return total
    }

    return {
      OperationDefinition(node: OperationDefinitionNode) {
        const root = schema.getRootType(node.operation) ?? undefined
        const cost = costOf(node.selectionSet, root, false, new Set())
        if (cost > options.maxComplexity) {
          context.reportError(
            new GraphQLError(
              `The query's complexity is ${cost}; at most ${options.maxComplexity} is allowed (API_MAX_QUERY_COMPLEXITY: ` +
                `each field costs 1, each field that queries the database ${options.databaseFieldCost ?? 0} more, ` +
                'times the size of every list it is in): ask for fewer fields, items or aliases',
              {
                nodes: [node],
                extensions: {
                  code: 'QUERY_TOO_COMPLEX',
                  complexity: cost,
                  maxComplexity: options.maxComplexity,
                },
              },
            ),
          )
        }
      },
    }
  }
}

/**
 * At most `maxRootFields` root fields in one operation: each is at least one database query of its
 * own, and aliases make one field many (`a: locationHistoryAggregated(...) b: ...`). Counted as the
 * response counts them: one per response key (alias or name), through fragments; introspection
 * (`__typename`) is free. A fragment's keys are collected once (see depth).
 */
export function rootFieldLimitRule(maxRootFields: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragmentKeys = new Map<string, Set<string>>()
    const collect = (set: SelectionSetNode, into: Set<string>, visiting: Set<string>): void => {
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          if (!isIntrospection(selection)) into.add(selection.alias?.value ?? selection.name.value)
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          collect(selection.selectionSet, into, visiting)
        } else {
          const name = selection.name.value
          const fragment = context.getFragment(name)
          if (!fragment || visiting.has(name)) continue
          let keys = fragmentKeys.get(name)
          if (!keys) {
            keys = new Set()
            visiting.add(name)
            collect(fragment.selectionSet, keys, visiting)
            visiting.delete(name)
            fragmentKeys.set(name, keys)
          }
          for (const key of keys) into.add(key)
        }
      }
    }
    return {
      OperationDefinition(node: OperationDefinitionNode) {
        const keys = new Set<string>()
        collect(node.selectionSet, keys, new Set())
        if (keys.size > maxRootFields) {
          context.reportError(
            new GraphQLError(
              `The operation asks for ${keys.size} root fields; at most ${maxRootFields} are allowed ` +
                '(API_MAX_ROOT_FIELDS: each root field, and each alias of one, is a database query of ' +
                'its own): split it into several requests',
              {
                nodes: [node],
                extensions: { code: 'TOO_MANY_ROOT_FIELDS', rootFields: keys.size, maxRootFields },
              },
            ),
          )
        }
      },
    }
  }
}

// Which argument each literal value of a document was given as; the documents it describes are
// kept by Mercurius' parse cache, and their entries go with them.
const argumentOfValue = new WeakMap<ASTNode, string>()

/** The argument (`startTime`, `input.name`, `input.privateKeys[1]`) a literal value was given as. */
export function argumentOf(node: ASTNode | undefined): string | undefined {
  return node ? argumentOfValue.get(node) : undefined
}

function labelValue(value: ValueNode, argument: string): void {
  argumentOfValue.set(value, argument)
  if (value.kind === Kind.OBJECT) {
    for (const field of value.fields) labelValue(field.value, `${argument}.${field.name.value}`)
  } else if (value.kind === Kind.LIST) {
    for (const [i, item] of value.values.entries()) labelValue(item, `${argument}[${i}]`)
  }
}

/**
 * Reports nothing about arguments: it records which argument each literal value belongs to, so
 * that the error about a bad value (a DateTime in year 0000, an Int given as text) can name it.
 */
export const argumentNamesRule: ValidationRule = (): ASTVisitor => ({
  Argument(node: ArgumentNode) {
    labelValue(node.value, node.name.value)
  },
})

/**
 * PostgreSQL text cannot hold the NUL character (U+0000): a string literal with one is the
 * client's error here, not a failed statement later.
 */
export const noNulCharacterRule: ValidationRule = (context: ValidationContext): ASTVisitor => ({
  StringValue(node: StringValueNode) {
    if (node.value.includes('\u0000')) {
      context.reportError(
        new GraphQLError('Strings may not contain the NUL character (U+0000)', {
          nodes: [node],
          extensions: { code: 'BAD_USER_INPUT' },
        }),
      )
    }
  },
})

/** True when a variables object holds a string (or key) with the NUL character anywhere. */
export function containsNulCharacter(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (depth > 100 || typeof value !== 'object' || value === null) return false
  if (Array.isArray(value)) return value.some((item) => containsNulCharacter(item, depth + 1))
  return Object.entries(value).some(
    ([key, item]) => key.includes('\u0000') || containsNulCharacter(item, depth + 1),
  )
}
