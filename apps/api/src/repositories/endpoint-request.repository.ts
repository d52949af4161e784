import type { Database, EndpointRequestHour, EndpointRequestStreak } from '@tracker/db'
import type { Kysely } from 'kysely'

/** The importer's requests per hour and outcome from `since` (an hour's start) on, oldest first. */
export async function selectEndpointRequestHours(
  db: Kysely<Database>,
  since: Date,
): Promise<EndpointRequestHour[]> {
  return db
    .selectFrom('endpoint_request_hours')
    .selectAll()
    .where('hour', '>=', since)
    .orderBy('hour')
    .orderBy('outcome')
    .execute()
}

/** The streak of failing requests; null before the importer's first request. */
export async function selectEndpointStreak(db: Kysely<Database>): Promise<EndpointRequestStreak | null> {
  return (await db.selectFrom('endpoint_request_streak').selectAll().executeTakeFirst()) ?? null
}
