import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectEmbedded,
  type EmbeddedDatabase,
  migrateToLatest,
  serveWireProtocol,
  type WireServer,
} from '../src/index.ts'
import { insertTracker } from '../src/testing/index.ts'

// Embedded-only: the Postgres wire protocol served by the embedded engine.
let database: EmbeddedDatabase
let server: WireServer
let trackerId: string
beforeAll(async () => {
  database = await connectEmbedded()
  await migrateToLatest(database.db)
  trackerId = (await insertTracker(database.db, { name: 'wire' })).id
  server = await serveWireProtocol(database, { port: 0 })
})
afterAll(async () => {
  await server?.close()
  await database?.close()
})

const hasPsql = (() => {
  try {
    execFileSync('psql', ['--version'])
    return true
  } catch {
    return false
  }
})()

describe('the embedded engine over the Postgres wire protocol', () => {
  it('answers a node-postgres client (extended protocol, parameters) with the apps data', async () => {
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      user: 'postgres',
      database: 'postgres',
    })
    await client.connect()
    try {
      const byId = await client.query('SELECT name FROM trackers WHERE id = $1', [trackerId])
      expect(byId.rows).toEqual([{ name: 'wire' }])
      const ts = await client.query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
      expect(ts.rows[0].extversion).toMatch(/^2\./)
      await expect(client.query('SELECT * FROM no_such_table')).rejects.toThrow(/does not exist/)
      // The session survives an error.
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })

  it.runIf(hasPsql)(
    'answers psql (simple protocol), e.g. the seed troubleshooting query (skipped where no psql is installed)',
    async () => {
      // Asynchronously: the server answers from this very process.
      const { stdout: out } = await promisify(execFile)(
        'psql',
        [
          '-h',
          server.host,
          '-p',
          String(server.port),
          '-U',
          'postgres',
          '-At',
          '-c',
          "SELECT pg_notify('refresh_location_history', 'test'); SELECT count(*) FROM trackers",
        ],
        { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '5' } },
      )
      expect(out.trim().split('\n').at(-1)).toBe('1')
    },
  )

  it('the apps keep working while a wire client is connected', async () => {
    const client = new pg.Client({ host: server.host, port: server.port, user: 'postgres' })
    await client.connect()
    try {
      const [viaWire, viaApp] = await Promise.all([
        client.query('SELECT count(*)::int AS n FROM trackers'),
        database.db
          .selectFrom('trackers')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ])
      expect(viaWire.rows[0].n).toBe(viaApp.n)
    } finally {
      await client.end()
    }
  })
})

describe("a wire client's transaction", () => {
  const connect = async (port = server.port) => {
    const client = new pg.Client({ host: server.host, port, user: 'postgres' })
    client.on('error', () => {}) // a connection the server ends is part of the test
    await client.connect()
    return client
  }
  const nameOf = async () =>
    (
      await database.db
        .selectFrom('trackers')
        .select('name')
        .where('id', '=', trackerId)
        .executeTakeFirstOrThrow()
    ).name
  /** Settles to 'pending' if `promise` has not settled by the time the client's own round trip ends. */
  const pendingAfter = async (promise: Promise<unknown>, roundTrip: Promise<unknown>) => {
    let settled = false
    void promise.then(
      () => {
        settled = true
      },
      () => {
        settled = true
      },
    )
    await roundTrip
    return settled ? 'settled' : 'pending'
  }

  it('holds the apps back until it ends, and a client that leaves inside it is rolled back', async () => {
    const client = await connect()
    await client.query('BEGIN')
    await client.query('UPDATE trackers SET name = $1 WHERE id = $2', ['renamed inside', trackerId])
    const read = nameOf()
    // The client is still served (its session is its own); the apps' statement waits for it.
    expect(await pendingAfter(read, client.query('SELECT 1'))).toBe('pending')
    await client.end() // no COMMIT
    expect(await read).toBe('wire')
  })

  it("never runs an app's write inside it: the write lands after the client's ROLLBACK, and stays", async () => {
    const client = await connect()
    try {
      await client.query('BEGIN')
      const write = database.db
        .updateTable('trackers')
        .set({ name: 'renamed by an app' })
        .where('id', '=', trackerId)
        .execute()
      expect(await pendingAfter(write, client.query('SELECT 1'))).toBe('pending')
      await client.query('ROLLBACK')
      await write
      expect(await nameOf()).toBe('renamed by an app')
    } finally {
      await client.end()
      await database.db.updateTable('trackers').set({ name: 'wire' }).where('id', '=', trackerId).execute()
    }
  })

  it('an error inside it leaves the apps working once the client is gone', async () => {
    const client = await connect()
    await client.query('BEGIN')
    await expect(client.query('SELECT * FROM no_such_table')).rejects.toThrow(/does not exist/)
    await client.end()
    expect(await nameOf()).toBe('wire')
  })

  it('one idle in a transaction past the limit is rolled back and disconnected; the apps go on', async () => {
    const strict = await serveWireProtocol(database, { port: 0, idleInTransactionMs: 300 })
    const client = await connect(strict.port)
    try {
      await client.query('BEGIN')
      await client.query('UPDATE trackers SET name = $1 WHERE id = $2', ['never committed', trackerId])
      expect(await nameOf()).toBe('wire')
      await expect(client.query('COMMIT')).rejects.toThrow()
      expect(await nameOf()).toBe('wire')
    } finally {
      await client.end().catch(() => {})
      await strict.close()
    }
  })
})
