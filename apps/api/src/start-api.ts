import type { FastifyInstance } from 'fastify'
import { type ApiDeps, buildApp } from './app.ts'
import { describeConfig } from './env.ts'

export interface RunningApi {
  app: FastifyInstance
  /** The address it listens on, e.g. http://127.0.0.1:4000. */
  address: string
  /** Stops accepting requests, finishes (or cancels lock waits of) in-flight ones. Leaves the database open. */
  stop(): Promise<void>
}

export async function startApi(deps: ApiDeps): Promise<RunningApi> {
  const app = await buildApp(deps)
  const address = await app.listen({ host: deps.config.host, port: deps.config.port })
  deps.logger.info({ address, config: describeConfig(deps.config) }, 'api listening')
  let stopping: Promise<void> | undefined
  return {
    app,
    address,
    stop() {
      stopping ??= app.close().then(() => deps.logger.info('api stopped'))
      return stopping
    },
  }
}
