import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'

/** name -> ok and a detail; any false makes /health answer 503. */
export type HealthCheck = () => Promise<Record<string, { ok: boolean; detail?: unknown }>>

export interface RunningHealthServer {
  port: number
  close(): Promise<void>
}

/** /health (JSON, 503 when a check fails) and /metrics (Prometheus text) on a small port. */
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
        const ok = Object.values(checks).every((c) => c.ok)
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ status: ok ? 'ok' : 'unhealthy', checks }))
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
