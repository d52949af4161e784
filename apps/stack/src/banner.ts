import type { RunningStack } from './stack.ts'

/** What a person needs to start using the stack: where, with which token, and a query to paste. */
export function banner(stack: RunningStack): string {
  const end = new Date()
  const start = new Date(end.getTime() - 7 * 86_400_000)
  const query = `query {
  locationHistoryAggregated(
    trackerId: "${stack.demoTrackerId}"
    startTime: "${start.toISOString().slice(0, 19)}Z"
    endTime: "${end.toISOString().slice(0, 19)}Z"
    bucketSize: "1 hour"
  ) {
    id timestamp bucketSize location { latitude longitude } nearestCity
    tracker { id name currentStatus }
  }
}`
  return [
    '',
    'Tracker is running on the embedded TimescaleDB.',
    '',
    `  GraphiQL:   ${stack.graphiqlUrl}`,
    `  GraphQL:    ${stack.apiUrl}`,
    `  API token:  ${stack.apiToken}`,
    '              (GraphiQL: add the header {"Authorization": "Bearer <token>"})',
    stack.pgPort !== null
      ? `  psql:       psql -h 127.0.0.1 -p ${stack.pgPort} -U postgres   (queries only)`
      : '  psql:       off (the Postgres port could not be opened)',
    `  simulator:  ${stack.simulatorUrl} (the report endpoint)`,
    `  data:       ${stack.dataDir}`,
    '',
    'The first import runs now; points appear within a minute. Paste into GraphiQL:',
    '',
    query,
    '',
    'Or with curl:',
    `  curl -s ${stack.apiUrl} -H 'authorization: Bearer ${stack.apiToken}' -H 'content-type: application/json' \\`,
    `    -d '${JSON.stringify({ query: query.replace(/\s+/g, ' ') })}'`,
    '',
    'Press Enter to show this again. Ctrl-C stops everything.',
    '',
  ].join('\n')
}
