import type { RunningStack } from './stack.ts'

/**
 * What a person needs to start using the stack: where, with which token, and a query to paste.
 * `signInLink`: a fresh one-time link to the web app (each banner its own), null when none could be made.
 */
export function banner(stack: RunningStack, signInLink: string | null): string {
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
    ...webAppLines(stack, signInLink),
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

function webAppLines(stack: RunningStack, signInLink: string | null): string[] {
  if (!stack.webUrl) {
    return [
      '  Web app:    not built. Build it with: npx --yes pnpm@10.34.9 --filter @tracker/web build',
      '              (npm run demo builds it when it is missing or older than its sources), then restart',
    ]
  }
  if (!signInLink) return [`  Web app:    ${stack.webUrl}  (sign in with the API token below)`]
  return [
    `  Web app:    ${signInLink}`,
    '              (a one-time sign-in link: it works once, for 24 hours; Enter prints a fresh one)',
  ]
}
