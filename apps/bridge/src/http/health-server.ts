import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { BridgeMetrics } from './bridge-metrics.ts'

export interface HealthReport {
  /** down: 503 (the database listener or the broker is not connected; `down` names which). */
  status: 'ok' | 'down'
  [key: string]: unknown
}

export interface HealthServer {
  readonly port: number
  close(): Promise<void>
}

/**
 * GET /health: JSON, 200 while both the LISTEN connection and the broker connection are up, 503
 * otherwise (the report names which is down). GET /metrics: Prometheus text from the bridge's own
 * registry.
 */
export async function startHealthServer(options: {
  host: string
  port: number
  health(): HealthReport
  metrics: BridgeMetrics
  logger: Logger
}): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/health') {
      const report = options.health()
      response
        .writeHead(report.status === 'down' ? 503 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(report))
      return
    }
    if (path === '/metrics') {
      options.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
        (error) => {
          options.logger.error({ err: error }, 'could not render metrics')
          response.writeHead(500).end()
        },
      )
      return
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /health or /metrics\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  options.logger.info(
    { event: 'http_listening', host: options.host, port },
    `health and metrics on port ${port}`,
  )
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
