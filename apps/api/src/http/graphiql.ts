import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'

const require = createRequire(import.meta.url)

interface Asset {
  /** Where the page asks for it, relative to /graphiql. */
  path: string
  file: string
  type: string
}

/** A file of an installed package (a dependency of this one, so `pnpm deploy` ships it). */
function packageAsset(pkg: string, file: string, type: string): Asset {
  const manifest = require.resolve(`${pkg}/package.json`)
  const { version } = require(manifest) as { version: string }
  return {
    path: `graphiql/vendor/${pkg}@${version}/${file.split('/').at(-1)}`,
    file: join(dirname(manifest), file),
    type,
  }
}

const JS = 'text/javascript; charset=utf-8'

// GraphiQL 3 is the last with a browser build (UMD) that needs no bundler; it runs on React 18's.
const ASSETS = {
  react: () => packageAsset('react', 'umd/react.production.min.js', JS),
  reactDom: () => packageAsset('react-dom', 'umd/react-dom.production.min.js', JS),
  graphiql: () => packageAsset('graphiql', 'graphiql.min.js', JS),
  graphiqlCss: () => packageAsset('graphiql', 'graphiql.min.css', 'text/css; charset=utf-8'),
}

// Starts GraphiQL on the page's element; the endpoint is relative, so the page also works behind a
// path prefix. Headers are where the token goes; GraphiQL keeps them in the browser's storage.
const BOOT = `'use strict'
;(() => {
  const root = document.getElementById('graphiql')
  const fetcher = GraphiQL.createFetcher({ url: new URL(root.dataset.endpoint, window.location.href).href })
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultHeaders: '{\\n  "Authorization": "Bearer trk_..."\\n}',
      defaultEditorToolsVisibility: 'headers',
      defaultQuery:
        '# Paste an API token into the Authorization header below,\\n' +
        '# then run this with Ctrl-Enter (or the play button).\\n' +
        '{\\n  trackers {\\n    nodes { id name currentStatus lastSeenAt }\\n  }\\n}\\n',
      shouldPersistHeaders: true,
    }),
  )
})()
`

/**
 * Everything the page loads comes from here, never from another host: a policy tells the browser
 * so too, and nothing else may run, load or be sent anywhere but this origin.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(assets: Record<keyof typeof ASSETS, Asset>, endpoint: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Tracker API: GraphiQL</title>
  <meta name="robots" content="noindex">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="${assets.graphiqlCss.path}">
  <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql" data-endpoint="${escapeHtml(endpoint)}">Loading GraphiQL…</div>
  <script src="${assets.react.path}"></script>
  <script src="${assets.reactDom.path}"></script>
  <script src="${assets.graphiql.path}"></script>
  <script src="graphiql/app.js"></script>
</body>
</html>
`
}

/**
 * GraphiQL at /graphiql, served entirely from this API: React, ReactDOM and GraphiQL's browser
 * builds from their npm packages, so it works offline and sends nothing off the machine. The page is
 * open (it holds no data); the queries it sends need a token like any other.
 */
export async function graphiqlRoutes(app: FastifyInstance, options: { graphqlPath: string }): Promise<void> {
  // Resolved at start: a deployment missing a package fails here, not on the first visit.
  const assets = Object.fromEntries(Object.entries(ASSETS).map(([name, asset]) => [name, asset()])) as Record<
    keyof typeof ASSETS,
    Asset
  >
  const html = page(assets, options.graphqlPath.replace(/^\//, ''))
  const contents = new Map<string, Promise<Buffer>>()

  app.get('/graphiql', (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(html),
  )
  app.get('/graphiql/app.js', (_request, reply) =>
    reply.header('content-type', JS).header('x-content-type-options', 'nosniff').send(BOOT),
  )
  for (const asset of Object.values(assets)) {
    app.get(`/${asset.path}`, async (_request, reply) => {
      let content = contents.get(asset.file)
      if (!content) {
        content = readFile(asset.file)
        contents.set(asset.file, content)
        content.catch(() => contents.delete(asset.file))
      }
      return (
        reply
          .header('content-type', asset.type)
          .header('x-content-type-options', 'nosniff')
          // The version is in the path: a new one is a new URL.
          .header('cache-control', 'public, max-age=31536000, immutable')
          .send(await content)
      )
    })
  }
}
