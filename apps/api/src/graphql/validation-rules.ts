import {
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
  type ValidationContext,
  type ValidationRule,
} from 'graphql'

// Introspection (GraphiQL, codegen clients) is bounded by the schema itself: neither rule counts it.
const isIntrospection = (node: FieldNode) => node.name.value.startsWith('__')

/**
 * Depth of an operation: a root field is 1, each nested selection one more. Fragments count where
 * they are spread; a fragment cycle is left to the spec's own rule (NoFragmentCycles).
 */
export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
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
          visiting.add(name)
          depth = depthOf(fragment.selectionSet, visiting)
          visiting.delete(name)
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
}

const SIZE_ARGUMENTS = ['first', 'limit']

/**
 * Complexity of an operation: every selected field costs 1, times the most items each enclosing
 * list can hold. A field with a `first`/`limit` argument multiplies what is under it by that
 * argument; the lists of its own result (connection nodes, page points) are already counted by it.
 * So the seed's history query costs 1 + 500 x 10 = 5001. Aliases count separately.
 */
export function complexityLimitRule(options: ComplexityOptions): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema()

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
          total +=
            1 + multiplier * costOf(selection.selectionSet, getNamedType(field.type), size !== null, visiting)
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent
          total += costOf(selection.selectionSet, type ?? undefined, sizedByParent, visiting)
        } else {
          const name = selection.name.value
          const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name)
          if (!fragment || visiting.has(name)) continue
          visiting.add(name)
          total += costOf(
            fragment.selectionSet,
            schema.getType(fragment.typeCondition.name.value) ?? undefined,
            sizedByParent,
            visiting,
          )
          visiting.delete(name)
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
              `The query's complexity is ${cost}; at most ${options.maxComplexity} is allowed (each field costs 1, ` +
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
