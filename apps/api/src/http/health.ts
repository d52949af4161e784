import type { TrackerDatabase } from '@tracker/db'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import type { ApiMetrics } from './metrics.ts'

const READY_TIMEOUT_MS = 2_000

/** Open routes: liveness, readiness (the database answers) and Prometheus metrics. */
export async function healthRoutes(
  app: FastifyInstance,
  options: { database: TrackerDatabase; metrics: ApiMetrics },
): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }))

  app.get('/ready', async (request, reply) => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        sql`SELECT 1`.execute(options.database.db),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
            READY_TIMEOUT_MS,
          )
        }),
      ])
      return { status: 'ready' }
    } catch (error) {
      request.log.warn({ err: error }, 'not ready: the database does not answer')
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' })
    } finally {
      clearTimeout(timer)
    }
  })

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType)
    return options.metrics.registry.metrics()
  })
}
