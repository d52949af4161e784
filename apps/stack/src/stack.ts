import { createApiToken, createSignInLink, parseApiEnv, type RunningApi, startApi } from '@tracker/api'
import { parseBridgeEnv, startBridge } from '@tracker/bridge'
import {
  applyStoragePolicies,
  connectEmbedded,
  type EmbeddedDatabase,
  ensureOpeningKey,
  KeyOpener,
  LegacyKeyCipher,
  migrateToLatest,
  resealLegacyKeys,
  retentionConfigFromEnv,
  serveWireProtocol,
  type WireServer,
} from '@tracker/db'
import { type RunningSimulator, startSimulator } from '@tracker/findmy'
import { parseImporterEnv, type RunningImporter, startAlertDeliverer, startImporter } from '@tracker/importer'
import { InProcessLockService } from '@tracker/locks'
import { parseRefresherEnv, type RunningRefresher, startRefresher } from '@tracker/refresher'
import { webDistBuilt, webDistDir } from '@tracker/web'
import type { Logger } from 'pino'
import { type DemoState, loadOrCreateState, saveState, stateFile } from './demo-state.ts'
import { ensureDemoTrackers, simulatorTrackers } from './demo-trackers.ts'
import { parseStackEnv } from './stack-env.ts'

export interface RunningStack {
  apiUrl: string
  graphiqlUrl: string
  apiToken: string
  /** Where the web app is (the API's /), null when it is not built (and WEB_ROOT not set). */
  webUrl: string | null
  /** A fresh one-time link that signs a browser in to the web app with the demo token. */
  newSignInLink(): Promise<string>
  /** The Postgres port of the embedded database, null if it could not be opened. */
  pgPort: number | null
  simulatorUrl: string
  demoTrackerId: string
  dataDir: string
  /** Settles when the importer's run at start has ended (whatever its outcome). */
  firstImport: Promise<unknown>
  stop(): Promise<void>
}

/**
 * The whole system in one process on the embedded TimescaleDB: the simulator as report source, and
 * the importer, refresher and API each started through the same start function its container's
 * entry point uses. Nothing in the apps is special-cased; they get the embedded database and an
 * in-process lock service instead of a pool and Redis.
 */
