import { type Database, type EndpointRequestStreak, type Kysely, sql } from '@tracker/db'
import type { EndpointRequestOutcome } from '@tracker/findmy'

/**
 * One request to the report endpoint: counted in its hour, and the streak of failing requests moved
 * (one more, or ended by an answer), in one transaction. Returns the streak as it now stands.
 */
export async function recordEndpointRequest(
  db: Kysely<Database>,
  request: { hour: Date; outcome: EndpointRequestOutcome; at: Date; failing: boolean },
): Promise<EndpointRequestStreak> {
  const { hour, outcome, at, failing } = request
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('endpoint_request_hours')
      .values({ hour, outcome, requests: 1 })
      .onConflict((oc) =>
        oc
          .columns(['hour', 'outcome'])
          .doUpdateSet((eb) => ({ requests: eb('endpoint_request_hours.requests', '+', 1) })),
      )
      .execute()
    return trx
      .insertInto('endpoint_request_streak')
      .values({
        failing_requests: failing ? 1 : 0,
        outcome: failing ? outcome : null,
        since: failing ? at : null,
        last_ok_at: failing ? null : at,
        last_request_at: at,
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet(
          failing
            ? {
                failing_requests: sql`endpoint_request_streak.failing_requests + 1`,
                outcome,
                since: sql`coalesce(endpoint_request_streak.since, ${at})`,
                last_request_at: at,
              }
            : { failing_requests: 0, outcome: null, since: null, last_ok_at: at, last_request_at: at },
        ),
      )
      .returningAll()
      .executeTakeFirstOrThrow()
  })
}

export async function readEndpointStreak(db: Kysely<Database>): Promise<EndpointRequestStreak | null> {
  return (await db.selectFrom('endpoint_request_streak').selectAll().executeTakeFirst()) ?? null
}

/** Hours before `before` are dropped: the table covers what the API can be asked for. */
export async function pruneEndpointRequestHours(db: Kysely<Database>, before: Date): Promise<void> {
  await db.deleteFrom('endpoint_request_hours').where('hour', '<', before).execute()
}
