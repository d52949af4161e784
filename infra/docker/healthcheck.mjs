// The images' HEALTHCHECK: GET the app's /health on the port the app itself listens on, so a port
// changed through the environment cannot leave the check probing the wrong one. Exit 0 healthy,
// 1 not. Node's own fetch: the slim images carry no curl or wget.
const PORTS = {
  api: ['API_PORT', 4000],
  importer: ['IMPORTER_HTTP_PORT', 9465],
  refresher: ['REFRESHER_HTTP_PORT', 9466],
  bridge: ['BRIDGE_HTTP_PORT', 9467],
}

// HEALTHCHECK_URL overrides (the simulator's image, CI); otherwise TRACKER_APP picks the port variable.
const env = process.env

function target() {
  if (env.HEALTHCHECK_URL) return env.HEALTHCHECK_URL
  const app = env.TRACKER_APP ?? ''
  const entry = PORTS[app]
  if (!entry) throw new Error(`TRACKER_APP must be one of ${Object.keys(PORTS).join(', ')} (got "${app}")`)
  const [variable, fallback] = entry
  const port = env[variable] || String(fallback)
  return `http://127.0.0.1:${port}/health`
}

try {
  const url = target()
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) })
  if (!response.ok) {
    console.error(`${url}: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`)
    process.exit(1)
  }
} catch (error) {
  console.error(`health check failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