export async function startStack(
  env: Record<string, string | undefined>,
  logger: Logger,
): Promise<RunningStack> {
  const settings = parseStackEnv(env)
  const log = logger.child({ app: 'stack' })
  // Validate every app's configuration before touching anything.
  const retention = retentionConfigFromEnv(env)
  const database = await connectEmbedded({ dataDir: settings.DATA_DIR, runPolicyJobs: true, logger: log })
  const stopped: (() => Promise<void>)[] = [() => database.close()]
  const stopAll = async () => {
    for (const stop of stopped.reverse()) {
      await stop().catch((error) => log.error({ err: error }, 'stopping a component failed'))
    }
  }
  try {
    const { state, created, upgraded } = loadOrCreateState(settings.DATA_DIR)
    if (created || upgraded) {
      log.warn(
        { file: stateFile(settings.DATA_DIR) },
        'generated a key pair for this local data directory (tracker keys are sealed to its public key); production must supply its own KEY_SEALING_PRIVATE_KEY and KEY_SEALING_PUBLIC_KEY',
      )
    }
    const opener = KeyOpener.fromPrivateKey(state.keySealingPrivateKey)
    await migrateToLatest(database.db)
    await applyStoragePolicies(database.db, retention)
    // The state file's key pair must be the one the data directory's keys are sealed to (its public
    // key is recorded on first start): a replaced or lost state file is said so, not a crash later.
    await ensureOpeningKey(database.db, opener, {
      variable: `keySealingPrivateKey in ${stateFile(settings.DATA_DIR)}`,
      hint: created
        ? ` That file was created anew on this start, so the one this data directory was set up with is gone: restore it, or start over with an empty DATA_DIR (remove ${settings.DATA_DIR}).`
        : ` Restore the file this data directory was set up with, or start over with an empty DATA_DIR (remove ${settings.DATA_DIR}).`,
    })
    // A data directory from before keys were sealed to a public key: its keys are re-sealed once,
    // with the old key its state file kept (what `keys reseal` does), before anything opens them.
    if (state.keyEncryptionKey) {
      const resealed = await resealLegacyKeys(database.db, {
        legacy: LegacyKeyCipher.fromSecret(
          state.keyEncryptionKey,
          `keyEncryptionKey in ${stateFile(settings.DATA_DIR)}`,
        ),
        sealing: opener,
        hint: ` Restore the file this data directory was set up with, or start over with an empty DATA_DIR (remove ${settings.DATA_DIR}).`,
      })
      if (resealed.resealed > 0 || resealed.failed.length > 0)
        log.info(
          { resealed: resealed.resealed, leftAsTheyAre: resealed.failed.map((k) => k.hashedAdvKey) },
          're-sealed the tracker keys of this data directory to its public key',
        )
    }
    const added = await ensureDemoTrackers(database, opener, state.simulatorSeed, settings.DEMO_TRACKERS)
    if (added > 0) log.info({ trackers: added }, 'created demo trackers')
    const { token: apiToken, id: apiTokenId } = await ensureApiToken(database, settings.DATA_DIR, state)
    // The built web app (apps/web/dist), served by the API at /, unless WEB_ROOT names another.
    const webRoot = env.WEB_ROOT || (webDistBuilt() ? webDistDir : undefined)

    const simulator: RunningSimulator = await startSimulator({
      trackers: await simulatorTrackers(database, opener),
      seed: state.simulatorSeed,
      port: settings.SIMULATOR_PORT,
      host: '127.0.0.1',
    })
    stopped.push(() => simulator.stop())

    const wire = await openWirePort(database, settings.PG_PORT, log)
    if (wire) stopped.push(() => wire.close())

    const locks = new InProcessLockService()
    // No key from the caller's environment reaches an app: each gets the one it needs from the state
    // file, the private key the importer only, the public key the API.
    const {
      KEY_SEALING_PRIVATE_KEY: _private,
      KEY_SEALING_PRIVATE_KEY_FILE: _privateFile,
      KEY_SEALING_PUBLIC_KEY: _public,
      KEY_ENCRYPTION_KEY: _legacy,
      ...callerEnv
    } = env
    const appEnv = {
      ...callerEnv,
      REPORT_ENDPOINT_URL: simulator.url,
      // The simulator is local: no need to space requests as for Apple's servers.
      REPORT_ENDPOINT_PAUSE: env.REPORT_ENDPOINT_PAUSE ?? '50 ms',
      API_GRAPHIQL: env.API_GRAPHIQL ?? 'true',
      // Two lines per request would bury everything else a person reads here.
      API_REQUEST_LOGGING: env.API_REQUEST_LOGGING ?? 'false',
      API_HOST: env.API_HOST ?? '127.0.0.1',
      API_PORT: String(settings.API_PORT),
      ...(webRoot ? { WEB_ROOT: webRoot } : {}),
      IMPORTER_HTTP_PORT: String(settings.IMPORTER_HTTP_PORT),
      // Like every other port of the local stack: this machine only.
      IMPORTER_HTTP_HOST: env.IMPORTER_HTTP_HOST ?? '127.0.0.1',
      REFRESHER_HTTP_PORT: String(settings.REFRESHER_HTTP_PORT),
      REFRESHER_HTTP_HOST: env.REFRESHER_HTTP_HOST ?? '127.0.0.1',
    }
    const refresher: RunningRefresher = await startRefresher({
      database,
      locks,
      logger: logger.child({ app: 'refresher' }),
      config: parseRefresherEnv(appEnv),
    })
    stopped.push(() => refresher.stop())
    const api: RunningApi = await startApi({
      database,
      locks,
      logger: logger.child({ app: 'api' }),
      config: parseApiEnv({ ...appEnv, KEY_SEALING_PUBLIC_KEY: state.keySealingPublicKey }),
    })
    stopped.push(() => api.stop())
    const importerConfig = parseImporterEnv({
      ...appEnv,
      KEY_SEALING_PRIVATE_KEY: state.keySealingPrivateKey,
    })
    const importer: RunningImporter = await startImporter({
      database,
      locks,
      logger: logger.child({ app: 'importer' }),
      config: importerConfig,
    })
    stopped.push(() => importer.stop())
    // Alerts go out from the importer process, as its entry point runs them.
    const alertDelivery = await startAlertDeliverer({
      database,
      logger: logger.child({ app: 'importer' }),
      config: importerConfig,
      registry: importer.metrics.registry,
    })
    if (alertDelivery) stopped.push(() => alertDelivery.stop())
    // The MQTT bridge only when a broker is named: it has nothing to do without one.
    if (env.BRIDGE_MQTT_URL) {
      const bridge = await startBridge({
        database,
        logger: logger.child({ app: 'bridge' }),
        config: parseBridgeEnv({ ...appEnv, BRIDGE_HTTP_HOST: env.BRIDGE_HTTP_HOST ?? '127.0.0.1' }),
      })
      stopped.push(() => bridge.stop())
    }

    const demo = await database.db
      .selectFrom('trackers')
      .select('id')
      .orderBy('created_at')
      .orderBy('id')
      .executeTakeFirstOrThrow()
    return {
      apiUrl: `${api.address}/graphql`,
      graphiqlUrl: `${api.address}/graphiql`,
      apiToken,
      webUrl: webRoot ? `${api.address}/` : null,
      newSignInLink: async () =>
        `${api.address}${(await createSignInLink(database.db, { apiTokenId })).path}`,
      pgPort: wire?.port ?? null,
      simulatorUrl: simulator.url,
      demoTrackerId: demo.id,
      dataDir: settings.DATA_DIR,
      firstImport: importer.startupRun ?? Promise.resolve(),
      stop: stopAll,
    }
  } catch (error) {
    await stopAll()
    throw error
  }
}

/** The demo token: created on first start, its plain text kept in the state file so every start can show it. */
async function ensureApiToken(
  database: EmbeddedDatabase,
  dataDir: string,
  state: DemoState,
): Promise<{ token: string; id: string }> {
  if (state.apiToken) {
    const { hashToken } = await import('@tracker/api')
    const stored = await database.db
      .selectFrom('api_tokens')
      .select('id')
      .where('token_hash', '=', hashToken(state.apiToken))
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    if (stored) return { token: state.apiToken, id: stored.id }
  }
  const created = await createApiToken(database.db, { name: 'local stack', scope: 'write' })
  state.apiToken = created.token
  saveState(dataDir, state)
  return { token: created.token, id: created.id }
}

/** psql access is a convenience: a busy port is a warning, not a reason to fail the stack. */
async function openWirePort(
  database: EmbeddedDatabase,
  port: number,
  logger: Logger,
): Promise<WireServer | null> {
  try {
    return await serveWireProtocol(database, { port, logger })
  } catch (error) {
    logger.warn(
      { port, err: error },
      'could not open the Postgres port of the embedded database (set PG_PORT); psql access is off',
    )
    return null
  }
}
