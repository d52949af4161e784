import Fastify from 'fastify'
import mercurius from 'mercurius'

export interface HelloServer {
  url: string
  stop(): Promise<void>
}

/** The bare baseline of the API figure: Fastify + Mercurius answering `{ hello }`, nothing else. */
export async function startHelloServer(): Promise<HelloServer> {
  const app = Fastify({ logger: false })
  await app.register(mercurius, {
    schema: 'type Query { hello: String! }',
    resolvers: { Query: { hello: async () => 'world' } },
  })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url: `${address}/graphql`, stop: () => app.close() }
}
