import type { TrackerDatabase } from '@tracker/db'
import type { LockService } from '@tracker/locks'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import type { ApiMetrics } from './metrics.ts'

const READY_TIMEOUT_MS = 2_000

/** Rejects after READY_TIMEOUT_MS: a dependency that hangs is as unready as one that refuses. */
async function withinTimeout(work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      work,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
          READY_TIMEOUT_MS,
        )
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Open routes: liveness, readiness (the database answers, and so does Redis when the locks live
 * there: the refresh mutation and shared rate limits need it) and Prometheus metrics.
 */
export async function healthRoutes(
  app: FastifyInstance,
  options: { database: TrackerDatabase; locks: LockService; metrics: ApiMetrics },
): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }))

  app.get('/ready', async (request, reply) => {
    try {
      await withinTimeout(sql`SELECT 1`.execute(options.database.db))
    } catch (error) {
      request.log.warn({ err: error }, 'not ready: the database does not answer')
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' })
    }
    try {
      await withinTimeout(options.locks.ping?.() ?? Promise.resolve())
    } catch (error) {
      request.log.warn({ err: error }, 'not ready: the lock service (Redis) does not answer')
      return reply.code(503).send({ status: 'unavailable', reason: 'redis unreachable' })
    }
    return { status: 'ready' }
  })

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType)
    return options.metrics.registry.metrics()
  })
}
