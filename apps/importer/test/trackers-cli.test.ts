import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connectEmbedded, KeyOpener, migrateToLatest } from '@tracker/db'
import { simulatedTrackers, toAccessoriesJson } from '@tracker/findmy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseImporterEnv } from '../src/env.ts'

// The trackers CLI as a user runs it: a real process on an embedded data directory.
const MAIN = join(import.meta.dirname, '../src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'tracker-cli-'))
const dataDir = join(dir, 'data')
const pair = KeyOpener.generate()
const secret = pair.privateKey
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ['--conditions=tracker-source', MAIN, ...args], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, KEY_SEALING_PRIVATE_KEY: secret, ...env },
    encoding: 'utf8',
  })

beforeAll(async () => {
  const database = await connectEmbedded({ dataDir })
  await migrateToLatest(database.db)
  await database.close()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('importer trackers CLI', () => {
  const trackers = simulatedTrackers({ seed: 3, trackers: 2, keysPerTracker: 3 })

  it('imports an accessories JSON (additionalKeys = one tracker, several keys) and lists it without private keys', async () => {
    const file = join(dir, 'accessories.json')
    writeFileSync(file, toAccessoriesJson(trackers))
    const imported = await run(['trackers', 'import', file])
    expect(imported.stdout.match(/added tracker/g)).toHaveLength(2)

    const listed = await run(['trackers', 'list', '--json'])
    const list = JSON.parse(listed.stdout) as { name: string; keys: string[]; active: boolean }[]
    expect(list.map((t) => [t.name, t.keys.length, t.active])).toEqual([
      ['Simulated tracker 1', 3, true],
      ['Simulated tracker 2', 3, true],
    ])
    expect(new Set(list[0]!.keys)).toEqual(new Set(trackers[0]!.keys.map((k) => k.hashedAdvKey)))
    for (const key of trackers.flatMap((t) => t.keys)) {
      expect(listed.stdout).not.toContain(key.privateKey.toString('base64'))
    }
  })

  it('adds a tracker from --key, refuses a key that is already stored, and deactivates', async () => {
    const fresh = simulatedTrackers({ seed: 4, trackers: 1 })[0]!.keys[0]!
    const added = await run([
      'trackers',
      'add',
      '--name',
      'Bike',
      '--key',
      fresh.privateKey.toString('base64'),
    ])
    const id = /added tracker (\S+)/.exec(added.stdout)![1]!
    await expect(
      run(['trackers', 'add', '--name', 'Again', '--key', fresh.privateKey.toString('base64')]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('already has the key'),
    })
    const deactivated = await run(['trackers', 'deactivate', id])
    expect(deactivated.stdout).toContain('its history is kept')
    const list = JSON.parse((await run(['trackers', 'list', '--json'])).stdout) as {
      id: string
      active: boolean
    }[]
    expect(list.find((t) => t.id === id)?.active).toBe(false)
  })

  it('a malformed key file is refused with the entry and the reason, and nothing is imported', async () => {
    const file = join(dir, 'broken.json')
    const entries = JSON.parse(toAccessoriesJson(simulatedTrackers({ seed: 5, trackers: 2 }))) as {
      privateKey: string
    }[]
    entries[1]!.privateKey = 'not base64!'
    writeFileSync(file, JSON.stringify(entries))
    const before = JSON.parse((await run(['trackers', 'list', '--json'])).stdout).length
    await expect(run(['trackers', 'import', file])).rejects.toMatchObject({
      stderr: expect.stringMatching(/entry 2/),
    })
    expect(JSON.parse((await run(['trackers', 'list', '--json'])).stdout).length).toBe(before)
  })

  it('without a sealing key adding a key is a clear error that says where the local stack keeps its key', async () => {
    const key = simulatedTrackers({ seed: 6, trackers: 1 })[0]!.keys[0]!.privateKey.toString('base64')
    const refused = await run(['trackers', 'add', '--name', 'x', '--key', key], {
      KEY_SEALING_PRIVATE_KEY: '',
    }).catch((error: { stderr: string }) => error)
    expect(refused.stderr).toContain('KEY_SEALING_PUBLIC_KEY is not set')
    expect(refused.stderr).toContain('keySealingPublicKey in .tracker-data/local-stack.json')
  })

  it('with the public key alone (no private key in the environment) keys are added, sealed so that only the private key opens them', async () => {
    // The database has its public key recorded by the earlier commands, which had the private key.
    const fresh = simulatedTrackers({ seed: 10, trackers: 1 })[0]!.keys[0]!
    const added = await run(
      ['trackers', 'add', '--name', 'Public only', '--key', fresh.privateKey.toString('base64')],
      {
        KEY_SEALING_PRIVATE_KEY: '',
        KEY_SEALING_PUBLIC_KEY: pair.publicKey,
      },
    )
    expect(added.stdout).toContain('added tracker')
  })

  it('with another key pair, add and import are refused before anything is written', async () => {
    const stored = async () => {
      const list = JSON.parse((await run(['trackers', 'list', '--json'])).stdout) as { keys: string[] }[]
      return { trackers: list.length, keys: list.flatMap((t) => t.keys).sort() }
    }
    // A key sealed to this database's public key (which records it, if no earlier test did).
    const mine = simulatedTrackers({ seed: 9, trackers: 1 })[0]!.keys[0]!.privateKey.toString('base64')
    await run(['trackers', 'add', '--name', 'Mine', '--key', mine])
    const before = await stored()
    const other = KeyOpener.generate()
    const fresh = simulatedTrackers({ seed: 8, trackers: 1 })[0]!
    const added = await run(
      ['trackers', 'add', '--name', 'Other key', '--key', fresh.keys[0]!.privateKey.toString('base64')],
      { KEY_SEALING_PRIVATE_KEY: other.privateKey },
    ).catch((error: { stderr: string; stdout: string }) => error)
    expect(added.stdout).not.toContain('added tracker')
    expect(added.stderr).toMatch(
      /KEY_SEALING_PRIVATE_KEY \(public key \w+\) is not the private key this database's tracker keys are sealed to \(public key \w+\)\. Set KEY_SEALING_PRIVATE_KEY to that key pair's private key; nothing was opened or written\./,
    )
    const file = join(dir, 'other.json')
    writeFileSync(file, toAccessoriesJson([fresh]))
    await expect(
      run(['trackers', 'import', file], {
        KEY_SEALING_PRIVATE_KEY: '',
        KEY_SEALING_PUBLIC_KEY: other.publicKey,
      }),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /KEY_SEALING_PUBLIC_KEY \(public key \w+\) is not the public key this database/,
      ),
    })
    expect(await stored()).toEqual(before)
  })

  it('--help prints the usage and exits 0', async () => {
    const { stdout } = await run(['--help'])
    expect(stdout).toContain('--once')
    expect(stdout).toContain('trackers import FILE')
  })
})

