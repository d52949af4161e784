import { type DocumentNode, getOperationAST, Kind } from 'graphql'

/**
 * The metrics label of an operation: its type and root fields ("query locationHistoryAggregated").
 * Client-chosen operation names would give unbounded label values; root fields are the schema's.
 */
export function operationLabel(document: DocumentNode, operationName: string | null | undefined): string {
  const operation = getOperationAST(document, operationName ?? undefined)
  if (!operation) return 'unknown'
  const fields = new Set<string>()
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.add(selection.name.value)
    else fields.add('(fragment)')
  }
  const names = [...fields].sort()
  return names.length > 3
    ? `${operation.operation} (${names.length} fields)`
    : `${operation.operation} ${names.join(',')}`
}
