import { existsSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type ApiConfig, ApiConfigError } from '../env.ts'
import { ApiError } from '../errors.ts'
import { jsonErrors } from './json-errors.ts'

/**
 * What the page may load and send: this origin only, plus images from the tile server when one is
 * configured (none by default: the basemap is drawn from data the page carries). Styles may be
 * inline because Leaflet positions its panes with style attributes.
 */
export function webContentSecurityPolicy(web: ApiConfig['web']): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' data:${web.tiles ? ` ${web.tiles.origin}` : ''}`,
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** What the page reads before it draws: the tile server (or none) and how long a session lasts. */
export function webConfig(web: ApiConfig['web']) {
  return {
    tiles: web.tiles ? { url: web.tiles.url, attribution: web.tiles.attribution } : null,
    sessionTtlSeconds: Math.floor(web.sessionTtlMs / 1000),
  }
}

/**
 * The web app at /: the built page from WEB_ROOT (index.html revalidated on every visit, the
 * content-hashed files under assets/ cached for good), and /web-config.json. Without WEB_ROOT, / says
 * how to serve it. Every response here carries the page's Content-Security-Policy.
 */
export async function webAppRoutes(
  scope: FastifyInstance,
  options: { web: ApiConfig['web']; logger: Logger },
): Promise<void> {
  const { web } = options
  const policy = webContentSecurityPolicy(web)
  jsonErrors(scope)
  scope.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', policy)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
  })

  scope.get('/web-config.json', async (_request, reply) => {
    reply.header('cache-control', 'no-cache')
    return webConfig(web)
  })

  if (!web.root) {
    options.logger.info('web app not served: WEB_ROOT is not set (GET / answers 404)')
    scope.get('/', async () => {
      throw new ApiError(
        'WEB_APP_NOT_CONFIGURED',
        'The web app is not configured on this server: set WEB_ROOT to the directory of the built web app ' +
          '(apps/web/dist, built with `pnpm --filter @tracker/web build`). The GraphQL API is at /graphql.',
        { statusCode: 404 },
      )
    })
    return
  }

  const root = resolve(web.root)
  if (!existsSync(join(root, 'index.html'))) {
    throw new ApiConfigError(
      `Invalid API configuration:\n  - WEB_ROOT: ${root} holds no index.html; point it at the built web app ` +
        '(apps/web/dist, built with `pnpm --filter @tracker/web build`) or leave it unset',
    )
  }
  const assets = join(root, 'assets') + sep
  await scope.register(fastifyStatic, {
    root,
    prefix: '/',
    index: ['index.html'],
    // The headers below say how long each file may be kept; send's own would say max-age=0.
    cacheControl: false,
    dotfiles: 'ignore',
    setHeaders: (reply, path) => {
      reply.header(
        'cache-control',
        // Vite names every asset by its content hash: a new build is new URLs.
        resolve(path).startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache',
      )
    },
  })
  options.logger.info({ webRoot: root, tiles: web.tiles?.url ?? null }, 'web app served at /')
}