describe('importer trackers poll', () => {
  it("fixes a tracker's interval (never below IMPORT_MIN_POLL_INTERVAL) and hands it back to the rule", async () => {
    const listed = JSON.parse((await run(['trackers', 'list', '--json'])).stdout) as { id: string }[]
    const id = listed[0]!.id
    const fixed = await run(['trackers', 'poll', id, '30 minutes'])
    expect(fixed.stdout).toMatch(new RegExp(`tracker ${id} is polled every 30 minutes; next poll by \\S+`))
    const auto = await run(['trackers', 'poll', id, 'auto'])
    expect(auto.stdout).toContain('adaptive cadence again')
    const tooOften = await run(['trackers', 'poll', id, '5 minutes']).catch(
      (error: { stderr: string; code: number }) => error,
    )
    expect(tooOften).toMatchObject({ code: 1 })
    expect((tooOften as { stderr: string }).stderr).toMatch(
      /shorter than IMPORT_MIN_POLL_INTERVAL \(15 minutes\)/,
    )
    const noDuration = await run(['trackers', 'poll', id]).catch((error: { stderr: string }) => error)
    expect((noDuration as { stderr: string }).stderr).toMatch(/needs a DURATION/)
    const database = await connectEmbedded({ dataDir })
    try {
      const row = await database.db
        .selectFrom('tracker_polling')
        .selectAll()
        .where('tracker_id', '=', id)
        .executeTakeFirstOrThrow()
      expect(row.override_seconds).toBeNull()
      expect(row.next_poll_at.getTime()).toBeLessThanOrEqual(Date.now() + 30 * 60_000)
    } finally {
      await database.close()
    }
  })
})

describe('importer configuration', () => {
  it('names every bad variable', () => {
    expect(() =>
      parseImporterEnv({
        IMPORT_SCHEDULE: 'every day',
        REPORT_ENDPOINT_BATCH_SIZE: '0',
        REPORT_ENDPOINT_URL: 'ftp:/x',
        GEOCODER: 'google',
      }),
    ).toThrow(
      /IMPORT_SCHEDULE[\s\S]*REPORT_ENDPOINT_BATCH_SIZE|REPORT_ENDPOINT_BATCH_SIZE[\s\S]*IMPORT_SCHEDULE/,
    )
    expect(() => parseImporterEnv({ GEOCODER: 'google' })).toThrow(/GEOCODER must be "offline" or "off"/)
    expect(() => parseImporterEnv({ REPORT_ENDPOINT_TIMEOUT: 'soon' })).toThrow(
      /REPORT_ENDPOINT_TIMEOUT: "soon" is not a duration/,
    )
  })

  it('refuses a lookback that the retention configuration cannot store safely', () => {
    expect(() => parseImporterEnv({ RAW_RETENTION: '5 days', DAILY_REFRESH_WINDOW: '3 days' })).toThrow(
      /IMPORT_LOOKBACK_DAYS=7 reaches beyond the safe late horizon of 3 days/,
    )
    expect(parseImporterEnv({}).lookbackDays).toBe(7)
  })
})
