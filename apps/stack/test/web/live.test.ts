/// <reference lib="dom" />
// Live updates in the page: graphql-ws subscriptions to the API on the page's own origin, against
// the whole demo stack. Every "within" below is far shorter than the 30 s / 60 s polls the page falls
// back to, and the page skips those polls while its socket is up: what shows up in time came over it.
import { generateKeyPair } from '@tracker/findmy'
import pg from 'pg'
import type { Browser, BrowserContext, Page, Request, WebSocket, WebSocketRoute } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumFound, launchChromium, recordForeignRequests, screenshot } from './browser.ts'
import { gql, startWebStack, type WebStack } from './web-stack.ts'

/** Well inside the page's 30 s tracker poll and 60 s history poll. */
const LIVE_WITHIN_MS = 10_000

const suite = chromiumFound ? describe : describe.skip
const title = chromiumFound
  ? 'the web app updates live over graphql-ws (headless Chromium, demo stack)'
  : 'the web app updates live (skipped: Chromium not found at /usr/bin/chromium; apt-get install chromium)'

interface ListRequest {
  at: number
  answered: boolean
}

interface ApiTracker {
  id: string
  name: string
  keys: { hashedAdvKey: string }[]
}

suite(title, () => {
  let web: WebStack
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  const consoleErrors: string[] = []
  const sockets: WebSocket[] = []
  /** Text frames the page's sockets received, as they came. */
  const framesReceived: string[] = []
  const framesSent: string[] = []
  /** The page's requests for the tracker list (its poll and its refetches; live events send none). */
  const listRequests: ListRequest[] = []

  beforeAll(async () => {
    web = await startWebStack()
    browser = await launchChromium()
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    page = await context.newPage()
    foreign = recordForeignRequests(page, web.origin)
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    page.on('websocket', (socket) => {
      sockets.push(socket)
      socket.on('framereceived', ({ payload }) => framesReceived.push(String(payload)))
      socket.on('framesent', ({ payload }) => framesSent.push(String(payload)))
    })
    recordListRequests(page, listRequests)
  })
  afterAll(async () => {
    await browser?.close()
    await web?.close()
  })

  /** The page's tracker list requests: when each was sent, and whether it was answered yet. */
  function recordListRequests(target: Page, into: ListRequest[]) {
    const pending = new Map<Request, ListRequest>()
    target.on('request', (request) => {
      if (request.url().endsWith('/graphql') && request.postData()?.includes('query Trackers')) {
        const entry = { at: Date.now(), answered: false }
        pending.set(request, entry)
        into.push(entry)
      }
    })
    const answered = (request: Request) => {
      const entry = pending.get(request)
      if (entry) entry.answered = true
    }
    target.on('requestfinished', answered)
    target.on('requestfailed', answered)
  }
  const listsAnswered = (lists: ListRequest[]) => lists.filter((l) => l.answered).length

  const openSockets = () => sockets.filter((s) => s.url().endsWith('/graphql') && !s.isClosed())
  const nameOf = (target: Page, id: string) =>
    target.locator(`li.tracker[data-tracker-id="${id}"] .tracker-name`).textContent()

  async function trackers(): Promise<ApiTracker[]> {
    const data = await gql<{ trackers: { nodes: ApiTracker[] } }>(
      web,
      '{ trackers(first: 100) { nodes { id name keys { hashedAdvKey } } } }',
    )
    return data.trackers.nodes
  }

  async function rename(id: string, name: string) {
    await gql(web, 'mutation ($id: ID!, $name: String!) { renameTracker(id: $id, name: $name) { id } }', {
      id,
      name,
    })
  }

  it('signs in and goes live: one WebSocket to its own origin, said in the header', async () => {
    await page.goto(await web.stack.newSignInLink())
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    const status = page.locator('#live-status')
    await page.locator('#live-status[data-state="live"]').waitFor()
    expect(await status.textContent()).toBe('Live')
    expect(await status.getAttribute('role')).toBe('status')
    const open = openSockets()
    expect(open.map((s) => s.url())).toEqual([`${web.origin.replace(/^http/, 'ws')}/graphql`])
    // The cookie authenticates it: the page's connection_init carries no token.
    const init = framesSent.find((f) => f.includes('connection_init'))
    expect(init).toBeDefined()
    expect(init).not.toContain(web.token)
    expect(init).not.toContain('authorization')
    await page.locator('#map[data-state="drawn"]').waitFor()
    // Connected after its first load began: it fetched the list again, so nothing changed between the
    // two went unseen.
    await expect.poll(() => listsAnswered(listRequests)).toBe(2)
  })

  it('shows a rename made elsewhere within seconds, from the event itself', async () => {
    const [first] = await trackers()
    const name = `Renamed live ${Date.now()}`
    const listsBefore = listRequests.length
    const renamedAt = Date.now()
    await rename(first!.id, name)
    await expect.poll(() => nameOf(page, first!.id), { timeout: LIVE_WITHIN_MS }).toBe(name)
    expect(Date.now() - renamedAt).toBeLessThan(LIVE_WITHIN_MS)
    // The trackerUpdated event brought it, not a fetch of the list (nor the poll).
    expect(framesReceived.some((f) => f.includes('trackerUpdated') && f.includes(name))).toBe(true)
    expect(listRequests.length).toBe(listsBefore)
    expect(openSockets()).toHaveLength(1)
  })

  it("draws a report as soon as it is written (historyChanged reloads the tracker's history)", async () => {
    // A tracker of its own, with no reports yet: its history gains exactly the inserted point.
    const key = generateKeyPair()
    const name = `Live bike ${Date.now()}`
    const { importKeyFile } = await gql<{ importKeyFile: ApiTracker[] }>(
      web,
      'mutation ($content: String!, $name: String) { importKeyFile(fileName: "bike.json", content: $content, name: $name) { id name keys { hashedAdvKey } } }',
      { content: JSON.stringify([{ name, privateKey: key.privateKey.toString('base64') }]), name },
    )
    const tracker = importKeyFile[0]!
    // A tracker created elsewhere shows up too (trackerUpdated without trackerIds hears it).
    const item = page.locator(`li.tracker[data-tracker-id="${tracker.id}"]`)
    await item.waitFor({ timeout: LIVE_WITHIN_MS })

    await page.getByRole('button', { name: 'Clear' }).click()
    await item.locator('input[type=checkbox]').check()
    await page.locator('#map[data-state="drawn"][data-points="0"]').waitFor()
    await expect
      .poll(() => framesSent.some((f) => f.includes('historyChanged') && f.includes(tracker.id)))
      .toBe(true)

    const client = new pg.Client({
      host: '127.0.0.1',
      port: web.stack.pgPort!,
      user: 'postgres',
      database: 'postgres',
    })
    await client.connect()
    const writtenAt = Date.now()
    try {
      await client.query(
        `INSERT INTO location_reports
           (hashed_adv_key, timestamp, latitude, longitude, horizontal_accuracy, confidence, status, nearest_city)
         VALUES ($1, now() - interval '10 minutes', 51.5072, -0.1276, 20, 2, 0, 'London, GB')`,
        [tracker.keys[0]!.hashedAdvKey],
      )
    } finally {
      await client.end()
    }
    await page.locator('#map[data-state="drawn"][data-points="1"]').waitFor({ timeout: LIVE_WITHIN_MS })
    expect(Date.now() - writtenAt).toBeLessThan(LIVE_WITHIN_MS)
    expect(framesReceived.some((f) => f.includes('historyChanged') && f.includes(tracker.id))).toBe(true)
    expect(await page.locator('#history-summary').textContent()).toContain('1 points: 1 hourly')
    await screenshot(page, 'live-history-desktop')
  })

  it('says "offline – polling" when the socket drops, and refetches on reconnecting what it missed', async () => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const otherPage = await other.newPage()
    const lists: ListRequest[] = []
    recordListRequests(otherPage, lists)
    // The page's socket through Playwright, so the test can cut it and refuse reconnections.
    let hold = false
    let current: WebSocketRoute | undefined
    const acks: number[] = []
    await otherPage.routeWebSocket(/\/graphql$/, (socket) => {
      if (hold) {
        void socket.close({ code: 1013, reason: 'held by the test' })
        return
      }
      const server = socket.connectToServer()
      server.onMessage((message) => {
        if (String(message).includes('connection_ack')) acks.push(Date.now())
        socket.send(message)
      })
      current = socket
    })
    await otherPage.goto(await web.stack.newSignInLink())
    const status = otherPage.locator('#live-status')
    await otherPage.locator('#live-status[data-state="live"]').waitFor()
    // Its first load and the refetch on connecting, both before the cut.
    await expect.poll(() => listsAnswered(lists)).toBe(2)

    hold = true
    await current!.close({ code: 1001, reason: 'cut by the test' })
    await otherPage.locator('#live-status[data-state="offline"]').waitFor()
    expect(await status.textContent()).toBe('Offline – polling')
    await screenshot(otherPage, 'live-offline-desktop')

    // Changed while nobody listens on this page: its event is lost to it.
    const [first] = await trackers()
    const name = `Renamed while offline ${Date.now()}`
    await rename(first!.id, name)
    expect(await nameOf(otherPage, first!.id)).not.toBe(name)

    const acksBefore = acks.length
    hold = false
    await otherPage.locator('#live-status[data-state="live"]').waitFor({ timeout: 60_000 })
    await expect.poll(() => nameOf(otherPage, first!.id), { timeout: LIVE_WITHIN_MS }).toBe(name)
    // Fetched because it reconnected: a list request right after the new connection's ack.
    expect(acks.length, 'one new connection').toBe(acksBefore + 1)
    const ackAt = acks[acksBefore]!
    const afterAck = lists.filter(({ at }) => at >= ackAt && at - ackAt < 3_000)
    expect(afterAck.length, JSON.stringify({ acks, lists })).toBeGreaterThan(0)
    await other.close()
  })

  it('goes back to sign-in when the session is signed out elsewhere (the socket closes with 4401)', async () => {
    expect(openSockets()).toHaveLength(1)
    const socket = openSockets()[0]!
    // The same session in another browser context, signing out there.
    const elsewhere = await browser.newContext()
    await elsewhere.addCookies(await context.cookies())
    const elsewherePage = await elsewhere.newPage()
    await elsewherePage.goto(web.origin)
    const signedOutAt = Date.now()
    await elsewherePage.getByRole('button', { name: 'Sign out' }).click()
    await elsewherePage.getByLabel('API token').waitFor()
    await elsewhere.close()

    await page.getByLabel('API token').waitFor({ timeout: LIVE_WITHIN_MS })
    expect(Date.now() - signedOutAt).toBeLessThan(LIVE_WITHIN_MS)
    expect(await page.locator('#sign-in-error').textContent()).toBe('Your session has ended: sign in again.')
    expect(socket.isClosed()).toBe(true)
    await screenshot(page, 'live-signed-out-desktop')
  })

  it('makes no request that leaves the machine, and breaks no Content-Security-Policy rule', () => {
    expect(foreign).toEqual([])
    expect(consoleErrors.filter((text) => /Content.Security.Policy/i.test(text))).toEqual([])
  })
})
