import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

export interface HealthCheckResult {
  ok: boolean
  detail?: unknown
  /**
   * What failing means: 'unhealthy' (default; /health answers 503) or 'degraded' (the importer
   * works around it, e.g. retrying runs the lock backend kept from starting: 200, status degraded).
   */
  impact?: 'unhealthy' | 'degraded'
}

/** name -> result; the worst failing check sets the status. */
export type HealthCheck = () => Promise<Record<string, HealthCheckResult>>

export function healthStatus(checks: Record<string, HealthCheckResult>): 'ok' | 'degraded' | 'unhealthy' {
  const failing = Object.values(checks).filter((c) => !c.ok)
  if (failing.length === 0) return 'ok'
  return failing.every((c) => c.impact === 'degraded') ? 'degraded' : 'unhealthy'
}

export interface RunningHealthServer {
  port: number
  close(): Promise<void>
}

/**
 * /health (JSON: ok and degraded answer 200, unhealthy 503) and /metrics (Prometheus text) on a
 * small port.
 */
export async function startHealthServer(options: {
  port: number
  host?: string
  check: HealthCheck
  metrics: () => Promise<{ contentType: string; body: string }>
  logger: Logger
}): Promise<RunningHealthServer> {
  const server: Server = createServer(async (req, res) => {
    try {
      if (req.method === 'GET' && req.url === '/health') {
        const checks = await options.check()
        const status = healthStatus(checks)
        res.writeHead(status === 'unhealthy' ? 503 : 200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ status, checks }))
      } else if (req.method === 'GET' && req.url === '/metrics') {
        const { contentType, body } = await options.metrics()
        res.writeHead(200, { 'content-type': contentType })
        res.end(body)
      } else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'not found: try /health or /metrics' }))
      }
    } catch (error) {
      options.logger.error({ err: error, url: req.url }, 'health endpoint failed')
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'internal error' }))
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
